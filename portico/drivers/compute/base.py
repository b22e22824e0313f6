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

from portico.domain.errors import PermanentError


class BootRefused(PermanentError):
    """The driver refused the request before creating anything (nothing to delete)."""


class ImageUnavailable(BootRefused):
    """The requested image cannot be booted; raised before anything was created."""


class ZoneUnavailable(BootRefused):
    """The requested compute zone cannot be booted in; raised before anything was created."""


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
class HeartbeatSetup:
    """Where and how often the amphora's agent sends heartbeats, and its signing key."""

    # "host:port" of each health service, as the controller's host reaches it; a driver
    # whose amphorae reach the host by another address rewrites loopback hosts.
    targets: tuple[str, ...]
    key: bytes
    interval: float = 1.0

    def agent_fields(self, *, host: str | None = None) -> dict[str, object]:
        """The agent config's heartbeat fields; ``host`` replaces loopback target hosts."""
        targets = list(self.targets)
        if host is not None:
            targets = [_rehost(target, host) for target in targets]
        return {
            "heartbeat_targets": targets,
            "heartbeat_interval": self.interval,
            "heartbeat_key_hex": self.key.hex(),
        }


def _rehost(target: str, host: str) -> str:
    name, _, port = target.rpartition(":")
    if name.strip("[]") in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):
        return f"{host}:{port}"
    return target


@dataclass(frozen=True)
class AmphoraRequest:
    amphora_id: str
    boot_files: BootFiles
    load_balancer_id: str | None = None
    availability_zone: str | None = None
    # The image or agent version to run (rotation onto a new version picks it).
    image: str | None = None
    # None: the amphora sends no heartbeats (no health service to send them to).
    heartbeat: HeartbeatSetup | None = None


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
    # Whether amphorae can form ACTIVE_STANDBY pairs: two of them share the VIP's network
    # segment, so keepalived can move the VIP between them.
    vrrp: bool

    async def create(self, request: AmphoraRequest) -> Instance:
        """Start booting an amphora; idempotent for the same amphora id."""
        ...

    async def status(self, compute_id: str) -> InstanceStatus: ...

    async def delete(self, compute_id: str, *, graceful: bool = True) -> None:
        """Remove the amphora and everything made for it; idempotent.

        ``graceful=False``: the amphora failed; stop it at once rather than let it finish
        what it serves (a frozen one would only hold the caller up).
        """
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
        """Compute ids of every amphora this driver made and has not removed, from its own
        records (housekeeping reaps those no amphora row knows)."""
        ...

    async def age(self, compute_id: str) -> float | None:
        """Seconds since the instance was last (re)created or changed; None: unknown.

        Housekeeping leaves younger instances alone: a controller may be booting one whose
        row it wrote a moment ago.
        """
        ...
