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

from sqlalchemy import delete, or_, select, update
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


def snapshot(session: Session, lb_id: str) -> LoadBalancerSnapshot | None:
    lb = session.get(LoadBalancer, lb_id)
    if lb is None:
        return None
    return LoadBalancerSnapshot(
        id=lb.id,
        provider=lb.provider,
        generation=lb.generation,
        deleting=lb.provisioning_status == PS.PENDING_DELETE,
        topology=lb.topology,
        graph=_graph(lb),
    )


def _graph(lb: LoadBalancer) -> dict[str, Any]:
    return {
        "listeners": [
            {
                "id": li.id,
                "protocol": li.protocol,
                "protocol_port": li.protocol_port,
                "default_pool_id": li.default_pool_id,
                "l7policies": [p.id for p in li.l7policies],
            }
            for li in lb.listeners
        ],
        "pools": [
            {
                "id": p.id,
                "protocol": p.protocol,
                "lb_algorithm": p.lb_algorithm,
                "members": [
                    {
                        "id": m.id,
                        "address": m.address,
                        "protocol_port": m.protocol_port,
                        "weight": m.weight,
                    }
                    for m in p.members
                ],
            }
            for p in lb.pools
        ],
    }


def record_success(
    session: Session, lb_id: str, *, owner: str, generation: int, result: ApplyResult
) -> None:
    """The provider converged ``generation``: settle what that generation covered."""
    lb = _locked(session, lb_id)
    if lb is None or lb.lease_owner != owner:
        return
    if lb.generation != generation:
        # New writes arrived while we worked: keep everything pending, go again at once.
        lb.applied_generation = generation
        _release(lb)
        return
    if lb.provisioning_status == PS.PENDING_DELETE:
        _purge(session, lb)
        return
    _settle_children(session, lb, result.operating_status)
    lb.provisioning_status = PS.ACTIVE
    if lb.id in result.operating_status:
        lb.operating_status = result.operating_status[lb.id]
    lb.applied_generation = generation
    lb.last_error = None
    lb.retry_count = 0
    _release(lb)


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
    else:
        backoff = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (lb.retry_count - 1))
        lb.next_attempt_at = utcnow() + dt.timedelta(seconds=backoff)
    _release(lb)


_SETTLEABLE = (PS.PENDING_CREATE, PS.PENDING_UPDATE)


def _locked(session: Session, lb_id: str) -> LoadBalancer | None:
    return session.scalar(select(LoadBalancer).where(LoadBalancer.id == lb_id).with_for_update())


def _release(lb: LoadBalancer) -> None:
    lb.lease_owner = None
    lb.lease_expires = None


def _rows(session: Session, model: Any, condition: Any) -> list[tuple[str, str]]:
    stmt = select(model.id, model.provisioning_status).where(condition)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def _children(session: Session, lb_id: str) -> dict[Any, list[tuple[str, str]]]:
    """(id, provisioning_status) of every row under the load balancer, per table.

    One query per table that can have rows (none at all for a load balancer without
    listeners or pools, the common case right after a create), instead of a fixed dozen.
    """
    found: dict[Any, list[tuple[str, str]]] = {model: [] for model in CHILD_MODELS}
    found[Listener] = _rows(session, Listener, Listener.load_balancer_id == lb_id)
    found[Pool] = _rows(session, Pool, Pool.load_balancer_id == lb_id)
    pool_ids = [i for i, _ in found[Pool]]
    listener_ids = [i for i, _ in found[Listener]]
    if pool_ids:
        found[Member] = _rows(session, Member, Member.pool_id.in_(pool_ids))
        found[HealthMonitor] = _rows(session, HealthMonitor, HealthMonitor.pool_id.in_(pool_ids))
    if listener_ids:
        found[L7Policy] = _rows(session, L7Policy, L7Policy.listener_id.in_(listener_ids))
    policy_ids = [i for i, _ in found[L7Policy]]
    if policy_ids:
        found[L7Rule] = _rows(session, L7Rule, L7Rule.l7policy_id.in_(policy_ids))
    return found


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """Bounded IN lists (SQLite caps bound parameters per statement)."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _settle_children(session: Session, lb: LoadBalancer, statuses: Mapping[str, str]) -> None:
    """Under the load balancer's row lock: drop PENDING_DELETE rows, the rest to ACTIVE."""
    children = _children(session, lb.id)
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


def _purge(session: Session, lb: LoadBalancer) -> None:
    """The load balancer is gone from the provider: remove it and everything under it."""
    children = _children(session, lb.id)
    for model in CHILD_MODELS:
        ids = [i for i, _ in children[model]]
        if ids:
            _delete_rows(session, model, ids)
    session.execute(delete(Tag).where(Tag.resource_id == lb.id))
    session.execute(delete(LoadBalancer).where(LoadBalancer.id == lb.id))
    session.expire_all()
