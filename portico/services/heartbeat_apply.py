"""What a batch of heartbeats changes in the database: operating statuses and statistics.

Runs inside the health service's batch transaction (``heartbeats.record``). Each load
balancer's objects come from the cache when ``heartbeat_cache.verify`` shows them current,
else from a few queries per batch (never per heartbeat) that rebuild its entry; statuses are
rolled up with ``portico.domain.operating_status`` and only those that differ from the
stored ones are written. Provisioning status is never touched, and objects on their way out
(PENDING_DELETE) are left alone: the reconciler owns them.

A heartbeat older than what the controller last applied (its generation is below the load
balancer's ``applied_generation``) was sent before the last push: the push already wrote
statuses from a newer view, so that heartbeat changes no status (its counters still count).
A heartbeat of a generation not yet recorded as applied (a push under way) is used, with the
load balancer treated as unsettled, so listeners not yet running read OFFLINE, not ERROR.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update

from portico.db import bulk
from portico.db.models import (
    Amphora,
    HealthMonitor,
    Listener,
    LoadBalancer,
    Member,
    Pool,
)
from portico.domain.constants import AmphoraStatus
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.operating_status import (
    ListenerNode,
    MemberNode,
    PoolNode,
    Topology,
)
from portico.services import heartbeat_stats
from portico.services.heartbeat_cache import (
    AmphoraEntry,
    Cache,
    LbEntry,
    Model,
    Report,
    Version,
)

__all__ = ["Report", "apply"]

_GONE = (PS.PENDING_DELETE, PS.DELETED)
_MODELS: tuple[Model, ...] = (LoadBalancer, Listener, Pool, Member, HealthMonitor)
# By table name: what a batch collects holds names, not the classes, which the garbage
# collector tracks (tens of thousands of tuples a churning batch, promoted to the oldest
# generation, brought on full collections).
_WRITE = {
    model.__tablename__: bulk.Bulk(
        update(model)
        .where(model.id == bindparam("b_id"), *(model.provisioning_status != s for s in _GONE))
        .values(operating_status=bindparam("status"), updated_at=bindparam("now")),
        ("b_id", "status"),
        shared=("now",),
    )
    for model in _MODELS
}
# Rows of column selects, read by attribute name (id, admin_state_up, operating_status, ...).
_Row = Row[*tuple[Any, ...]]


def apply(
    connection: Connection,
    reports: Iterable[Report],
    *,
    cache: Cache,
    verified: set[str],
    now: dt.datetime,
    counters: bool = True,
) -> None:
    """Write what ``reports`` change; ``verified`` are the amphorae ``verify`` vouched for.

    ``counters``: whether the listener counters the cache holds are written in this batch.
    """
    reports = list(reports)
    entries = _entries(connection, reports, cache=cache, verified=verified)
    # Object id -> (table, status): with two amphorae (ACTIVE_STANDBY) the later word wins.
    changes: dict[str, tuple[str, str]] = {}
    for report in reports:
        entry = entries.get(report.amphora_id)
        if entry is not None and report.heartbeat.generation >= entry.version.applied_generation:
            entry.observe(report.heartbeat, changes)
    heartbeat_stats.record(
        connection,
        reports,
        cache=cache,
        listeners={amphora_id: entry.listeners for amphora_id, entry in entries.items()},
        write=counters,
    )
    by_table: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for object_id, (table, status) in changes.items():
        by_table[table].append((object_id, status))
    for table, rows in by_table.items():
        _WRITE[table].execute(connection, rows, (now,))


def _entries(
    connection: Connection, reports: list[Report], *, cache: Cache, verified: set[str]
) -> dict[str, LbEntry]:
    """Amphora id -> its load balancer's entry, for the reports' amphorae in service.

    Entries not vouched for (new amphorae, changed load balancers, a load balancer with an
    amphora not verified in this batch) are read again.
    """
    stale: set[str] = set()
    for amphora_id in verified:
        lb_id = cache.amphorae[amphora_id].lb_id
        lb = cache.lbs.get(lb_id)  # gone if another amphora of it failed the check
        if lb is None or not all(a in verified for a in lb.amphorae):
            stale.add(lb_id)
    fresh = [r.amphora_id for r in reports if r.amphora_id not in verified]
    served = _served(connection, fresh) if fresh else {}
    for amphora_id in fresh:
        if amphora_id not in served:
            cache.forget([amphora_id])  # spares, strangers, amphorae being deleted
    reload = stale | set(served.values())
    if reload:
        for lb_id in reload:
            cache.lbs.pop(lb_id, None)
        cache.lbs.update(_load(connection, reload))
    sequences = {r.amphora_id: r.sequence for r in reports}
    for amphora_id, lb_id in served.items():
        cache.amphorae[amphora_id] = AmphoraEntry(lb_id, sequences[amphora_id])
    result = {}
    for amphora_id in verified | served.keys():
        amphora = cache.amphorae[amphora_id]
        amphora.used = cache.batches
        found = cache.lbs.get(amphora.lb_id)
        if found is not None:
            found.used = cache.batches
            result[amphora_id] = found
    return result


def _served(connection: Connection, amphora_ids: list[str]) -> dict[str, str]:
    """Amphora id -> the load balancer it serves, for amphorae that are in service."""
    rows = connection.execute(
        select(Amphora.id, Amphora.load_balancer_id).where(
            Amphora.id.in_(amphora_ids),
            Amphora.load_balancer_id.is_not(None),
            Amphora.status.not_in((AmphoraStatus.PENDING_DELETE, AmphoraStatus.DELETED)),
        )
    ).all()
    return {row.id: row.load_balancer_id for row in rows}


def _columns(model: Model) -> tuple[Any, ...]:
    return (model.id, model.admin_state_up, model.operating_status)


class _Read:
    """A load balancer's live rows, as read for a new entry."""

    def __init__(self, lb: _Row) -> None:
        self.lb = lb
        self.listeners: list[_Row] = []
        self.pools: list[_Row] = []
        self.members: dict[str, list[_Row]] = defaultdict(list)
        self.monitors: dict[str, _Row] = {}
        self.amphorae: set[str] = set()


