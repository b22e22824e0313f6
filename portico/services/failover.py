"""Failover bookkeeping: silent amphorae found and marked, and failovers asked for by operators.

A failover is desired state like any other: the amphora to replace is marked (ERROR when it
failed, PENDING_DELETE when an operator retires a working one), its load balancer's
generation is bumped, and the reconciler's next pass boots or claims the replacement, pushes
the configuration to it and only then removes the old amphora. The mark is one conditional
UPDATE (``WHERE status IN (live statuses)``), so when several health services share a
database exactly one of them wins it, and an amphora is never failed over twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portico.db.base import utcnow
from portico.db.health_models import AmphoraHealth
from portico.db.models import Amphora, LoadBalancer
from portico.domain.constants import AmphoraStatus as AS
from portico.domain.constants import OperatingStatus
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.failover import Silence, Threshold, plan_stale, suspect_after
from portico.services import events
from portico.services.changes import bump_generation
from portico.services.events import EventKind

# Amphorae that serve (or stand by to serve) and so are watched for silence, once heard: as
# in Octavia, one never heard from is not watched, so a health service that amphorae cannot
# reach (a wrong health_bind_host) fails nothing over; its amphorae show no last heartbeat.
WATCHED = (AS.ALLOCATED, AS.READY)


@dataclass
class StaleOutcome:
    """What one check did: (amphora id, load balancer id or None) per failover started."""

    failed_over: list[tuple[str, str | None]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    tripped: bool = False


def check_stale(
    session: Session,
    *,
    timeout: float,
    interval: float,
    threshold: Threshold | None,
    now: dt.datetime | None = None,
) -> StaleOutcome:
    """One health check: resume heard-again amphorae, then fail over or stop the silent ones."""
    now = now or utcnow()
    outcome = StaleOutcome(resumed=_resume(session, now - dt.timedelta(seconds=timeout)))
    live = session.scalar(
        select(func.count()).select_from(Amphora).where(Amphora.status.in_(WATCHED))
    )
    stopped = session.scalar(
        select(func.count()).select_from(Amphora).where(Amphora.status == AS.FAILOVER_STOPPED)
    )
    suspect_before = now - dt.timedelta(seconds=suspect_after(timeout, interval))
    silent = session.execute(
        select(Amphora.id, AmphoraHealth.last_heartbeat_at)
        .join(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
        .where(Amphora.status.in_(WATCHED), AmphoraHealth.last_heartbeat_at < suspect_before)
    ).all()
    plan = plan_stale(
        (Silence(row[0], (now - row[1]).total_seconds()) for row in silent if row[1]),
        live=int(live or 0),
        stopped=int(stopped or 0),
        timeout=timeout,
        interval=interval,
        threshold=threshold,
    )
    if plan.tripped and not stopped:
        events.record(
            session,
            EventKind.CIRCUIT_BREAKER_TRIPPED,
            f"{len(silent)} of {live} amphorae silent together (failover_threshold reached): "
            "failovers stopped until their heartbeats resume or an operator fails them over",
        )
    # Open while it stops amphorae now, or while any it stopped is still silent.
    outcome.tripped = plan.tripped or bool(stopped)
    cutoff = now - dt.timedelta(seconds=timeout)
    for amphora_id in plan.stop:
        if _set_if_silent(session, amphora_id, AS.FAILOVER_STOPPED, cutoff):
            outcome.stopped.append(amphora_id)
            events.record(
                session,
                EventKind.FAILOVER_STOPPED,
                f"silent for more than {timeout:g}s; not failed over (circuit breaker)",
                amphora_id=amphora_id,
                load_balancer_id=_load_balancer_of(session, amphora_id),
            )
    for amphora_id in plan.fail_over:
        # The load balancer's row lock first, then the amphora's: the order every writer
        # takes them in (API failovers, user changes), so none of them deadlocks with us.
        lb_id = _load_balancer_of(session, amphora_id)
        lb = _lock(session, lb_id)
        if _set_if_silent(session, amphora_id, AS.ERROR, cutoff):
            events.record(
                session,
                EventKind.AMPHORA_STALE,
                f"no heartbeat for more than {timeout:g}s: failing over",
                amphora_id=amphora_id,
                load_balancer_id=lb_id,
            )
            if lb is not None:
                _failover_load_balancer(session, amphora_id, lb)
            outcome.failed_over.append((amphora_id, lb_id))
    return outcome


def _resume(session: Session, cutoff: dt.datetime) -> list[str]:
    """FAILOVER_STOPPED amphorae heard from again go back to what they were."""
    ids = list(
        session.scalars(
            select(Amphora.id)
            .join(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
            .where(Amphora.status == AS.FAILOVER_STOPPED, AmphoraHealth.last_heartbeat_at >= cutoff)
        )
    )
    for amphora_id in ids:
        lb_id = _load_balancer_of(session, amphora_id)
        result = session.execute(
            update(Amphora)
            .where(Amphora.id == amphora_id, Amphora.status == AS.FAILOVER_STOPPED)
            .values(status=AS.ALLOCATED if lb_id is not None else AS.READY, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0):
            events.record(
                session,
                EventKind.FAILOVER_RESUMED,
                "heartbeats resumed",
                amphora_id=amphora_id,
                load_balancer_id=lb_id,
            )
    return ids


def _load_balancer_of(session: Session, amphora_id: str) -> str | None:
    return session.scalar(select(Amphora.load_balancer_id).where(Amphora.id == amphora_id))


def _set_if_silent(session: Session, amphora_id: str, status: AS, cutoff: dt.datetime) -> bool:
    """Move a watched amphora that is still silent to ``status``; False if another won it.

    The amphora's row is locked first, then its health row: the order a heartbeat batch takes
    them in (on PostgreSQL; SQLite has one writer at a time). A batch writing a newer
    heartbeat is waited for, and the health row is then read as that batch committed it.
    """
    watched = session.scalar(
        select(Amphora.id)
        .where(Amphora.id == amphora_id, Amphora.status.in_(WATCHED))
        .with_for_update()
    )
    silent = watched is not None and session.scalar(
        select(AmphoraHealth.amphora_id)
        .where(AmphoraHealth.amphora_id == amphora_id, AmphoraHealth.last_heartbeat_at < cutoff)
        .with_for_update()
    )
    if not silent:
        return False
    result = session.execute(
        update(Amphora)
        .where(Amphora.id == amphora_id, Amphora.status.in_(WATCHED))
        .values(status=status, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def _lock(session: Session, lb_id: str | None) -> LoadBalancer | None:
    if lb_id is None:
        return None
    return session.scalar(select(LoadBalancer).where(LoadBalancer.id == lb_id).with_for_update())


def _failover_load_balancer(session: Session, amphora_id: str, lb: LoadBalancer) -> None:
    """Ask the reconciler to replace the amphora: its load balancer's generation + 1.

    The load balancer reads ERROR while none of its amphorae serves; the replacement's
    first push writes the statuses it then sees. (A spare has no load balancer: the spares
    pool replaces it.)
    """
    if lb.provisioning_status in (PS.PENDING_DELETE, PS.DELETED):
        return
    lb_id = lb.id
    serving = session.scalar(
        select(func.count())
        .select_from(Amphora)
        .where(Amphora.load_balancer_id == lb_id, Amphora.status == AS.ALLOCATED)
    )
    if not serving:
        lb.operating_status = OperatingStatus.ERROR
    bump_generation(session, lb)
    events.record(
        session,
        EventKind.FAILOVER_STARTED,
        f"replacing amphora {amphora_id}",
        amphora_id=amphora_id,
        load_balancer_id=lb_id,
    )


def fail_gone(session: Session, amphora_id: str, detail: str) -> bool:
    """An ALLOCATED amphora whose instance is gone (housekeeping saw it): fail it over.

    The same conditional mark as a stale amphora's, so when the health service saw it too
    only one of them fails it over. Returns whether this call did.
    """
    lb_id = _load_balancer_of(session, amphora_id)
    lb = _lock(session, lb_id)
    result = session.execute(
        update(Amphora)
        .where(Amphora.id == amphora_id, Amphora.status == AS.ALLOCATED)
        .values(status=AS.ERROR, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return False
    events.record(
        session,
        EventKind.AMPHORA_INSTANCE_GONE,
        detail,
        amphora_id=amphora_id,
        load_balancer_id=lb_id,
    )
    if lb is not None:
        _failover_load_balancer(session, amphora_id, lb)
    return True


def retire(session: Session, amphorae: Iterable[Amphora], reason: str) -> None:
    """Operator failover: the amphorae keep serving until their replacements do."""
    for amphora in amphorae:
        amphora.status = AS.PENDING_DELETE
        events.record(
            session,
            EventKind.FAILOVER_STARTED,
            reason,
            amphora_id=amphora.id,
            load_balancer_id=amphora.load_balancer_id,
        )
