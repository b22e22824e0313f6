"""The provider contract the reconciler drives, and the values it exchanges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from portico.domain.desired import LoadBalancerSpec
from portico.settings import Settings


@dataclass(frozen=True)
class LoadBalancerSnapshot:
    """The desired state of one load balancer at one generation."""

    id: str
    provider: str
    generation: int
    deleting: bool
    topology: str
    # Everything that should run (PENDING_DELETE objects left out), never ORM rows.
    spec: LoadBalancerSpec


@dataclass(frozen=True)
class ProviderContext:
    """What a provider is built with, by the composition root."""

    settings: Settings
    # The shared ``portico.db.engine.Database``: typed loosely because drivers sit beside
    # the database layer, not above it; providers that keep records cast it.
    database: Any = None


@dataclass(frozen=True)
class ApplyResult:
    """What the provider observed; operating statuses by object id (absent: unchanged)."""

    operating_status: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """Converges load balancers. Raise ``TransientError`` to retry, ``PermanentError`` to fail."""

    name: str
    description: str

    async def apply(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        """Make the running load balancer match ``snapshot``; idempotent."""
        ...

    async def delete(self, snapshot: LoadBalancerSnapshot) -> None:
        """Remove everything the provider runs for the load balancer; idempotent."""
        ...

    def unsupported(self, feature: str) -> bool:
        """Whether ``feature`` (e.g. ``lb_algorithm:SOURCE_IP_PORT``) is refused (HTTP 501)."""
        ...


@runtime_checkable
class DescribesCapabilities(Protocol):
    """Optional: a provider that accepts flavor and availability zone metadata.

    Kept apart from ``Provider`` so a provider without flavors still satisfies the core
    contract; the API answers 501 for such a provider, as Octavia does. Each mapping is
    metadata key -> human description; ``validate_*`` raises ``InvalidMetadata`` for a value
    the provider cannot honour (unknown keys are refused before they are called).
    """

    def flavor_capabilities(self) -> Mapping[str, str]: ...

    def availability_zone_capabilities(self) -> Mapping[str, str]: ...

    def validate_flavor(self, data: Mapping[str, Any]) -> None: ...

    def validate_availability_zone(self, data: Mapping[str, Any]) -> None: ...


class InvalidMetadata(ValueError):
    """Flavor or availability zone metadata a provider refuses; the text is shown to users."""
