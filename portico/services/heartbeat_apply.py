"""What a batch of heartbeats changes in the database: operating statuses and statistics.

Runs inside the health service's batch transaction (``heartbeats.record``). Reads in a few
queries per batch (never per heartbeat) the objects of the load balancers the amphorae
serve, rolls statuses up with ``portico.domain.operating_status`` and writes only those
that changed, one UPDATE per table and status. Provisioning status is never touched, and
objects on their way out (PENDING_DELETE) are left alone: the reconciler owns them.

A heartbeat older than what the controller last applied (its generation is below the load
balancer's ``applied_generation``) was sent before the last push: the push already wrote
statuses from a newer view, so that heartbeat changes no status (its counters still count).
A heartbeat of a generation not yet recorded as applied (a push under way) is used, with the
load balancer treated as unsettled, so listeners not yet running read OFFLINE, not ERROR.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.orm import Session

from portico.db.models import (
    Amphora,
    HealthMonitor,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    Member,
    Pool,
)
from portico.domain import counters
from portico.domain.constants import AmphoraStatus
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.operating_status import (
    ListenerNode,
    MemberNode,
    PoolNode,
    Topology,
    from_heartbeat,
)
from portico.wire.heartbeat import Heartbeat

_GONE = (PS.PENDING_DELETE, PS.DELETED)
# Rows of column selects, read by attribute name (id, admin_state_up, operating_status, ...).
_Row = Row[*tuple[Any, ...]]
_Model = type[LoadBalancer] | type[Listener] | type[Pool] | type[Member] | type[HealthMonitor]


@dataclass(frozen=True)
class Report:
    """One amphora's latest heartbeat and the sequence it came with."""

    amphora_id: str
    sequence: int
    heartbeat: Heartbeat


@dataclass
class _State:
    """A load balancer's live objects: topology inputs and current operating statuses."""

    lb: _Row
    listeners: list[_Row]
    pools: list[_Row]
    members: dict[str, list[_Row]]
    monitors: dict[str, _Row]


def apply(session: Session, reports: Iterable[Report]) -> None:
    reports = list(reports)
    served = _served(session, [r.amphora_id for r in reports])
    if not served:
        return  # spares, strangers, amphorae being deleted: nothing of theirs to update
    states = _load(session, set(served.values()))
    changes: dict[tuple[_Model, str], list[str]] = defaultdict(list)
    listeners: dict[str, set[str]] = {}
    for report in reports:
        state = states.get(served.get(report.amphora_id, ""))
        if state is None:
            continue
        if report.heartbeat.generation >= state.lb.applied_generation:
            _collect(state, from_heartbeat(_topology(state), report.heartbeat), changes)
        listeners[report.amphora_id] = {row.id for row in state.listeners}
    _statistics(session, reports, listeners)
    for (model, status), ids in changes.items():
        session.connection().execute(
            update(model)
            .where(model.id.in_(ids), model.provisioning_status.not_in(_GONE))
            .values(operating_status=status)
        )


def _served(session: Session, amphora_ids: list[str]) -> dict[str, str]:
    """Amphora id -> the load balancer it serves, for amphorae that are in service."""
    rows = (
        session.connection()
        .execute(
            select(Amphora.id, Amphora.load_balancer_id).where(
                Amphora.id.in_(amphora_ids),
                Amphora.load_balancer_id.is_not(None),
                Amphora.status.not_in((AmphoraStatus.PENDING_DELETE, AmphoraStatus.DELETED)),
            )
        )
        .all()
    )
    return {row.id: row.load_balancer_id for row in rows}


def _columns(model: _Model) -> tuple[Any, ...]:
    return (model.id, model.admin_state_up, model.operating_status)


def _load(session: Session, lb_ids: set[str]) -> dict[str, _State]:
    lbs = (
        session.connection()
        .execute(
            select(
                *_columns(LoadBalancer),
                LoadBalancer.provisioning_status,
                LoadBalancer.applied_generation,
            ).where(LoadBalancer.id.in_(lb_ids), LoadBalancer.provisioning_status.not_in(_GONE))
        )
        .all()
    )
    states = {lb.id: _State(lb, [], [], defaultdict(list), {}) for lb in lbs}
    for row in session.connection().execute(
        select(*_columns(Listener), Listener.load_balancer_id).where(
            Listener.load_balancer_id.in_(states), Listener.provisioning_status.not_in(_GONE)
        )
    ):
        states[row.load_balancer_id].listeners.append(row)
    pool_lb: dict[str, str] = {}
    for row in session.connection().execute(
        select(*_columns(Pool), Pool.load_balancer_id).where(
            Pool.load_balancer_id.in_(states), Pool.provisioning_status.not_in(_GONE)
        )
    ):
        states[row.load_balancer_id].pools.append(row)
        pool_lb[row.id] = row.load_balancer_id
    for row in session.connection().execute(
        select(*_columns(Member), Member.pool_id).where(
            Member.pool_id.in_(pool_lb), Member.provisioning_status.not_in(_GONE)
        )
    ):
        states[pool_lb[row.pool_id]].members[row.pool_id].append(row)
    for row in session.connection().execute(
        select(*_columns(HealthMonitor), HealthMonitor.pool_id).where(
            HealthMonitor.pool_id.in_(pool_lb), HealthMonitor.provisioning_status.not_in(_GONE)
        )
    ):
        states[pool_lb[row.pool_id]].monitors[row.pool_id] = row
    return states


