"""Upgrades recorded as desired state: a load balancer's target, an amphora's settings.

``migrate`` names the image a load balancer's amphorae should run and/or the availability
zone they should run in (its profile resolves to a compute driver and zone, see
``placement``); the provider replaces those off target through the failover path (make
before break, one of a pair per pass), so a controller that dies midway leaves a target the
next pass resumes. ``configure`` asks for the agent settings (heartbeat targets) of the
controller that was called to be pushed to an amphora: how amphorae move to a new
controller's health services.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.models import Amphora, AvailabilityZone, AvailabilityZoneProfile, LoadBalancer
from portico.domain.constants import AmphoraStatus, Topology
from portico.domain.errors import Conflict, ImmutableObject, InvalidInput, ValidationException
from portico.domain.policy import Access, Caller, require
from portico.domain.status import DELETABLE_STRICT, MUTABLE_STRICT
from portico.drivers.compute.registry import runs_vrrp
from portico.drivers.providers.base import Provider
from portico.services.amphorae import get_amphora
from portico.services.changes import bump_generation, lock_load_balancer
from portico.services.placement import COMPUTE_DRIVER_KEY
from portico.services.providers import MetadataKind, validate_metadata
from portico.settings import Settings

# Agent API versions (the newest an amphora serves) without ``/1.1/settings``. A version
# not listed is taken to have them (versions only add; see docs/agent-api.md).
WITHOUT_SETTINGS = ("1.0",)
_CONFIGURABLE = (AmphoraStatus.ALLOCATED, AmphoraStatus.READY)


@dataclass(frozen=True)
class MigrationTarget:
    """Where a migrate moves a load balancer; a field left out keeps what it has."""

    image: str | None = None
    # Whether the availability zone changes, and to which (None: no zone, the defaults).
    moves_zone: bool = False
    availability_zone: str | None = None


def migrate(
    session: Session,
    caller: Caller,
    lb_id: str,
    target: MigrationTarget,
    *,
    settings: Settings,
    providers: Mapping[str, Provider],
) -> None:
    """Move the load balancer onto amphorae of ``target`` (409 unless ACTIVE or ERROR).

    ERROR is accepted, as for a failover: migrating back is how a failed rotation or
    migration is undone. The zone is checked as Octavia checks one on create (400 when it
    does not exist or is disabled), and must be of the load balancer's provider, which
    must still accept its metadata (a compute driver uninstalled since: 501).
    """
    require(caller, Access.ADMIN, None)
    lb = lock_load_balancer(session, lb_id)
    if lb.provisioning_status not in DELETABLE_STRICT:
        raise ImmutableObject("Load Balancer", lb_id)
    if target.moves_zone and target.availability_zone is not None:
        _check_zone(session, lb, target.availability_zone, settings, providers)
    if target.image is not None:
        lb.amphora_image = target.image
    if target.moves_zone:
        lb.availability_zone = target.availability_zone
    bump_generation(session, lb)


def _check_zone(
    session: Session,
    lb: LoadBalancer,
    name: str,
    settings: Settings,
    providers: Mapping[str, Provider],
) -> None:
    zone = session.get(AvailabilityZone, name)
    if zone is None:
        raise ValidationException("Invalid availability zone.")
    if not zone.enabled:
        raise InvalidInput(
            f"The selected availability_zone is not allowed in this deployment: {name}"
        )
    profile = session.get(AvailabilityZoneProfile, zone.availability_zone_profile_id)
    if profile is None or profile.provider_name != lb.provider:
        raise InvalidInput(
            f"Availability zone '{name}' is not compatible with provider '{lb.provider}'"
        )
    data = validate_metadata(
        settings,
        providers,
        lb.provider,
        profile.availability_zone_data,
        MetadataKind.AVAILABILITY_ZONE,
    )
    driver = data.get(COMPUTE_DRIVER_KEY)
    if lb.topology == Topology.ACTIVE_STANDBY and driver and not runs_vrrp(driver):
        # Refused here rather than left to the provider, which could only go to ERROR.
        # (Without the key the default driver places them, which runs the pair already.)
        raise InvalidInput(
            f"Availability zone '{name}' places amphorae on compute driver '{driver}', "
            "which cannot run ACTIVE_STANDBY (no shared segment for VRRP)"
        )


def configure(
    session: Session, caller: Caller, amphora_id: str, *, targets: list[str]
) -> str | None:
    """Ask for ``targets`` to be pushed to the amphora's agent; returns its load balancer.

    409 when the amphora does not serve (booting, failed, going), when its load balancer
    is PENDING_*, or when its agent speaks only API 1.0, which cannot take settings.
    """
    amphora = get_amphora(session, caller, amphora_id)
    lb_id = amphora.load_balancer_id
    lb = lock_load_balancer(session, lb_id) if lb_id is not None else None
    session.refresh(amphora)  # under the load balancer's lock, as every writer reads it
    if amphora.status not in _CONFIGURABLE:
        raise ImmutableObject("Amphora", amphora_id)
    if lb is not None and lb.provisioning_status not in MUTABLE_STRICT:
        raise ImmutableObject("Load Balancer", lb.id)
    if amphora.api_version in WITHOUT_SETTINGS:
        raise Conflict(
            f"Amphora {amphora_id} speaks agent API {amphora.api_version}, which cannot be "
            "configured (needs 1.1): fail it over onto a newer image instead"
        )
    amphora.agent_config_pending = list(targets)
    if lb is not None:
        bump_generation(session, lb)
    return lb_id


def request_pass(session: Session, lb_id: str) -> None:
    """Another pass for the load balancer (a pair's second amphora still to replace)."""
    lb = session.scalar(select(LoadBalancer).where(LoadBalancer.id == lb_id).with_for_update())
    if lb is not None:
        bump_generation(session, lb)


def settings_pushed(session: Session, amphora_id: str, *, targets: tuple[str, ...]) -> None:
    """Clear the request once ``targets`` were pushed, unless a newer one replaced it."""
    amphora = session.scalar(select(Amphora).where(Amphora.id == amphora_id).with_for_update())
    if amphora is not None and tuple(amphora.agent_config_pending or ()) == targets:
        amphora.agent_config_pending = None
