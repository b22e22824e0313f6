"""Reaping orphans: instances no amphora row knows, and amphora rows whose instance is gone.

Both come from crashes and from hands outside portico: a row deleted from the database, a
controller killed between two steps that were not its last, an amphora killed on its host.

- An instance the compute driver lists (from its own records: see
  ``drivers/compute/inventory``) that no row names is removed, at once (nothing of it serves
  a load balancer portico knows). Rows are written *before* their instance is created, and
  the instances are listed *before* the rows are read, so an instance being booted right now
  always finds its row in that read; on top of that, instances younger than ``grace`` are
  left alone, and the row is looked up once more just before the removal.
- An ALLOCATED amphora whose instance the driver says is gone is failed over exactly as a
  silent one is (marked ERROR by a conditional UPDATE the health service may race for, its
  load balancer's generation bumped); a READY spare whose instance is gone is removed (the
  spares pool boots its replacement). BOOTING rows are never touched: their controller is
  booting them, or the reconciler or the spares pool finishes or removes them. Rows changed
  within ``grace`` are left for the next pass, and when at least ``failover_threshold``
  amphorae look gone together none is failed over (a driver that lost sight of its
  instances must not turn into a failover storm).

With several compute drivers (an AZ profile may name one), each driver the rows name is
asked for its instances and about its own rows; an instance two drivers both list (they
share a data directory) is left alone, since only its own driver removes all of it.

Each reaped thing is an event (``orphan_reaped``, ``amphora_instance_gone``), so it is
logged and counted in ``portico_events_total{kind=...}``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from portico.db.base import utcnow
from portico.domain.constants import AmphoraStatus
from portico.domain.failover import Threshold
from portico.drivers.compute.base import ComputeDriver, InstanceStatus
from portico.orchestrator.fleet import Fleet
from portico.services import amphora_records as records
from portico.services import failover
from portico.services import orphans as rows_of
from portico.services.orphans import KnownAmphora

LOG = logging.getLogger(__name__)
_WATCHED = (AmphoraStatus.ALLOCATED, AmphoraStatus.READY)


@dataclass
class ReapReport:
    """What one pass did, by id."""

    reaped: list[str] = field(default_factory=list)  # instances without a row, removed
    failed_over: list[str] = field(default_factory=list)  # ALLOCATED, instance gone
    spares_removed: list[str] = field(default_factory=list)  # READY spares, instance gone
    held: list[str] = field(default_factory=list)  # gone, but too many at once: left alone


async def reap_orphans(
    fleet: Fleet,
    *,
    grace: float,
    threshold: Threshold | None,
    on_failover: Callable[[str], None] | None = None,
) -> ReapReport:
    """One pass; ``grace`` in seconds. ``on_failover`` is told each load balancer to redo."""
    report = ReapReport()
    drivers = fleet.drivers(row.compute_driver for row in await fleet.read(rows_of.known))
    # Listed before the rows are read: see the module's docstring.
    listed = [(driver, list(await driver.instances())) for driver in drivers]
    known = await fleet.read(rows_of.known)
    names = {row.id for row in known} | {row.compute_id for row in known if row.compute_id}
    listers = Counter(compute_id for _, ids in listed for compute_id in set(ids))
    for driver, ids in listed:
        for compute_id in ids:
            if compute_id in names or listers[compute_id] > 1:
                continue
            if await _reap_instance(fleet, driver, compute_id, grace=grace):
                report.reaped.append(compute_id)
    default = fleet.compute.name
    gone = [
        row
        for driver in drivers
        for row in await _gone(driver, known, grace=grace, default=default)
    ]
    live = sum(1 for row in known if row.status in _WATCHED)
    if gone and threshold is not None and threshold.reached(len(gone), live):
        report.held = [row.id for row in gone]
        LOG.error(
            "%d of %d amphorae have no instance (failover_threshold reached): none is failed "
            "over; check the compute driver (%s)",
            len(gone),
            live,
            ", ".join(report.held),
        )
        return report
    for row in gone:
        detail = f"its {row.compute_driver or default} instance {row.compute_id} is gone"
        if row.load_balancer_id is None:
            if await _remove_spare(fleet, row.id, detail):
                report.spares_removed.append(row.id)
        elif await fleet.write(failover.fail_gone, row.id, f"{detail}: failing over"):
            report.failed_over.append(row.id)
            if on_failover is not None:
                on_failover(row.load_balancer_id)
    return report


async def _reap_instance(
    fleet: Fleet, compute: ComputeDriver, compute_id: str, *, grace: float
) -> bool:
    age = await compute.age(compute_id)
    if age is None or age < grace:
        return False  # perhaps being booted this very moment: the next pass decides
    if await fleet.read(rows_of.accounted_for, compute_id):
        return False
    await compute.delete(compute_id, graceful=False)
    detail = f"no amphora row names it ({compute.name} driver, unchanged for {age:.0f}s): removed"
    await fleet.write(rows_of.record_reaped, compute_id, detail)
    return True


async def _gone(
    compute: ComputeDriver, known: list[KnownAmphora], *, grace: float, default: str
) -> list[KnownAmphora]:
    """Watched rows of this driver (``default``: of rows naming none), unchanged for
    ``grace``, whose instance is gone."""
    settled_before = utcnow() - dt.timedelta(seconds=grace)
    gone = []
    for row in known:
        if row.status not in _WATCHED or row.compute_id is None:
            continue
        if (row.compute_driver or default) != compute.name:
            continue  # another driver's amphora: this one cannot see it
        if row.updated_at is not None and row.updated_at > settled_before:
            continue
        if await compute.status(row.compute_id) == InstanceStatus.GONE:
            gone.append(row)
    return gone


async def _remove_spare(fleet: Fleet, amphora_id: str, detail: str) -> bool:
    record = await fleet.read(records.get, amphora_id)
    if record is None or record.status != AmphoraStatus.READY or record.load_balancer_id:
        return False  # claimed or removed meanwhile
    await fleet.remove(record, graceful=False)
    await fleet.write(rows_of.record_spare_gone, amphora_id, f"{detail}: spare removed")
    return True
