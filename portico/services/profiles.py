"""Flavor profiles and availability zone profiles: admin-only provider metadata.

Both kinds behave alike in Octavia (name, provider_name, JSON metadata validated by the
provider; metadata and provider frozen while a flavor or zone uses the profile), so one set
of use cases serves both, parameterised by a ``ProfileKind``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portico.db.models import AvailabilityZone, AvailabilityZoneProfile, Flavor, FlavorProfile
from portico.domain.errors import InvalidOption, NotFound, ObjectInUse
from portico.domain.policy import Access, Caller, require
from portico.drivers.providers.base import Provider
from portico.services.listing import ListQuery, Page, apply_filters, run_listing
from portico.services.providers import MetadataKind, validate_metadata
from portico.settings import Settings


@dataclass(frozen=True)
class ProfileKind:
    model: Any
    data_field: str
    label: str  # in "<label> <id> not found."
    in_use_label: str  # in "<label> <id> is in use and cannot be modified."
    metadata: MetadataKind
    user_model: Any  # the table whose rows reference a profile
    user_column: str

    @property
    def columns(self) -> dict[str, str]:
        return {name: name for name in ("id", "name", "provider_name", self.data_field)}


FLAVOR_PROFILES = ProfileKind(
    model=FlavorProfile,
    data_field="flavor_data",
    label="Flavor Profile",
    in_use_label="Flavor profile",
    metadata=MetadataKind.FLAVOR,
    user_model=Flavor,
    user_column="flavor_profile_id",
)
AVAILABILITY_ZONE_PROFILES = ProfileKind(
    model=AvailabilityZoneProfile,
    data_field="availability_zone_data",
    label="Availability Zone Profile",
    in_use_label="Availability Zone Profile",
    metadata=MetadataKind.AVAILABILITY_ZONE,
    user_model=AvailabilityZone,
    user_column="availability_zone_profile_id",
)


@dataclass(frozen=True)
class Catalogue:
    """What profile use cases need beside the session: settings and the provider drivers."""

    settings: Settings
    providers: Mapping[str, Provider]


def list_profiles(
    session: Session, caller: Caller, kind: ProfileKind, query: ListQuery, settings: Settings
) -> Page:
    require(caller, Access.ADMIN, None)
    stmt = apply_filters(select(kind.model), kind.model, query, filterable=kind.columns)
    return run_listing(
        session,
        stmt,
        kind.model,
        query,
        sortable=kind.columns,
        max_limit=settings.pagination_max_limit,
    )


def get_profile(session: Session, caller: Caller, kind: ProfileKind, profile_id: str) -> Any:
    require(caller, Access.ADMIN, None)
    profile = session.get(kind.model, profile_id)
    if profile is None:
        raise NotFound(kind.label, profile_id)
    return profile


def _in_use(session: Session, kind: ProfileKind, profile_id: str) -> bool:
    column = getattr(kind.user_model, kind.user_column)
    count = session.scalar(select(func.count()).where(column == profile_id))
    return bool(count)


def create_profile(
    session: Session, caller: Caller, kind: ProfileKind, cat: Catalogue, data: Mapping[str, Any]
) -> Any:
    require(caller, Access.ADMIN, None)
    raw = data[kind.data_field]
    validate_metadata(cat.settings, cat.providers, data["provider_name"], raw, kind.metadata)
    profile = kind.model(
        id=str(uuid.uuid4()), name=data["name"], provider_name=data["provider_name"]
    )
    setattr(profile, kind.data_field, raw)
    session.add(profile)
    session.flush()
    return profile


def update_profile(
    session: Session,
    caller: Caller,
    kind: ProfileKind,
    cat: Catalogue,
    profile_id: str,
    changes: Mapping[str, Any],
) -> Any:
    """Rename freely; change provider or metadata only while nothing uses the profile."""
    require(caller, Access.ADMIN, None)
    for name in ("name", "provider_name", kind.data_field):
        if name in changes and changes[name] is None:
            raise InvalidOption(None, name)
    profile = session.get(kind.model, profile_id, with_for_update=True)
    if profile is None:
        raise NotFound(kind.label, profile_id)
    if "provider_name" in changes or kind.data_field in changes:
        if _in_use(session, kind, profile_id):
            raise ObjectInUse(kind.in_use_label, profile_id)
        provider = changes.get("provider_name", profile.provider_name)
        raw = changes.get(kind.data_field, getattr(profile, kind.data_field))
        validate_metadata(cat.settings, cat.providers, provider, raw, kind.metadata)
    for name in ("name", "provider_name", kind.data_field):
        if name in changes:
            setattr(profile, name, changes[name])
    session.flush()
    return profile


def delete_profile(session: Session, caller: Caller, kind: ProfileKind, profile_id: str) -> None:
    require(caller, Access.ADMIN, None)
    profile = session.get(kind.model, profile_id, with_for_update=True)
    if profile is None:
        raise NotFound(kind.in_use_label, profile_id)
    if _in_use(session, kind, profile_id):
        raise ObjectInUse(kind.in_use_label, profile_id)
    session.delete(profile)
    try:
        session.flush()
    except IntegrityError as exc:  # a flavor or zone took it since the check
        raise ObjectInUse(kind.in_use_label, profile_id) from exc
