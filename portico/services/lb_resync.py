"""Support staff's repairs of a load balancer: resync (render and push it again) and the
amphorae to read logs from.

A resync is an update that changes nothing in the desired state: the generation goes up, the
load balancer to PENDING_UPDATE, and the reconciler converges it as after any update. Every
amphora gets the whole configuration again, and an agent whose files on disk differ from it
(edited, corrupted) applies it again instead of answering "unchanged". As an update in
Octavia, refused with 409 while the load balancer is PENDING_*; allowed from ERROR too, since
bringing a failed load balancer back is what it is for.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.models import LoadBalancer
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import ImmutableObject, NotFound
from portico.domain.policy import Access, Caller, require
from portico.services import amphora_records as records
from portico.services.amphora_records import AmphoraRecord
from portico.services.changes import bump_generation, lock_load_balancer

LABEL = "Load Balancer"
RESYNCABLE = frozenset({PS.ACTIVE, PS.ERROR})


def resync(session: Session, caller: Caller, lb_id: str) -> None:
    """Ask for the load balancer to be rendered and pushed again (admin only)."""
    require(caller, Access.ADMIN, None)
    lb = lock_load_balancer(session, lb_id)
    if lb.provisioning_status == PS.DELETED:
        raise NotFound(LABEL, lb_id)
    if lb.provisioning_status not in RESYNCABLE:
        raise ImmutableObject(LABEL, lb_id)
    bump_generation(session, lb)


def amphorae_of(session: Session, caller: Caller, lb_id: str) -> list[AmphoraRecord]:
    """The load balancer's amphorae, oldest first (admin only; 404 for an unknown one)."""
    require(caller, Access.ADMIN, None)
    status = session.scalar(
        select(LoadBalancer.provisioning_status).where(LoadBalancer.id == lb_id)
    )
    if status is None or status == PS.DELETED:
        raise NotFound(LABEL, lb_id)
    return records.for_load_balancer(session, lb_id)
