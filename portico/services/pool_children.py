"""Changing something that lives under a pool (a member, a health monitor).

Octavia locks the load balancer, refuses the change unless the pool is mutable, and marks the
pool and the listeners that use it PENDING_UPDATE. portico does the same under its row lock,
with the pending rules of ``portico.domain.status`` (coalescing unless strict).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.models import Listener, LoadBalancer, Pool
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import ImmutableObject, NotFound
from portico.domain.policy import Access, Caller, require
from portico.domain.status import (
    lb_accepts_change,
    object_accepts_change,
    status_after_update,
)
from portico.services.changes import begin_change, lock_load_balancer

POOL = "Pool"


def lock_pool(session: Session, caller: Caller, pool_id: str) -> Pool:
    """The pool, with its load balancer row locked and write access checked; 404 if absent."""
    lb_id = session.scalar(select(Pool.load_balancer_id).where(Pool.id == pool_id))
    if lb_id is None:
        raise NotFound(POOL, pool_id)
    lb = lock_load_balancer(session, lb_id)
    # Re-read after the lock: the pool may have changed (or gone) while we waited.
    pool = session.scalar(
        select(Pool).where(Pool.id == pool_id).execution_options(populate_existing=True)
    )
    if pool is None:
        raise NotFound(POOL, pool_id)
    # Resolve pool.load_balancer now, from the identity map, while ``lb`` is referenced: the
    # session holds objects weakly, and a later lazy load would read the row (and tags) again.
    if pool.load_balancer is not lb:
        raise NotFound(POOL, pool_id)
    require(caller, Access.WRITE, pool.project_id)
    return pool


def check_pool_change(pool: Pool, *, strict: bool) -> None:
    """409 (Octavia's order: pool, then load balancer) unless both accept a change now."""
    if not object_accepts_change(pool.provisioning_status, strict=strict):
        raise ImmutableObject(POOL, pool.id)
    lb: LoadBalancer = pool.load_balancer
    if not lb_accepts_change(lb.provisioning_status, strict=strict):
        raise ImmutableObject("Load Balancer", lb.id)


def begin_pool_change(
    session: Session,
    pool: Pool,
    *,
    strict: bool,
    target_status: str | None = None,
    target_name: str = "",
    target_id: str = "",
    deleting: bool = False,
) -> None:
    """Refuse if the pool or load balancer cannot change; else bump the generation."""
    check_pool_change(pool, strict=strict)
    lb: LoadBalancer = pool.load_balancer
    begin_change(
        session,
        lb,
        strict=strict,
        target_status=target_status,
        target_name=target_name,
        target_id=target_id,
        deleting=deleting,
    )
    touch_parents(pool)


def touch_parents(pool: Pool) -> None:
    """Pool and its listeners to PENDING_UPDATE (creates stay PENDING_CREATE, deletes stay)."""
    parents: list[Pool | Listener] = [pool, *pool.listeners]
    for obj in parents:
        if obj.provisioning_status != PS.PENDING_DELETE:
            obj.provisioning_status = status_after_update(obj.provisioning_status)
