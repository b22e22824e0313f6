"""What an amphora can run, as the renderer needs it (from the agent's ``/1.0/info``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from portico.wire.capabilities import Capability


@dataclass(frozen=True)
class RenderTarget:
    """The amphora a configuration is rendered for."""

    haproxy_version: tuple[int, ...] = (2, 6)
    capabilities: frozenset[str] = frozenset()

    @classmethod
    def from_info(cls, version: str | None, capabilities: Iterable[str]) -> RenderTarget:
        parts: list[int] = []
        for piece in (version or "").split("-")[0].split("."):
            if not piece.isdigit():
                break
            parts.append(int(piece))
        return cls(haproxy_version=tuple(parts), capabilities=frozenset(capabilities))

    def has(self, capability: Capability) -> bool:
        return capability.value in self.capabilities


# Everything Debian 12's haproxy 2.6 reports; the default for tests and golden files.
FULL = RenderTarget(
    haproxy_version=(2, 6, 12),
    capabilities=frozenset(c.value for c in Capability),
)
