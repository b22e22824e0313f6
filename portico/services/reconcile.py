"""One reconcile pass for one load balancer: claim it, snapshot it, record the outcome.

Level-triggered: a load balancer needs work while ``generation > applied_generation``. A
worker leases it (so several controllers never converge the same one at once), the provider
converges a snapshot, and the outcome is recorded only for the generation that was applied:
writes that arrived meanwhile stay pending and are coalesced into the next pass. A worker
that dies leaves a lease that expires; nothing stays PENDING_* for good.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from portico.db.base import utcnow
from portico.db.models import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    ListenerStatistics,
    LoadBalancer,
    Member,
    Pool,
    Tag,
)
from portico.domain.constants import ProvisioningStatus as PS
from portico.drivers.providers.base import ApplyResult, LoadBalancerSnapshot
from portico.services import events
from portico.services.desired_state import CertificateResolver, load_spec
from portico.services.events import EventKind

CHILD_MODELS: tuple[Any, ...] = (L7Rule, L7Policy, HealthMonitor, Member, Listener, Pool)
MAX_BACKOFF_SECONDS = 60.0


def claim(session: Session, *, owner: str, lease_seconds: float, limit: int) -> list[str]:
    """Lease up to ``limit`` load balancers that need work; returns their ids."""
    now = utcnow()
    stmt = (
        select(LoadBalancer.id)
        .where(LoadBalancer.generation > LoadBalancer.applied_generation)
        .where(or_(LoadBalancer.lease_expires.is_(None), LoadBalancer.lease_expires < now))
        .where(or_(LoadBalancer.next_attempt_at.is_(None), LoadBalancer.next_attempt_at <= now))
        .order_by(LoadBalancer.updated_at.asc().nulls_first())
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(stmt))
    if ids:
        session.execute(
            update(LoadBalancer)
            .where(LoadBalancer.id.in_(ids))
            .values(lease_owner=owner, lease_expires=now + dt.timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
    return ids


def renew_lease(session: Session, lb_id: str, *, owner: str, lease_seconds: float) -> bool:
    """Extend ``owner``'s lease while it still holds it; False once another worker took over."""
    result = session.execute(
        update(LoadBalancer)
        .where(LoadBalancer.id == lb_id, LoadBalancer.lease_owner == owner)
        .values(lease_expires=utcnow() + dt.timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def snapshot(
    session: Session, lb_id: str, *, resolve_certificates: CertificateResolver | None = None
) -> LoadBalancerSnapshot | None:
    """The desired state at the current generation (see ``desired_state``)."""
    lb = session.execute(
        select(
            LoadBalancer.id,
            LoadBalancer.provider,
            LoadBalancer.generation,
            LoadBalancer.provisioning_status,
            LoadBalancer.topology,
        ).where(LoadBalancer.id == lb_id)
    ).first()
    if lb is None:
        return None
    spec = load_spec(session, lb_id, resolve_certificates=resolve_certificates)
    if spec is None:
        return None
    return LoadBalancerSnapshot(
        id=lb.id,
        provider=lb.provider,
        generation=lb.generation,
        deleting=lb.provisioning_status == PS.PENDING_DELETE,
        topology=lb.topology,
        spec=spec,
    )


def record_success(
    session: Session, lb_id: str, *, owner: str, generation: int, result: ApplyResult
) -> None:
    """The provider converged ``generation``: settle what that generation covered.

    Column reads and UPDATEs only: no load balancer object to load (with its tags) and to
    reload after the children's bulk updates. This runs once per pass, often in the API's
    process, and on SQLite inside the one write lock.
    """
    lb = session.execute(
        select(LoadBalancer.lease_owner, LoadBalancer.generation, LoadBalancer.provisioning_status)
        .where(LoadBalancer.id == lb_id)
        .with_for_update()
    ).first()
    if lb is None or lb.lease_owner != owner:
        return
    if lb.generation != generation:
        # New writes arrived while we worked: keep everything pending, go again at once.
        _finish(session, lb_id, applied_generation=generation)
        return
    if lb.provisioning_status == PS.PENDING_DELETE:
        _purge(session, lb_id)
        return
    statuses = result.operating_status
    _settle_children(session, lb_id, statuses)
    values: dict[str, Any] = {
        "provisioning_status": PS.ACTIVE,
        "applied_generation": generation,
        "last_error": None,
        "retry_count": 0,
    }
    if lb_id in statuses:
        values["operating_status"] = statuses[lb_id]
    _finish(session, lb_id, **values)


def _finish(session: Session, lb_id: str, **values: Any) -> None:
    """Write ``values`` and release the lease, in one UPDATE."""
    session.execute(
        update(LoadBalancer)
        .where(LoadBalancer.id == lb_id)
        .values(lease_owner=None, lease_expires=None, **values)
        .execution_options(synchronize_session=False)
    )


def record_failure(
    session: Session,
    lb_id: str,
    *,
    owner: str,
    generation: int,
    reason: str,
    permanent: bool,
    max_retries: int,
) -> None:
    """A failed pass: retry later with backoff, or give up (ERROR with the reason)."""
    lb = _locked(session, lb_id)
    if lb is None or lb.lease_owner != owner:
        return
    lb.last_error = reason[:2000]
    if not permanent and lb.generation != generation:
        # Newer writes arrived meanwhile (a user change, a failover): new work, tried at once
        # rather than after a backoff earned by an older generation.
        lb.next_attempt_at = None
        _release(lb)
        return
    lb.retry_count += 1
    if permanent or lb.retry_count > max_retries:
        for model, rows in _children(session, lb.id).items():
            for chunk in _chunks([i for i, status in rows if status in _SETTLEABLE]):
                session.execute(
                    update(model)
                    .where(model.id.in_(chunk), model.provisioning_status.in_(_SETTLEABLE))
                    .values(provisioning_status=PS.ERROR)
                    .execution_options(synchronize_session=False)
                )
        lb.provisioning_status = PS.ERROR
        lb.applied_generation = generation
        lb.next_attempt_at = None
        events.record(
            session,
            EventKind.CONFIG_PUSH_FAILED,
            f"gave up on generation {generation} after {lb.retry_count} attempts: {reason}",
            load_balancer_id=lb.id,
        )
    else:
        backoff = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (lb.retry_count - 1))
        lb.next_attempt_at = utcnow() + dt.timedelta(seconds=backoff)
    _release(lb)


_SETTLEABLE = (PS.PENDING_CREATE, PS.PENDING_UPDATE)
_PENDING = (*_SETTLEABLE, PS.PENDING_DELETE)


def _locked(session: Session, lb_id: str) -> LoadBalancer | None:
    return session.scalar(select(LoadBalancer).where(LoadBalancer.id == lb_id).with_for_update())


def _release(lb: LoadBalancer) -> None:
    lb.lease_owner = None
    lb.lease_expires = None


def _rows(session: Session, model: Any, condition: Any) -> list[tuple[str, str]]:
    stmt = select(model.id, model.provisioning_status).where(condition)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def _children(
    session: Session, lb_id: str, *, pending_only: bool = False
) -> dict[Any, list[tuple[str, str]]]:
    """(id, provisioning_status) of every row under the load balancer, per table.

    One query per table that can have rows (none at all for a load balancer without
    listeners or pools, the common case right after a create), instead of a fixed dozen.
    ``pending_only`` leaves out settled leaves (members, health monitors, L7 rules): a pass
    that only settles need not read a pool's 1,000 ACTIVE members to find the one pending.
    """
    found: dict[Any, list[tuple[str, str]]] = {model: [] for model in CHILD_MODELS}
    found[Listener] = _rows(session, Listener, Listener.load_balancer_id == lb_id)
    found[Pool] = _rows(session, Pool, Pool.load_balancer_id == lb_id)
    pool_ids = [i for i, _ in found[Pool]]
    listener_ids = [i for i, _ in found[Listener]]

    def leaves(model: Any, condition: Any) -> list[tuple[str, str]]:
        if pending_only:
            condition = and_(condition, model.provisioning_status.in_(_PENDING))
        return _rows(session, model, condition)

    if pool_ids:
        found[Member] = leaves(Member, Member.pool_id.in_(pool_ids))
        found[HealthMonitor] = leaves(HealthMonitor, HealthMonitor.pool_id.in_(pool_ids))
    if listener_ids:
        found[L7Policy] = _rows(session, L7Policy, L7Policy.listener_id.in_(listener_ids))
    policy_ids = [i for i, _ in found[L7Policy]]
    if policy_ids:
        found[L7Rule] = leaves(L7Rule, L7Rule.l7policy_id.in_(policy_ids))
    return found


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """Bounded IN lists (SQLite caps bound parameters per statement)."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _settle_children(session: Session, lb_id: str, statuses: Mapping[str, str]) -> None:
    """Under the load balancer's row lock: drop PENDING_DELETE rows, the rest to ACTIVE."""
    # Operating statuses may name settled rows too; without any, pending rows are enough.
    children = _children(session, lb_id, pending_only=not statuses)
    # Children first (CHILD_MODELS order), so foreign keys never point at a row that is gone.
    for model in CHILD_MODELS:
        rows = children[model]
        doomed = [i for i, status in rows if status == PS.PENDING_DELETE]
        if doomed:
            _delete_rows(session, model, doomed)
        settle = [i for i, status in rows if status in _SETTLEABLE]
        for chunk in _chunks(settle):
            session.execute(
                update(model)
                .where(model.id.in_(chunk), model.provisioning_status.in_(_SETTLEABLE))
                .values(provisioning_status=PS.ACTIVE)
                .execution_options(synchronize_session=False)
            )
        by_status: dict[str, list[str]] = {}
        for object_id, _ in rows:
            if object_id in statuses and object_id not in doomed:
                by_status.setdefault(statuses[object_id], []).append(object_id)
        for status, ids in by_status.items():
            for chunk in _chunks(ids):
                session.execute(
                    update(model)
                    .where(model.id.in_(chunk))
                    .values(operating_status=status)
                    .execution_options(synchronize_session=False)
                )
    session.expire_all()


def _delete_rows(session: Session, model: Any, ids: list[str]) -> None:
    for chunk in _chunks(ids):
        _delete_chunk(session, model, chunk)


def _delete_chunk(session: Session, model: Any, ids: list[str]) -> None:
    if model is Pool:
        session.execute(
            update(Listener)
            .where(Listener.default_pool_id.in_(ids))
            .values(default_pool_id=None)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(L7Policy)
            .where(L7Policy.redirect_pool_id.in_(ids))
            .values(redirect_pool_id=None)
            .execution_options(synchronize_session=False)
        )
    if model is Listener:
        session.execute(delete(ListenerStatistics).where(ListenerStatistics.listener_id.in_(ids)))
    session.execute(delete(Tag).where(Tag.resource_id.in_(ids)))
    session.execute(delete(model).where(model.id.in_(ids)))


def _purge(session: Session, lb_id: str) -> None:
    """The load balancer is gone from the provider: remove it and everything under it."""
    children = _children(session, lb_id)
    for model in CHILD_MODELS:
        ids = [i for i, _ in children[model]]
        if ids:
            _delete_rows(session, model, ids)
    session.execute(delete(Tag).where(Tag.resource_id == lb_id))
    session.execute(delete(LoadBalancer).where(LoadBalancer.id == lb_id))
    session.expire_all()