def _load(connection: Connection, lb_ids: set[str]) -> dict[str, LbEntry]:
    # The load balancer first: a change committed while its children are read shows as a
    # newer version at the next batch's check, never as an old version on new rows.
    found = {
        lb.id: _Read(lb)
        for lb in connection.execute(
            select(
                *_columns(LoadBalancer),
                LoadBalancer.provisioning_status,
                LoadBalancer.generation,
                LoadBalancer.applied_generation,
            ).where(LoadBalancer.id.in_(lb_ids), LoadBalancer.provisioning_status.not_in(_GONE))
        )
    }
    if not found:
        return {}
    for row in connection.execute(
        select(*_columns(Listener), Listener.load_balancer_id).where(
            Listener.load_balancer_id.in_(found), Listener.provisioning_status.not_in(_GONE)
        )
    ):
        found[row.load_balancer_id].listeners.append(row)
    pool_lb: dict[str, str] = {}
    for row in connection.execute(
        select(*_columns(Pool), Pool.load_balancer_id).where(
            Pool.load_balancer_id.in_(found), Pool.provisioning_status.not_in(_GONE)
        )
    ):
        found[row.load_balancer_id].pools.append(row)
        pool_lb[row.id] = row.load_balancer_id
    for row in connection.execute(
        select(*_columns(Member), Member.pool_id).where(
            Member.pool_id.in_(pool_lb), Member.provisioning_status.not_in(_GONE)
        )
    ):
        found[pool_lb[row.pool_id]].members[row.pool_id].append(row)
    for row in connection.execute(
        select(*_columns(HealthMonitor), HealthMonitor.pool_id).where(
            HealthMonitor.pool_id.in_(pool_lb), HealthMonitor.provisioning_status.not_in(_GONE)
        )
    ):
        found[pool_lb[row.pool_id]].monitors[row.pool_id] = row
    for amphora in connection.execute(
        select(Amphora.id, Amphora.load_balancer_id).where(
            Amphora.load_balancer_id.in_(found),
            Amphora.status.not_in((AmphoraStatus.PENDING_DELETE, AmphoraStatus.DELETED)),
        )
    ):
        found[amphora.load_balancer_id].amphorae.add(amphora.id)
    return {lb_id: _entry(read) for lb_id, read in found.items()}


def _entry(read: _Read) -> LbEntry:
    stored: dict[str, str] = {}
    tables: dict[str, str] = {}
    rows: list[tuple[Model, _Row]] = [(LoadBalancer, read.lb)]
    rows += [(Listener, row) for row in read.listeners]
    rows += [(Pool, row) for row in read.pools]
    rows += [(Member, row) for members in read.members.values() for row in members]
    rows += [(HealthMonitor, row) for row in read.monitors.values()]
    for model, row in rows:
        stored[row.id] = row.operating_status
        tables[row.id] = model.__tablename__
    lb = read.lb
    return LbEntry(
        version=Version(lb.generation, lb.applied_generation, lb.provisioning_status),
        topology=_topology(read),
        stored=stored,
        tables=tables,
        listeners=tuple(row.id for row in read.listeners),
        amphorae=tuple(read.amphorae),
    )


def _topology(read: _Read) -> Topology:
    def pool(row: _Row) -> PoolNode:
        monitor = read.monitors.get(row.id)
        return PoolNode(
            row.id,
            row.admin_state_up,
            tuple(MemberNode(m.id, m.admin_state_up) for m in read.members[row.id]),
            monitor.id if monitor is not None else None,
            monitor is not None and monitor.admin_state_up,
        )

    return Topology(
        lb_id=read.lb.id,
        enabled=read.lb.admin_state_up,
        settled=read.lb.provisioning_status == PS.ACTIVE,
        listeners=tuple(ListenerNode(row.id, row.admin_state_up) for row in read.listeners),
        pools=tuple(pool(row) for row in read.pools),
    )
