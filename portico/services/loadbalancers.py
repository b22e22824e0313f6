"""Load balancer use cases: create (with its whole graph), read, update, delete, stats."""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portico.db.models import (
    Amphora,
    AvailabilityZone,
    Flavor,
    FlavorProfile,
    ListenerStatistics,
    LoadBalancer,
)
from portico.domain.constants import AmphoraStatus
from portico.domain.constants import OperatingStatus as OS
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import (
    ImmutableObject,
    InvalidInput,
    NotFound,
    ProviderUnsupported,
    ValidationException,
)
from portico.domain.network import address_in, pick_address
from portico.domain.policy import Access, Caller, require
from portico.domain.status import DELETABLE_STRICT
from portico.drivers.providers.base import DescribesCapabilities, InvalidMetadata, Provider
from portico.services import failover, graph, provider_checks
from portico.services.changes import bump_generation, lock_load_balancer
from portico.services.listing import ListQuery, Page, owned_columns
from portico.services.loadbalancer_listing import list_loadbalancer_summaries
from portico.services.quotas import check_quota
from portico.services.scope import get_visible
from portico.settings import Settings, SubnetSetting

LOG = logging.getLogger(__name__)

LABEL = "Load Balancer"

# API name -> column, for equality filters and sort keys.
COLUMNS = owned_columns(
    "name",
    "description",
    "provider",
    "flavor_id",
    "availability_zone",
    "vip_address",
    "vip_network_id",
    "vip_subnet_id",
    "vip_port_id",
    "vip_qos_policy_id",
    "vip_vnic_type",
)

_rng = random.SystemRandom()


@dataclass(frozen=True)
class Created:
    lb: LoadBalancer
    full_graph: bool


def list_loadbalancers(
    session: Session, caller: Caller, query: ListQuery, settings: Settings
) -> Page:
    """One page of ``LoadBalancerSummary`` rows (columns, not ORM objects)."""
    return list_loadbalancer_summaries(session, caller, query, settings, columns=COLUMNS)


def get_loadbalancer(session: Session, caller: Caller, lb_id: str) -> LoadBalancer:
    return get_visible(session, LoadBalancer, lb_id, caller, label=LABEL)


def _subnet(settings: Settings, subnet_id: str) -> SubnetSetting:
    for subnet in settings.subnets:
        if subnet.id == subnet_id:
            return subnet
    raise InvalidInput(f"Subnet {subnet_id} not found.")


def _subnet_of_network(settings: Settings, network_id: str) -> SubnetSetting:
    for subnet in settings.subnets:
        if subnet.network_id == network_id:
            return subnet
    raise InvalidInput(f"Network {network_id} not found.")


def _place_vip(
    session: Session, settings: Settings, lb: LoadBalancer, data: Mapping[str, Any]
) -> None:
    """Resolve the VIP's subnet, network and address the way Octavia's network driver does."""
    if data.get("vip_port_id"):
        raise InvalidInput(f"Port {data['vip_port_id']} not found.")
    if data.get("vip_subnet_id"):
        subnet = _subnet(settings, data["vip_subnet_id"])
        if data.get("vip_network_id") and data["vip_network_id"] != subnet.network_id:
            raise ValidationException("Subnet does not belong to the VIP network.")
    elif data.get("vip_network_id"):
        subnet = _subnet_of_network(settings, data["vip_network_id"])
    else:
        raise ValidationException(
            "VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id."
        )
    requested = data.get("vip_address")
    if requested:
        if not address_in(subnet.cidr, requested):
            raise ValidationException(
                f"VIP address {requested} is not in subnet {subnet.id} ({subnet.cidr})."
            )
        address = requested
    else:
        # Amphorae's own addresses on the subnet (member legs, VRRP addresses) are taken too.
        legs = {
            address
            for row_legs in session.scalars(
                select(Amphora.network_legs).where(Amphora.status != AmphoraStatus.DELETED)
            )
            for leg_subnet, address in (row_legs or {}).items()
            if leg_subnet == subnet.id
        }

        def taken(candidate: str) -> bool:
            return candidate in legs or (
                session.scalar(
                    select(LoadBalancer.id).where(
                        LoadBalancer.vip_subnet_id == subnet.id,
                        LoadBalancer.vip_address == candidate,
                    )
                )
                is not None
            )

        address = pick_address(subnet.cidr, taken=taken, rng=_rng)
    lb.vip_subnet_id = subnet.id
    lb.vip_network_id = subnet.network_id
    lb.vip_address = address
    lb.vip_port_id = str(uuid.uuid4())


