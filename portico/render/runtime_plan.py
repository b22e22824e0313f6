"""Decides whether a configuration change can be made live, without a reload (pure).

Two renderings are compared with their ``server`` lines taken out: if the rest is identical,
only members changed, and each change becomes a runtime operation (weight, state, add,
delete). Anything else (a new listener, a changed timeout, an L7 policy, a member whose
address changed, a cookie-persistence pool that cannot take dynamic servers) needs a reload.
The new configuration is pushed either way, so the next reload keeps what was made live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portico.render.capabilities import RenderTarget
from portico.wire.agent_api import ServerOp
from portico.wire.capabilities import Capability

_SECTION = re.compile(r"^(frontend|backend|listen|global|defaults)\b")
_SERVER = re.compile(r"^\s+server (\S+) (\S+)(?: (.*))?$")


@dataclass(frozen=True)
class _Server:
    address: str
    options: str

    @property
    def weight(self) -> int:
        match = re.search(r"\bweight (\d+)", self.options)
        return int(match.group(1)) if match else 1

    @property
    def disabled(self) -> bool:
        return bool(re.search(r"(^| )disabled( |$)", self.options))

    def static_options(self) -> str:
        """Options other than weight and disabled, which the runtime API can change."""
        words = re.sub(r"\bweight \d+", "", self.options)
        words = re.sub(r"(^| )disabled( |$)", " ", words)
        return " ".join(words.split())


def _parse(text: str) -> tuple[list[str], dict[str, dict[str, _Server]]]:
    """The configuration without server lines, and the servers of each backend."""
    skeleton: list[str] = []
    servers: dict[str, dict[str, _Server]] = {}
    section = ""
    for line in text.splitlines():
        if _SECTION.match(line):
            section = line.split(" ", 1)[1] if line.startswith("backend ") else ""
            skeleton.append(line)
            continue
        match = _SERVER.match(line)
        if match and section:
            name, address, options = match.groups()
            servers.setdefault(section, {})[name] = _Server(address, options or "")
            continue
        skeleton.append(line)
    return skeleton, servers


def plan_runtime(old_text: str, new_text: str, target: RenderTarget) -> list[ServerOp] | None:
    """The runtime operations that turn ``old_text`` into ``new_text``; None: reload."""
    old_skeleton, old_servers = _parse(old_text)
    new_skeleton, new_servers = _parse(new_text)
    if old_skeleton != new_skeleton:
        return None
    dynamic = target.has(Capability.DYNAMIC_SERVERS)
    ops: list[ServerOp] = []
    for backend in sorted(set(old_servers) | set(new_servers)):
        before = old_servers.get(backend, {})
        after = new_servers.get(backend, {})
        for name in sorted(set(before) - set(after)):
            if not dynamic:
                return None
            ops.append(ServerOp(op="delete", backend=backend, server=name))
        for name, server in after.items():
            old = before.get(name)
            if old is None:
                if not dynamic or " cookie " in f" {server.options} ":
                    return None  # dynamic servers refuse the cookie keyword
                address, _, port = server.address.rpartition(":")
                ops.append(
                    ServerOp(
                        op="add",
                        backend=backend,
                        server=name,
                        address=address.strip("[]"),
                        port=int(port),
                        options=f"{server.static_options()} weight {server.weight}".strip(),
                        state="maint" if server.disabled else "ready",
                    )
                )
                continue
            if old.address != server.address or old.static_options() != server.static_options():
                return None
            if old.weight != server.weight:
                ops.append(
                    ServerOp(op="weight", backend=backend, server=name, weight=server.weight)
                )
            if old.disabled != server.disabled:
                state = "maint" if server.disabled else "ready"
                ops.append(ServerOp(op="state", backend=backend, server=name, state=state))
    return ops
