"""The compute driver contract: boot, watch and remove amphorae, and plug their networks.

Shaped for drivers whose instances take time to appear (a Nova VM, a Kubernetes pod): ``create``
returns as soon as the instance is requested, ``status`` says when it runs, and the
controller waits for the agent to answer. Every call is idempotent: the reconciler may
repeat any of them after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class InstanceStatus(StrEnum):
    BUILDING = "BUILDING"
    RUNNING = "RUNNING"
    GONE = "GONE"  # never existed, deleted, or died: the controller replaces it
    ERROR = "ERROR"


@dataclass(frozen=True)
class BootFiles:
    """What an amphora needs at boot to serve its agent API (Octavia's config drive)."""

    ca_pem: bytes
    certificate_pem: bytes
    private_key_pem: bytes


@dataclass(frozen=True)
class AmphoraRequest:
    amphora_id: str
    boot_files: BootFiles
    load_balancer_id: str | None = None
    availability_zone: str | None = None
    # The image or agent version to run (rotation onto a new version picks it).
    image: str | None = None


@dataclass(frozen=True)
class Instance:
    """A booted (or booting) amphora as the driver knows it."""

    compute_id: str
    # host:port of the agent's HTTPS API, reachable from the controller.
    agent_endpoint: str


@dataclass(frozen=True)
class NetworkPlug:
    """An address to configure on an amphora: the VIP, or its leg on a member subnet."""

    address: str
    subnet_cidr: str
    network_id: str | None = None


@runtime_checkable
class ComputeDriver(Protocol):
    name: str

    async def create(self, request: AmphoraRequest) -> Instance:
        """Start booting an amphora; idempotent for the same amphora id."""
        ...

    async def status(self, compute_id: str) -> InstanceStatus: ...

    async def delete(self, compute_id: str) -> None:
        """Remove the amphora and everything made for it; idempotent."""
        ...

    async def plug_vip(self, compute_id: str, vip: NetworkPlug) -> None:
        """Make the VIP reachable on the amphora (an interface, an address, a route)."""
        ...

    async def unplug_vip(self, compute_id: str, vip: NetworkPlug) -> None: ...

    async def plug_network(self, compute_id: str, network: NetworkPlug) -> None:
        """Give the amphora a leg on a member network, so members behind it are reachable."""
        ...

    async def unplug_network(self, compute_id: str, network: NetworkPlug) -> None: ...

    async def instances(self) -> Sequence[str]:
        """Compute ids of every amphora this driver runs (housekeeping reaps orphans)."""
        ...