def _check_catalogue(
    session: Session, settings: Settings, data: Mapping[str, Any]
) -> tuple[str, str | None]:
    """Octavia's checks, in its order: the provider (a flavor implies its profile's), the
    flavor, the zone. Returns the provider and the topology the flavor asks for."""
    flavor_id = data.get("flavor_id")
    flavor = session.get(Flavor, flavor_id) if flavor_id else None
    if flavor_id and flavor is None:
        raise ValidationException("Invalid flavor_id.")
    provider = data.get("provider")
    metadata: dict[str, Any] = {}
    if flavor is not None:
        profile = session.get(FlavorProfile, flavor.flavor_profile_id)
        if profile is not None:
            if provider and provider != profile.provider_name:
                raise InvalidInput(
                    f"Flavor '{flavor_id}' is not compatible with provider '{provider}'"
                )
            provider = profile.provider_name
            metadata = _decoded(profile.flavor_data)
        if not flavor.enabled:
            raise InvalidInput(
                f"The selected flavor is not allowed in this deployment: {flavor_id}"
            )
    zone = data.get("availability_zone")
    if zone:
        az = session.get(AvailabilityZone, zone)
        if az is None:
            raise ValidationException("Invalid availability zone.")
        if not az.enabled:
            raise InvalidInput(
                f"The selected availability_zone is not allowed in this deployment: {zone}"
            )
    provider = provider or settings.default_provider_driver
    if provider not in settings.enabled_provider_drivers:
        raise InvalidInput(f"Provider '{provider}' is not enabled.")
    topology = metadata.get("loadbalancer_topology")
    return provider, topology if isinstance(topology, str) else None


def _check_topology(providers: Mapping[str, Provider], name: str, topology: str | None) -> None:
    """The flavor's topology, checked again against what the deployment runs now (the
    compute driver may have changed since the flavor was made): ACTIVE_STANDBY on a driver
    without VRRP is a 400 from the provider."""
    provider = providers.get(name)
    if topology is None or not isinstance(provider, DescribesCapabilities):
        return
    try:
        provider.validate_flavor({"loadbalancer_topology": topology})
    except InvalidMetadata as exc:
        raise ProviderUnsupported(name, str(exc)) from exc


