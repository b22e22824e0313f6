"""Flavors: named, operator-defined bundles of provider settings that users pick at create.

Everyone who may read load balancers may read flavors; only admins write them. A flavor's
profile is fixed once created; a flavor used by a load balancer cannot be deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portico.db.models import Flavor, FlavorProfile, LoadBalancer
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

LABEL = "Flavor"
COLUMNS = {name: name for name in ("id", "name", "description", "enabled", "flavor_profile_id")}


def list_flavors(session: Session, caller: Caller, query: ListQuery, settings: Settings) -> Page:
    require(caller, Access.READ, caller.project_id)
    stmt = apply_filters(select(Flavor), Flavor, query, filterable=COLUMNS)
    return run_listing(
        session, stmt, Flavor, query, sortable=COLUMNS, max_limit=settings.pagination_max_limit
    )


def get_flavor(session: Session, caller: Caller, flavor_id: str) -> Flavor:
    require(caller, Access.READ, caller.project_id)
    flavor = session.get(Flavor, flavor_id)
    if flavor is None:
        raise NotFound(LABEL, flavor_id)
    return flavor


def _name_taken(session: Session, name: str, other_than: str | None = None) -> bool:
    stmt = select(func.count()).select_from(Flavor).where(Flavor.name == name)
    if other_than is not None:
        stmt = stmt.where(Flavor.id != other_than)
    return bool(session.scalar(stmt))


def _flush_unique(session: Session, name: str) -> None:
    """Flush; a concurrent create of the same name loses on the unique index, not with 500."""
    try:
        session.flush()
    except IntegrityError as exc:  # the unit of work rolls back as the error propagates
        raise RecordAlreadyExists("flavor", name) from exc


def create_flavor(session: Session, caller: Caller, data: Mapping[str, Any]) -> Flavor:
    require(caller, Access.ADMIN, None)
    profile_id = data["flavor_profile_id"]
    if session.get(FlavorProfile, profile_id) is None:
        raise ValidationException("Invalid flavor_profile_id.")
    if _name_taken(session, data["name"]):
        raise RecordAlreadyExists("flavor", data["name"])
    flavor = Flavor(
        id=str(uuid.uuid4()),
        name=data["name"],
        description=data.get("description"),
        enabled=data.get("enabled", True),
        flavor_profile_id=profile_id,
    )
    session.add(flavor)
    _flush_unique(session, data["name"])
    return flavor


def update_flavor(
    session: Session, caller: Caller, flavor_id: str, changes: Mapping[str, Any]
) -> Flavor:
    require(caller, Access.ADMIN, None)
    for name in ("name", "enabled"):
        if name in changes and changes[name] is None:
            raise InvalidOption(None, name)
    flavor = session.get(Flavor, flavor_id, with_for_update=True)
    if flavor is None:
        raise NotFound(LABEL, flavor_id)
    if "name" in changes and _name_taken(session, changes["name"], other_than=flavor_id):
        raise RecordAlreadyExists("flavor", changes["name"])
    for name in ("name", "description", "enabled"):
        if name in changes:
            setattr(flavor, name, changes[name])
    _flush_unique(session, flavor.name)
    return flavor


def delete_flavor(session: Session, caller: Caller, flavor_id: str) -> None:
    require(caller, Access.ADMIN, None)
    flavor = session.get(Flavor, flavor_id, with_for_update=True)
    if flavor is None:
        raise NotFound(LABEL, flavor_id)
    used = session.scalar(
        select(func.count()).select_from(LoadBalancer).where(LoadBalancer.flavor_id == flavor_id)
    )
    if used:
        raise ObjectInUse(LABEL, flavor_id)
    session.delete(flavor)
    try:
        session.flush()
    except IntegrityError as exc:  # a load balancer took it since the count
        raise ObjectInUse(LABEL, flavor_id) from exc
