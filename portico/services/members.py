"""Member use cases: list, show, create, update, delete, and the builder full-graph create uses.

``new_member`` validates and constructs one member under a pool the caller already holds
(load balancer locked, generation bumped once by the caller); the single-object routes lock,
call it, and bump the generation themselves.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.models import Flavor, FlavorProfile, LoadBalancer, Member, Pool
from portico.domain import members as rules
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import InvalidInput, NotFound
from portico.domain.policy import Access, Caller, require
from portico.domain.status import status_after_update
from portico.services.listing import ListQuery, Page, apply_filters, owned_columns, run_listing
from portico.services.pool_children import begin_pool_change, check_pool_change, lock_pool
from portico.services.quotas import check_quota
from portico.services.scope import get_visible
from portico.settings import Settings

LABEL = "Member"

COLUMNS = owned_columns(
    "name",
    "address",
    "pool_id",
    "protocol_port",
    "weight",
    "backup",
    "subnet_id",
    "monitor_address",
    "monitor_port",
    "vnic_type",
)

UPDATABLE = ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port")


def list_members(
    session: Session, caller: Caller, settings: Settings, pool_id: str, query: ListQuery
) -> Page:
    pool = get_visible(session, Pool, pool_id, caller, label="Pool")
    stmt = select(Member).where(Member.pool_id == pool.id)
    stmt = apply_filters(stmt, Member, query, filterable=COLUMNS)
    return run_listing(
        session, stmt, Member, query, sortable=COLUMNS, max_limit=settings.pagination_max_limit
    )


def get_member(session: Session, caller: Caller, pool_id: str, member_id: str) -> Member:
    member = get_visible(session, Member, member_id, caller, label=LABEL)
    if member.pool_id != pool_id:
        raise NotFound(LABEL, member_id)
    return member


def load_balancer_of_pool(session: Session, pool_id: str) -> str | None:
    return session.scalar(select(Pool.load_balancer_id).where(Pool.id == pool_id))


def check_subnet(settings: Settings, subnet_id: str) -> None:
    if not any(s.id == subnet_id for s in settings.subnets):
        raise InvalidInput(f"Subnet {subnet_id} not found.")


def flavor_allows_sriov(session: Session, lb: LoadBalancer) -> bool:
    """Whether the load balancer's flavor sets ``allow_member_sriov`` (no flavor: no)."""
    if not lb.flavor_id:
        return False
    data = session.scalar(
        select(FlavorProfile.flavor_data)
        .join(Flavor, Flavor.flavor_profile_id == FlavorProfile.id)
        .where(Flavor.id == lb.flavor_id)
    )
    try:
        metadata = json.loads(data) if data else {}
    except ValueError:
        return False
    return isinstance(metadata, dict) and bool(metadata.get(rules.ALLOW_MEMBER_SRIOV))


def _default(data: Mapping[str, Any], name: str, default: Any) -> Any:
    value = data.get(name)
    return default if value is None else value


def new_member(
    session: Session, caller: Caller, settings: Settings, pool: Pool, data: Mapping[str, Any]
) -> Member:
    """Validate and add one member to ``pool`` (PENDING_CREATE); the caller holds the lock."""
    return add_member(session, caller, settings, pool, data, count_quota=True)


