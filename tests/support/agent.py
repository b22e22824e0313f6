"""One real amphora agent for agent-level tests, started exactly as the local driver does.

``AgentHandle`` boots an agent through ``LocalCompute`` (its own process, its own haproxy,
mutual TLS with a CA made for the test) and talks to it with the controller's
``AgentClient`` on a private event loop, so synchronous tests can call it step by step.
``haproxy_config`` writes the small configurations these tests push.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from portico.domain.errors import PermanentError, TransientError
from portico.drivers.agent_client import AgentClient
from portico.drivers.certs.pki import CertificateAuthority
from portico.drivers.compute.base import AmphoraRequest, BootFiles, HeartbeatSetup
from portico.drivers.compute.local import LocalCompute
from portico.settings import Settings
from portico.wire.agent_api import (
    ConfigPush,
    ConfigResult,
    HaproxyAction,
    HaproxyStatus,
    RuntimeChange,
    ServerOp,
)
from tests.conftest import wait_for

T = TypeVar("T")


def haproxy_config(
    *,
    port: int,
    servers: Mapping[str, int],
    options: Mapping[str, str] | None = None,
    frontend: str = "fe1",
    backend: str = "pool1:fe1",
    extra: str = "",
) -> str:
    """A configuration shaped like portico's: relative socket path, one HTTP frontend.

    ``servers`` maps server names to loopback backend ports; ``options`` adds words to the
    line of a server; ``extra`` is appended (another frontend, say).
    """
    lines = [
        f"    server {name} 127.0.0.1:{server_port} weight 1 {(options or {}).get(name, '')}"
        for name, server_port in servers.items()
    ]
    return (
        "global\n"
        "    stats socket unix@run/stats.sock mode 600 level admin expose-fd listeners\n"
        "    hard-stop-after 10s\n"
        "defaults\n"
        "    mode http\n"
        "    retries 3\n"
        "    option redispatch\n"
        "    option idle-close-on-response\n"
        "    timeout connect 5s\n"
        "    timeout client 30s\n"
        "    timeout server 30s\n"
        "    timeout http-keep-alive 10s\n"
        f"frontend {frontend}\n"
        f"    bind 127.0.0.1:{port}\n"
        f"    default_backend {backend}\n"
        f"backend {backend}\n"
        "    balance roundrobin\n" + "\n".join(line.rstrip() for line in lines) + "\n" + extra
    )


@dataclass
class AgentHandle:
    """A running agent, the client that reaches it, and the request that booted it."""

    compute: LocalCompute
    client: AgentClient
    request: AmphoraRequest
    endpoint: str
    loop: asyncio.AbstractEventLoop

    @classmethod
    def boot(
        cls,
        settings: Settings,
        *,
        image: str | None = None,
        heartbeat: HeartbeatSetup | None = None,
    ) -> AgentHandle:
        """An agent of ``image`` (see ``compute_images``), sending ``heartbeat`` if given."""
        ca = CertificateAuthority(settings.data_dir / "pki")
        amphora_id = str(uuid.uuid4())
        issued = ca.issue(amphora_id, server=True)
        request = AmphoraRequest(
            amphora_id=amphora_id,
            boot_files=BootFiles(
                ca_pem=ca.ca_pem,
                certificate_pem=issued.certificate_pem,
                private_key_pem=issued.private_key_pem,
            ),
            image=image,
            heartbeat=heartbeat,
        )
        loop = asyncio.new_event_loop()
        compute = LocalCompute(settings)
        handle = cls(
            compute=compute,
            client=AgentClient(ca.controller_client(), timeout=20.0),
            request=request,
            endpoint="",
            loop=loop,
        )
        handle.start_agent()
        return handle

    @property
    def amphora_id(self) -> str:
        return self.request.amphora_id

    @property
    def directory(self) -> Path:
        return self.compute.root / self.amphora_id

    @property
    def haproxy_dir(self) -> Path:
        return self.directory / "haproxy"

    @property
    def agent_pid(self) -> int:
        return int((self.directory / "agent.pid").read_text())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def start_agent(self) -> None:
        """(Re)start the agent on the amphora's directory and wait until it answers."""
        instance = self.run(self.compute.create(self.request))
        self.endpoint = instance.agent_endpoint

        def answers() -> bool:
            try:
                self.run(self.client.versions(self.endpoint, self.amphora_id, seconds=1.0))
            except (TransientError, PermanentError):  # not up yet
                return False
            return True

        try:
            wait_for(answers, timeout=30)
        except AssertionError as exc:
            log = (self.directory / "agent.log").read_text(errors="replace")[-4000:]
            raise AssertionError(f"agent {self.amphora_id} never answered:\n{log}") from exc

    def push(self, generation: int, cfg: str, **kwargs: Any) -> ConfigResult:
        body = ConfigPush(generation=generation, haproxy_cfg=cfg, **kwargs)
        return self.run(self.client.push(self.endpoint, self.amphora_id, body))

    def runtime(self, generation: int, cfg: str, ops: list[ServerOp]) -> ConfigResult:
        change = RuntimeChange(ops=ops, config=ConfigPush(generation=generation, haproxy_cfg=cfg))
        return self.run(self.client.runtime(self.endpoint, self.amphora_id, change))

    def status(self, action: str | None = None) -> HaproxyStatus:
        body = HaproxyAction(action=action) if action else None
        return self.run(self.client.haproxy(self.endpoint, self.amphora_id, body))

    def close(self) -> None:
        try:
            # Connections first: the agent's shutdown would otherwise wait on their TLS close.
            self.run(self.client.aclose())
            self.run(self.compute.delete(self.amphora_id))
        finally:
            self.loop.close()
