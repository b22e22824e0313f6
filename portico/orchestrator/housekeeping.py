"""The controller's housekeeping pass: purge history, reap orphans (Octavia's house_keeping).

Certificate rotation and the spares pool keep their own tasks and intervals in the
controller (``bootstrap.start_housekeeping``); this pass runs every
``housekeeping_interval``. ``portico housekeeping`` runs everything once, rotation and the
spares pool included, and prints what it did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from portico.db.base import utcnow
from portico.db.engine import Database
from portico.domain.failover import Threshold
from portico.orchestrator.fleet import Fleet
from portico.orchestrator.orphans import ReapReport, reap_orphans
from portico.services.purge import PurgeCounts, PurgeCutoffs, purge
from portico.settings import Settings

LOG = logging.getLogger(__name__)


@dataclass
class HousekeepingReport:
    """What a pass did; ``lines`` is how the CLI prints it."""

    purged: PurgeCounts = field(default_factory=PurgeCounts)
    orphans: ReapReport | None = None  # None: no amphora provider, or reap_orphans off
    rotated: list[str] = field(default_factory=list)
    spares_booted: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        purged = self.purged
        out = [
            f"purged: {purged.amphorae} amphorae, {purged.events} events, "
            f"{purged.deliveries} webhook deliveries"
        ]
        if self.orphans is None:
            out.append("orphans: not checked (no amphora provider, or reap_orphans is off)")
        else:
            for label, ids in (
                ("reaped instance without an amphora row", self.orphans.reaped),
                ("failed over, instance gone", self.orphans.failed_over),
                ("removed spare, instance gone", self.orphans.spares_removed),
                ("left alone, too many gone at once", self.orphans.held),
            ):
                out.extend(f"{label}: {item}" for item in ids)
        out.extend(f"rotated certificate: {item}" for item in self.rotated)
        out.extend(f"booted spare: {item}" for item in self.spares_booted)
        return out


def orphan_grace(settings: Settings) -> float:
    """How long an instance or row must stay unchanged before it may be reaped: twice the
    boot timeout, the age after which the spares pool also calls a boot abandoned."""
    return 2 * settings.amphora_boot_timeout


async def housekeeping_pass(
    settings: Settings,
    db: Database,
    fleet: Fleet | None,
    *,
    on_failover: Callable[[str], None] | None = None,
) -> HousekeepingReport:
    """Purge what expired, then reap orphans when there is a fleet and ``reap_orphans``."""
    cutoffs = PurgeCutoffs.at(
        utcnow(), amphora_age=settings.amphora_expiry_age, event_age=settings.event_expiry_age
    )
    report = HousekeepingReport(purged=await asyncio.to_thread(purge, db, cutoffs))
    if fleet is not None and settings.reap_orphans:
        report.orphans = await reap_orphans(
            fleet,
            grace=orphan_grace(settings),
            threshold=Threshold.parse(settings.failover_threshold),
            on_failover=on_failover,
        )
    return report


async def run_housekeeping(
    settings: Settings,
    db: Database,
    fleet: Fleet | None,
    *,
    on_failover: Callable[[str], None] | None = None,
) -> None:
    """A pass every ``housekeeping_interval`` seconds until cancelled; what it did is logged
    (each reaped thing is also an event)."""
    while True:
        try:
            report = await housekeeping_pass(settings, db, fleet, on_failover=on_failover)
            if report.purged != PurgeCounts():
                LOG.info("housekeeping %s", report.lines()[0])
        except Exception:
            LOG.exception("housekeeping pass failed; retrying next interval")
        await asyncio.sleep(settings.housekeeping_interval)
