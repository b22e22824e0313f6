"""What the amphora provider accepts in flavors and availability zones, and its checks.

Octavia's amphora driver names these keys; ``compute_driver`` is a portico extension that
places a zone's amphorae on another of the installed compute drivers (services/placement.py).
Kept out of the provider so its checks read alone and the provider stays about converging.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portico.domain.constants import Topology
from portico.domain.errors import InvalidInput
from portico.drivers.compute.base import ComputeDriver
from portico.drivers.compute.registry import installed_compute_drivers
from portico.drivers.providers.base import InvalidMetadata
from portico.services.placement import COMPUTE_DRIVER_KEY, COMPUTE_ZONE_KEY

FLAVOR_CAPABILITIES = {
    "loadbalancer_topology": "The load balancer topology. One of: SINGLE - One amphora per "
    "load balancer. ACTIVE_STANDBY - Two amphora per load balancer.",
    "compute_flavor": "The compute driver flavor ID.",
    "amp_image_tag": "The amphora image (agent version) to boot.",
}
AVAILABILITY_ZONE_CAPABILITIES = {
    COMPUTE_ZONE_KEY: "The compute availability zone to use for this loadbalancer.",
    COMPUTE_DRIVER_KEY: "The compute driver that boots this zone's amphorae, one of those "
    "installed (portico extension; default: the controller's compute_driver).",
}
NO_VRRP = (
    "loadbalancer_topology ACTIVE_STANDBY needs a compute driver whose amphorae share a "
    "network segment for VRRP (netns); compute driver {driver!r} cannot run it"
)


def validate_flavor(data: Mapping[str, Any], *, compute: ComputeDriver) -> None:
    """Refuse flavor metadata the deployment (its default ``compute`` driver) cannot run."""
    topology = data.get("loadbalancer_topology")
    if topology is not None and topology not in (Topology.SINGLE, Topology.ACTIVE_STANDBY):
        raise InvalidMetadata(
            f"loadbalancer_topology {topology!r} is not one of SINGLE, ACTIVE_STANDBY"
        )
    if topology == Topology.ACTIVE_STANDBY and not compute.vrrp:
        # The operator's deployment cannot run it: a clear 400, not "unsupported".
        raise InvalidInput(NO_VRRP.format(driver=compute.name))
    for key in ("compute_flavor", "amp_image_tag"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidMetadata(f"{key} must be a non-empty string")


def validate_availability_zone(data: Mapping[str, Any]) -> None:
    """Refuse a zone that is not a name, or a compute driver that is not installed."""
    zone = data.get(COMPUTE_ZONE_KEY)
    if zone is not None and (not isinstance(zone, str) or not zone):
        raise InvalidMetadata(f"{COMPUTE_ZONE_KEY} must be a non-empty string")
    driver = data.get(COMPUTE_DRIVER_KEY)
    installed = installed_compute_drivers()
    if driver is not None and driver not in installed:
        raise InvalidMetadata(
            f"{COMPUTE_DRIVER_KEY} {driver!r} is not one of the installed compute drivers: "
            + ", ".join(sorted(installed))
        )
