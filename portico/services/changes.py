"""Recording desired state: every write locks its load balancer row and bumps ``generation``.

The row lock (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) serializes
writers of one load balancer, so duplicate checks and counts made after it are race-free,
while writers of different load balancers never wait for each other.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portico.db.models import LoadBalancer
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import ImmutableObject, NotFound
from portico.domain.status import lb_accepts_change, object_accepts_change


def lock_load_balancer(session: Session, lb_id: str) -> LoadBalancer:
    """Load and row-lock a load balancer; 404 if it does not exist."""
    lb = session.scalar(select(LoadBalancer).where(LoadBalancer.id == lb_id).with_for_update())
    if lb is None:
        raise NotFound("Load Balancer", lb_id)
    return lb


def begin_change(
    session: Session,
    lb: LoadBalancer,
    *,
    strict: bool,
    target_status: str | None = None,
    target_name: str = "",
    target_id: str = "",
    deleting: bool = False,
) -> None:
    """Check that the change is accepted, then record it: generation + 1, LB pending.

    ``target_status`` is the status of the child being changed (None for a create).
    """
    if not lb_accepts_change(lb.provisioning_status, strict=strict):
        raise ImmutableObject("Load Balancer", lb.id)
    if target_status is not None and not object_accepts_change(
        target_status, strict=strict, deleting=deleting
    ):
        raise ImmutableObject(target_name, target_id)
    bump_generation(session, lb)


def bump_generation(session: Session, lb: LoadBalancer) -> None:
    """generation + 1 in SQL (never a lost update), LB to PENDING_UPDATE unless creating."""
    if lb.provisioning_status not in (PS.PENDING_CREATE, PS.PENDING_DELETE):
        lb.provisioning_status = PS.PENDING_UPDATE
    session.flush()
    session.execute(
        update(LoadBalancer)
        .where(LoadBalancer.id == lb.id)
        .values(generation=LoadBalancer.generation + 1, retry_count=0, next_attempt_at=None)
    )
    session.refresh(lb, ["generation"])
