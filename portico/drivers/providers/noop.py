"""Provider ``noop``: completes provisioning at once and runs nothing.

Like Octavia's no-op drivers, objects reach ACTIVE and ``operating_status`` stays as the API
set it (no health manager watches anything).
"""

from __future__ import annotations

from portico.drivers.providers.base import ApplyResult, LoadBalancerSnapshot


class NoopProvider:
    name = "noop"
    description = "The no-op provider: objects go ACTIVE at once; nothing carries traffic."

    async def apply(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        return ApplyResult()

    async def delete(self, snapshot: LoadBalancerSnapshot) -> None:
        return None

    def unsupported(self, feature: str) -> bool:
        return False
