"""Provider ``noop``: completes provisioning at once and runs nothing.

Like Octavia's no-op drivers, objects reach ACTIVE and ``operating_status`` stays as the API
set it (no health manager watches anything). Its flavor and availability zone capabilities
are the few that mean something without amphorae: the topology it records, and a zone name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portico.drivers.providers.base import (
    ApplyResult,
    InvalidMetadata,
    LoadBalancerSnapshot,
    ProviderContext,
)

TOPOLOGIES = ("SINGLE", "ACTIVE_STANDBY")

FLAVOR_CAPABILITIES = {
    "loadbalancer_topology": "The load balancer topology. One of: SINGLE - One amphora per "
    "load balancer. ACTIVE_STANDBY - Two amphora per load balancer.",
}
AVAILABILITY_ZONE_CAPABILITIES = {
    "compute_zone": "The compute availability zone to use for this loadbalancer.",
}


class NoopProvider:
    name = "noop"
    description = "The no-op provider: objects go ACTIVE at once; nothing carries traffic."

    def __init__(self, context: ProviderContext | None = None) -> None:
        del context  # needs nothing

    async def apply(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        return ApplyResult()

    async def delete(self, snapshot: LoadBalancerSnapshot) -> None:
        return None

    def unsupported(self, feature: str) -> bool:
        return False

    def flavor_capabilities(self) -> Mapping[str, str]:
        return FLAVOR_CAPABILITIES

    def availability_zone_capabilities(self) -> Mapping[str, str]:
        return AVAILABILITY_ZONE_CAPABILITIES

    def validate_flavor(self, data: Mapping[str, Any]) -> None:
        topology = data.get("loadbalancer_topology")
        if topology is not None and topology not in TOPOLOGIES:
            raise InvalidMetadata(
                f"loadbalancer_topology {topology!r} is not one of {list(TOPOLOGIES)}"
            )

    def validate_availability_zone(self, data: Mapping[str, Any]) -> None:
        zone = data.get("compute_zone")
        if zone is not None and (not isinstance(zone, str) or not zone):
            raise InvalidMetadata("compute_zone must be a non-empty string")