def add_member(
    session: Session,
    caller: Caller,
    settings: Settings,
    pool: Pool,
    data: Mapping[str, Any],
    *,
    count_quota: bool,
) -> Member:
    """``new_member``; ``count_quota=False`` when the caller checked the quota for a batch."""
    lb = pool.load_balancer
    require(caller, Access.WRITE, lb.project_id)
    address, port = str(data["address"]), int(data["protocol_port"])
    rules.check_not_reserved(address)
    if data.get("subnet_id"):
        check_subnet(settings, str(data["subnet_id"]))
    key = rules.member_key(address, port)
    # Ask SQL, not pool.members: that would build every member (and its tags) as objects,
    # making each create O(pool size). An IPv4 address has one spelling; IPv6 ones have many,
    # so those are compared canonically among the pool's IPv6 members on this port.
    same = select(Member.address).where(Member.pool_id == pool.id, Member.protocol_port == port)
    if ":" in address:
        same = same.where(Member.address.contains(":"))
    else:
        same = same.where(Member.address.in_({address, key[0]}))
    if any(rules.member_key(a, port) == key for (a,) in session.execute(same)):
        raise rules.duplicate_error(address, port)
    vnic = rules.vnic_type(
        request_sriov=bool(data.get("request_sriov")),
        flavor_allows_sriov=bool(data.get("request_sriov")) and flavor_allows_sriov(session, lb),
    )
    if count_quota:
        check_quota(session, settings, lb.project_id, "member")
    member = Member(
        id=str(uuid.uuid4()),
        project_id=lb.project_id,
        name=data.get("name"),
        address=address,
        protocol_port=port,
        weight=_default(data, "weight", rules.DEFAULT_WEIGHT),
        backup=_default(data, "backup", False),
        subnet_id=data.get("subnet_id"),
        monitor_address=data.get("monitor_address"),
        monitor_port=data.get("monitor_port"),
        admin_state_up=_default(data, "admin_state_up", True),
        vnic_type=vnic,
        provisioning_status=PS.PENDING_CREATE,
        operating_status=rules.initial_operating_status(
            pool_has_monitor=pool.health_monitor is not None
        ),
    )
    member.set_tags(list(data.get("tags") or []))
    member.pool = pool
    session.add(member)
    return member


def create_member(
    session: Session, caller: Caller, settings: Settings, pool_id: str, data: Mapping[str, Any]
) -> Member:
    pool = lock_pool(session, caller, pool_id)
    check_pool_change(pool, strict=settings.strict_pending_lock)
    member = new_member(session, caller, settings, pool, data)
    begin_pool_change(session, pool, strict=settings.strict_pending_lock)
    session.flush()
    return member


def _locked_member(
    session: Session, caller: Caller, pool_id: str, member_id: str
) -> tuple[Pool, Member]:
    member_pool = session.scalar(select(Member.pool_id).where(Member.id == member_id))
    if member_pool is None or member_pool != pool_id:
        raise NotFound(LABEL, member_id)
    pool = lock_pool(session, caller, pool_id)
    member = session.scalar(
        select(Member).where(Member.id == member_id).execution_options(populate_existing=True)
    )
    if member is None or member.pool_id != pool.id:
        raise NotFound(LABEL, member_id)
    return pool, member


def apply_changes(member: Member, changes: Mapping[str, Any]) -> None:
    """Set the given fields; null resets weight, backup and admin_state_up to defaults."""
    values = rules.update_defaults(changes)
    if "admin_state_up" in values and values["admin_state_up"] is None:
        values["admin_state_up"] = True
    for name in UPDATABLE:
        if name in values:
            setattr(member, name, values[name])
    if "tags" in values:
        member.set_tags(list(values["tags"] or []))
    member.provisioning_status = status_after_update(member.provisioning_status)


def update_member(
    session: Session,
    caller: Caller,
    settings: Settings,
    pool_id: str,
    member_id: str,
    changes: Mapping[str, Any],
) -> Member:
    pool, member = _locked_member(session, caller, pool_id, member_id)
    begin_pool_change(
        session,
        pool,
        strict=settings.strict_pending_lock,
        target_status=member.provisioning_status,
        target_name=LABEL,
        target_id=member.id,
    )
    apply_changes(member, changes)
    session.flush()
    return member


def delete_member(
    session: Session, caller: Caller, settings: Settings, pool_id: str, member_id: str
) -> None:
    pool, member = _locked_member(session, caller, pool_id, member_id)
    begin_pool_change(
        session,
        pool,
        strict=settings.strict_pending_lock,
        target_status=member.provisioning_status,
        target_name=LABEL,
        target_id=member.id,
        deleting=True,
    )
    member.provisioning_status = PS.PENDING_DELETE
