"""Availability zones: operator-named placement choices, keyed by name, that users pick.

Readable by anyone who may read load balancers, written by admins. The name is the key (it
is what a load balancer records), so only description and enabled change after creation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portico.db.models import AvailabilityZone, AvailabilityZoneProfile, LoadBalancer
from portico.domain.errors import (
    InvalidOption,
    NotFound,
    ObjectInUse,
    RecordAlreadyExists,
    ValidationException,
)
from portico.domain.policy import Access, Caller, require
from portico.services.listing import ListQuery, Page, apply_filters, run_listing
from portico.settings import Settings

LABEL = "Availability Zone"
COLUMNS = {
    name: name for name in ("name", "description", "enabled", "availability_zone_profile_id")
}


def list_zones(session: Session, caller: Caller, query: ListQuery, settings: Settings) -> Page:
    require(caller, Access.READ, caller.project_id)
    stmt = apply_filters(select(AvailabilityZone), AvailabilityZone, query, filterable=COLUMNS)
    return run_listing(
        session,
        stmt,
        AvailabilityZone,
        query,
        sortable=COLUMNS,
        max_limit=settings.pagination_max_limit,
        marker_key="name",
    )


def get_zone(session: Session, caller: Caller, name: str) -> AvailabilityZone:
    require(caller, Access.READ, caller.project_id)
    zone = session.get(AvailabilityZone, name)
    if zone is None:
        raise NotFound(LABEL, name)
    return zone


def create_zone(session: Session, caller: Caller, data: Mapping[str, Any]) -> AvailabilityZone:
    require(caller, Access.ADMIN, None)
    profile_id = data["availability_zone_profile_id"]
    if session.get(AvailabilityZoneProfile, profile_id) is None:
        raise ValidationException("Invalid availability_zone_profile_id.")
    name = data["name"]
    if session.get(AvailabilityZone, name) is not None:
        raise RecordAlreadyExists("availability zone", name)
    zone = AvailabilityZone(
        name=name,
        description=data.get("description"),
        enabled=data.get("enabled", True),
        availability_zone_profile_id=profile_id,
    )
    session.add(zone)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name won
        raise RecordAlreadyExists("availability zone", name) from exc
    return zone


def update_zone(
    session: Session, caller: Caller, name: str, changes: Mapping[str, Any]
) -> AvailabilityZone:
    require(caller, Access.ADMIN, None)
    if "enabled" in changes and changes["enabled"] is None:
        raise InvalidOption(None, "enabled")
    zone = session.get(AvailabilityZone, name, with_for_update=True)
    if zone is None:
        raise NotFound(LABEL, name)
    for field in ("description", "enabled"):
        if field in changes:
            setattr(zone, field, changes[field])
    session.flush()
    return zone


def delete_zone(session: Session, caller: Caller, name: str) -> None:
    require(caller, Access.ADMIN, None)
    zone = session.get(AvailabilityZone, name, with_for_update=True)
    if zone is None:
        raise NotFound(LABEL, name)
    used = session.scalar(
        select(func.count()).select_from(LoadBalancer).where(LoadBalancer.availability_zone == name)
    )
    if used:
        raise ObjectInUse(LABEL, name)
    session.delete(zone)
    try:
        session.flush()
    except IntegrityError as exc:  # a load balancer took it since the count
        raise ObjectInUse(LABEL, name) from exc
