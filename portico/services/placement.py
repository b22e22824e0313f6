"""Where a load balancer's amphorae should run: image, compute driver and compute zone.

A load balancer's availability zone (Octavia's field) names a profile whose
``availability_zone_data`` may carry ``compute_zone`` (Octavia's key) and ``compute_driver``
(a portico extension: one controller runs several compute drivers, chosen per zone). An
amphora records the driver and zone it was booted on (``compute_driver``, ``cached_zone``);
one that differs from what its load balancer resolves to now is off target, exactly as one
of another image is, and the provider replaces it through the failover path. So ``migrate``
only writes the target, and a controller that dies midway leaves rows the next pass resumes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.models import AvailabilityZone, AvailabilityZoneProfile, LoadBalancer

# The availability_zone_data key naming the compute driver (portico extension).
COMPUTE_DRIVER_KEY = "compute_driver"
COMPUTE_ZONE_KEY = "compute_zone"


@dataclass(frozen=True)
class Placement:
    """A compute driver (an entry point name) and a zone of it (None: the driver's default)."""

    compute_driver: str
    compute_zone: str | None = None


@dataclass(frozen=True)
class Target:
    """What a load balancer's amphorae should be: ``image`` None means "as booted" (no
    image was asked, the controller's ``amphora_image`` for new ones)."""

    placement: Placement
    image: str | None = None


def zone_data(session: Session, name: str) -> dict[str, Any] | None:
    """The decoded ``availability_zone_data`` of the zone ``name``; None: no such zone."""
    zone = session.get(AvailabilityZone, name)
    if zone is None:
        return None
    profile = session.get(AvailabilityZoneProfile, zone.availability_zone_profile_id)
    if profile is None:
        return {}
    try:
        value = json.loads(profile.availability_zone_data)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def placement_of(data: dict[str, Any] | None, *, default_driver: str) -> Placement:
    """The placement zone metadata asks for (None or {}: the default driver, no zone)."""
    data = data or {}
    driver = data.get(COMPUTE_DRIVER_KEY)
    zone = data.get(COMPUTE_ZONE_KEY)
    return Placement(
        compute_driver=driver if isinstance(driver, str) and driver else default_driver,
        compute_zone=zone if isinstance(zone, str) and zone else None,
    )


def target(session: Session, lb_id: str, *, default_driver: str) -> Target:
    """What the load balancer's amphorae should be, from its row and its zone's profile.

    A zone deleted under it cannot happen (the foreign key and the zone's in-use check), so
    a missing one reads as no zone.
    """
    row = session.execute(
        select(LoadBalancer.amphora_image, LoadBalancer.availability_zone).where(
            LoadBalancer.id == lb_id
        )
    ).one_or_none()
    if row is None:
        return Target(Placement(default_driver))
    image, zone = row
    data = zone_data(session, zone) if zone else None
    return Target(placement_of(data, default_driver=default_driver), image=image)
