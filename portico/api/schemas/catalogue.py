"""Bodies and views of the operator catalogue: flavors, availability zones and their profiles.

Octavia shows a missing name or description as ``""``; profile metadata travels as a JSON
string of at most 4096 characters (decoded and checked by the service).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from portico.api.schemas.common import Envelope, Strict, Text255, Uuid
from portico.db.models import AvailabilityZone, Flavor
from portico.services.profiles import ProfileKind

Metadata = Annotated[str, StringConstraints(max_length=4096)]
Name255 = Annotated[Text255, StringConstraints(min_length=1)]


class FlavorProfileCreate(Strict):
    name: Text255
    provider_name: Text255
    flavor_data: Metadata


class FlavorProfileUpdate(Strict):
    name: Text255 | None = None
    provider_name: Text255 | None = None
    flavor_data: Metadata | None = None


class FlavorProfileCreateBody(Envelope):
    flavorprofile: FlavorProfileCreate


class FlavorProfileUpdateBody(Envelope):
    flavorprofile: FlavorProfileUpdate = Field(default_factory=FlavorProfileUpdate)


class AvailabilityZoneProfileCreate(Strict):
    name: Text255
    provider_name: Text255
    availability_zone_data: Metadata


class AvailabilityZoneProfileUpdate(Strict):
    name: Text255 | None = None
    provider_name: Text255 | None = None
    availability_zone_data: Metadata | None = None


class AvailabilityZoneProfileCreateBody(Envelope):
    availability_zone_profile: AvailabilityZoneProfileCreate


class AvailabilityZoneProfileUpdateBody(Envelope):
    availability_zone_profile: AvailabilityZoneProfileUpdate = Field(
        default_factory=AvailabilityZoneProfileUpdate
    )


class FlavorCreate(Strict):
    name: Text255
    description: Text255 | None = None
    enabled: bool = True
    flavor_profile_id: Uuid


class FlavorUpdate(Strict):
    name: Text255 | None = None
    description: Text255 | None = None
    enabled: bool | None = None


class FlavorCreateBody(Envelope):
    flavor: FlavorCreate


class FlavorUpdateBody(Envelope):
    flavor: FlavorUpdate = Field(default_factory=FlavorUpdate)


class AvailabilityZoneCreate(Strict):
    name: Name255
    description: Text255 | None = None
    enabled: bool = True
    availability_zone_profile_id: Uuid


class AvailabilityZoneUpdate(Strict):
    description: Text255 | None = None
    enabled: bool | None = None


class AvailabilityZoneCreateBody(Envelope):
    availability_zone: AvailabilityZoneCreate


class AvailabilityZoneUpdateBody(Envelope):
    availability_zone: AvailabilityZoneUpdate = Field(default_factory=AvailabilityZoneUpdate)


def profile_view(kind: ProfileKind, profile: Any) -> dict[str, Any]:
    return {
        "id": profile.id,
        "name": profile.name or "",
        "provider_name": profile.provider_name,
        kind.data_field: getattr(profile, kind.data_field),
    }


def flavor_view(flavor: Flavor) -> dict[str, Any]:
    return {
        "id": flavor.id,
        "name": flavor.name or "",
        "description": flavor.description or "",
        "enabled": flavor.enabled,
        "flavor_profile_id": flavor.flavor_profile_id,
    }


def zone_view(zone: AvailabilityZone) -> dict[str, Any]:
    return {
        "name": zone.name,
        "description": zone.description or "",
        "enabled": zone.enabled,
        "availability_zone_profile_id": zone.availability_zone_profile_id,
    }
