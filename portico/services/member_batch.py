"""Batch member update: ``PUT /pools/{id}/members`` replaces a pool's members in one change.

The request is the desired member list, matched on (address, protocol_port): unknown ones are
created, matched ones updated, the rest deleted unless ``additive_only``. Everything happens in
one transaction and one generation, so the reconciler sees the new list at once (and can apply
it through the runtime API without a reload).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from portico.db.models import Member
from portico.domain import members as rules
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import ImmutableObject
from portico.domain.policy import Caller
from portico.domain.status import object_accepts_change
from portico.services.members import LABEL, add_member, apply_changes, check_subnet
from portico.services.pool_children import begin_pool_change, check_pool_change, lock_pool
from portico.services.quotas import check_quota
from portico.settings import Settings


def batch_update_members(
    session: Session,
    caller: Caller,
    settings: Settings,
    pool_id: str,
    members: Sequence[Mapping[str, Any]],
    *,
    additive_only: bool,
) -> bool:
    """Apply the desired member list; False when it changes nothing (no new generation)."""
    pool = lock_pool(session, caller, pool_id)
    strict = settings.strict_pending_lock
    # As Octavia, the pool and load balancer must accept a change even if this one is a no-op.
    check_pool_change(pool, strict=strict)
    existing = [rules.ExistingMember(m.id, m.address, m.protocol_port) for m in pool.members]
    plan = rules.plan_batch(existing, members, additive_only=additive_only)
    if plan.empty:
        return False
    by_id: dict[str, Member] = {m.id: m for m in pool.members}
    for member_id, _ in plan.update:
        status = by_id[member_id].provisioning_status
        if not object_accepts_change(status, strict=strict):
            raise ImmutableObject(LABEL, member_id)
    for item in plan.create:
        rules.check_not_reserved(str(item["address"]))
        if item.get("subnet_id"):
            check_subnet(settings, str(item["subnet_id"]))
    growth = plan.count_change(additive_only=additive_only)
    if growth > 0:
        # One check for the whole batch: deletions in it make room for creations.
        check_quota(session, settings, pool.project_id, "member", adding=growth)
    begin_pool_change(session, pool, strict=strict)
    for member_id in plan.delete:
        by_id[member_id].provisioning_status = PS.PENDING_DELETE
    for member_id, changes in plan.update:
        apply_changes(by_id[member_id], changes)
    for item in plan.create:
        add_member(session, caller, settings, pool, item, count_quota=False)
    session.flush()
    return True