def _decoded(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def create_loadbalancer(
    session: Session,
    caller: Caller,
    settings: Settings,
    data: Mapping[str, Any],
    *,
    providers: Mapping[str, Provider],
) -> Created:
    """Record a new load balancer (and any graph under it) as PENDING_CREATE."""
    project = data.get("project_id") or data.get("tenant_id") or caller.project_id
    if project is None:
        raise InvalidInput("Missing project ID in request where one is required.")
    require(caller, Access.WRITE, project)
    provider, topology = _check_catalogue(session, settings, data)
    _check_topology(providers, provider, topology)
    provider_checks.refuse_unsupported(providers, provider, provider_checks.graph_features(data))
    check_quota(session, settings, project, "load_balancer")
    lb = LoadBalancer(
        id=str(uuid.uuid4()),
        project_id=project,
        name=data.get("name"),
        description=data.get("description"),
        admin_state_up=data.get("admin_state_up", True),
        provider=provider,
        topology=topology or "SINGLE",
        flavor_id=data.get("flavor_id"),
        availability_zone=data.get("availability_zone"),
        vip_qos_policy_id=data.get("vip_qos_policy_id"),
        vip_sg_ids=list(data.get("vip_sg_ids") or []),
        additional_vips=[dict(v) for v in data.get("additional_vips") or []],
        provisioning_status=PS.PENDING_CREATE,
        operating_status=OS.OFFLINE,
        generation=1,
        applied_generation=0,
    )
    _place_vip(session, settings, lb, data)
    lb.set_tags(list(data.get("tags") or []))
    session.add(lb)
    session.flush()
    listeners = data.get("listeners") or []
    pools = data.get("pools") or []
    if listeners or pools:
        graph.build(session, caller, settings, lb, listeners=listeners, pools=pools)
    LOG.info(
        "%s load balancer requested by project %s (provider %s, %d listeners, %d pools)",
        lb.id,
        project,
        provider,
        len(listeners),
        len(pools),
    )
    return Created(lb=lb, full_graph=bool(listeners or pools))


UPDATABLE = ("name", "description", "admin_state_up", "vip_qos_policy_id", "vip_sg_ids")


def update_loadbalancer(
    session: Session, caller: Caller, settings: Settings, lb_id: str, changes: Mapping[str, Any]
) -> LoadBalancer:
    lb = lock_load_balancer(session, lb_id)
    require(caller, Access.WRITE, lb.project_id)
    if lb.provisioning_status == PS.PENDING_DELETE or (
        settings.strict_pending_lock and lb.provisioning_status != PS.ACTIVE
    ):
        raise ImmutableObject(LABEL, lb_id)
    for name in UPDATABLE:
        if name in changes:
            value = changes[name]
            if name == "admin_state_up" and value is None:
                value = True
            if name == "vip_sg_ids":
                value = list(value or [])
            setattr(lb, name, value)
    if "tags" in changes:
        lb.set_tags(list(changes["tags"] or []))
    bump_generation(session, lb)
    return lb


def delete_loadbalancer(
    session: Session, caller: Caller, settings: Settings, lb_id: str, *, cascade: bool
) -> None:
    lb = lock_load_balancer(session, lb_id)
    require(caller, Access.WRITE, lb.project_id)
    if lb.provisioning_status == PS.PENDING_DELETE or (
        settings.strict_pending_lock and lb.provisioning_status not in DELETABLE_STRICT
    ):
        raise ImmutableObject(LABEL, lb_id)
    live = [li for li in lb.listeners] + [p for p in lb.pools]
    if live and not cascade:
        raise ValidationException(f"Cannot delete Load Balancer {lb_id} - it has children")
    graph.mark_deleted(lb)
    lb.provisioning_status = PS.PENDING_DELETE
    bump_generation(session, lb)
    LOG.info("%s load balancer marked for deletion (cascade %s)", lb.id, cascade)


def failover_loadbalancer(session: Session, caller: Caller, settings: Settings, lb_id: str) -> None:
    """Replace the load balancer's amphorae (ACTIVE or ERROR, as Octavia); with noop, a pass.

    Working amphorae keep serving until their replacements do (make before break).
    """
    lb = lock_load_balancer(session, lb_id)
    require(caller, Access.ADMIN, lb.project_id)
    if lb.provisioning_status not in DELETABLE_STRICT:
        raise ImmutableObject(LABEL, lb_id)
    serving = session.scalars(
        select(Amphora).where(
            Amphora.load_balancer_id == lb_id,
            Amphora.status.in_((AmphoraStatus.ALLOCATED, AmphoraStatus.FAILOVER_STOPPED)),
        )
    )
    failover.retire(session, serving, "load balancer failover requested")
    bump_generation(session, lb)


def loadbalancer_stats(session: Session, caller: Caller, lb_id: str) -> dict[str, int]:
    lb = get_loadbalancer(session, caller, lb_id)
    ids = [li.id for li in lb.listeners]
    return sum_stats(session, ids)


def sum_stats(session: Session, listener_ids: list[str]) -> dict[str, int]:
    """Counters summed over listeners and their amphorae (zeros when nothing ran yet)."""
    cols = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")
    if not listener_ids:
        return dict.fromkeys(cols, 0)
    row = session.execute(
        select(*(func.coalesce(func.sum(getattr(ListenerStatistics, c)), 0) for c in cols)).where(
            ListenerStatistics.listener_id.in_(listener_ids)
        )
    ).one()
    return {c: int(v) for c, v in zip(cols, row, strict=True)}


def require_found(lb: LoadBalancer | None, lb_id: str) -> LoadBalancer:
    if lb is None:
        raise NotFound(LABEL, lb_id)
    return lb