def _topology(state: _State) -> Topology:
    def pool(row: _Row) -> PoolNode:
        monitor = state.monitors.get(row.id)
        return PoolNode(
            row.id,
            row.admin_state_up,
            tuple(MemberNode(m.id, m.admin_state_up) for m in state.members[row.id]),
            monitor.id if monitor is not None else None,
            monitor is not None and monitor.admin_state_up,
        )

    return Topology(
        lb_id=state.lb.id,
        enabled=state.lb.admin_state_up,
        settled=state.lb.provisioning_status == PS.ACTIVE,
        listeners=tuple(ListenerNode(row.id, row.admin_state_up) for row in state.listeners),
        pools=tuple(pool(row) for row in state.pools),
    )


def _collect(
    state: _State, statuses: Mapping[str, str], changes: dict[tuple[_Model, str], list[str]]
) -> None:
    """Add to ``changes`` the objects whose status differs from the one stored."""
    current: list[tuple[_Model, _Row]] = [(LoadBalancer, state.lb)]
    current += [(Listener, row) for row in state.listeners]
    current += [(Pool, row) for row in state.pools]
    current += [(Member, row) for rows in state.members.values() for row in rows]
    current += [(HealthMonitor, row) for row in state.monitors.values()]
    for model, row in current:
        status = statuses.get(row.id)
        if status is not None and status != row.operating_status:
            changes[(model, status)].append(row.id)


_STAT_COLUMNS = (
    "bytes_in",
    "bytes_out",
    "active_connections",
    "total_connections",
    "request_errors",
    "raw_bytes_in",
    "raw_bytes_out",
    "raw_total_connections",
    "raw_request_errors",
    "heartbeat_sequence",
)


def _statistics(session: Session, reports: list[Report], listeners: Mapping[str, set[str]]) -> None:
    """Keep the counters cumulative, in one read and at most two writes for the batch.

    ``listeners`` maps each amphora to the listeners of its load balancer: a frontend the
    database no longer has (a deleted listener) is not counted.
    """
    table = ListenerStatistics
    stored = {
        (row.amphora_id, row.listener_id): row
        for row in session.connection().execute(
            select(
                table.amphora_id, table.listener_id, *(getattr(table, c) for c in _STAT_COLUMNS)
            ).where(table.amphora_id.in_(listeners))
        )
    }
    inserts, updates = [], []
    for report in reports:
        for listener_id, listener in report.heartbeat.listeners.items():
            if listener_id not in listeners.get(report.amphora_id, ()):
                continue
            row = stored.get((report.amphora_id, listener_id))
            if row is not None and row.heartbeat_sequence >= report.sequence:
                continue  # another health service already counted this or a newer heartbeat
            raw = counters.Counters(
                bytes_in=listener.bytes_in,
                bytes_out=listener.bytes_out,
                active_connections=listener.active_connections,
                total_connections=listener.total_connections,
                request_errors=listener.request_errors,
            )
            kept = counters.accumulate(_kept(row) if row is not None else None, raw)
            values = _values(kept, report.sequence)
            key = {"amphora_id": report.amphora_id, "listener_id": listener_id}
            if row is None:
                inserts.append({**key, **values})
            else:
                seen = {"b_seen": row.heartbeat_sequence, "b_amphora": report.amphora_id}
                updates.append({"b_listener": listener_id, **seen, **_prefixed(values)})
    if inserts:
        session.connection().execute(insert(table), inserts)
    if updates:
        session.connection().execute(
            update(table)
            .where(
                table.amphora_id == bindparam("b_amphora"),
                table.listener_id == bindparam("b_listener"),
                # Compare-and-set: a concurrent writer's newer heartbeat wins.
                table.heartbeat_sequence == bindparam("b_seen"),
            )
            .values({name: bindparam(f"v_{name}") for name in _STAT_COLUMNS}),
            updates,
        )


def _prefixed(values: Mapping[str, int]) -> dict[str, int]:
    return {f"v_{name}": value for name, value in values.items()}


def _kept(row: _Row) -> counters.Kept:
    return counters.Kept(
        total=counters.Counters(
            bytes_in=row.bytes_in,
            bytes_out=row.bytes_out,
            active_connections=row.active_connections,
            total_connections=row.total_connections,
            request_errors=row.request_errors,
        ),
        raw=counters.Counters(
            bytes_in=row.raw_bytes_in,
            bytes_out=row.raw_bytes_out,
            total_connections=row.raw_total_connections,
            request_errors=row.raw_request_errors,
        ),
    )


def _values(kept: counters.Kept, sequence: int) -> dict[str, int]:
    return {
        "bytes_in": kept.total.bytes_in,
        "bytes_out": kept.total.bytes_out,
        "active_connections": kept.total.active_connections,
        "total_connections": kept.total.total_connections,
        "request_errors": kept.total.request_errors,
        "raw_bytes_in": kept.raw.bytes_in,
        "raw_bytes_out": kept.raw.bytes_out,
        "raw_total_connections": kept.raw.total_connections,
        "raw_request_errors": kept.raw.request_errors,
        "heartbeat_sequence": sequence,
    }
