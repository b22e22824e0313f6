"""One amphora's diagnostics for support staff: what its agent and haproxy say, and whether
it runs the configuration the controller expects.

The expected configuration is rendered here exactly as the provider renders a push (the
desired state's snapshot, the render target the amphora reported, the ``peers`` of a pair)
and hashed as the agent hashes what it applied (``wire.config_hash``): equal hashes mean the
amphora runs what the controller would push now. The agent's part may be missing: an agent
that does not answer is reported beside everything the database knows, never raised.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from portico.domain.constants import AmphoraStatus, Topology
from portico.domain.errors import PermanentError, PorticoError, TransientError
from portico.domain.vrrp import PAIR as PAIR_ROLES
from portico.orchestrator import pair
from portico.orchestrator.provider import AmphoraProvider
from portico.render.peers import Peers
from portico.services import amphora_records as records
from portico.services import reconcile
from portico.services.amphora_records import AmphoraRecord
from portico.services.certificates import resolve_certificates
from portico.wire.agent_api import Details
from portico.wire.agent_diagnostics import RuntimeDiagnostics
from portico.wire.config_hash import config_hash

# A support engineer waits for the answer: an agent that is slower than this is reported.
AGENT_SECONDS = 5.0


class AgentUnavailable(PorticoError):
    """The amphora's agent did not answer (HTTP 503, Octavia's error body)."""

    http_status = 503

    def __init__(self, amphora_id: str, reason: str) -> None:
        super().__init__(f"Amphora {amphora_id} agent is unavailable: {reason}")


@dataclass(frozen=True)
class Expected:
    """The configuration the controller would push now, or why it cannot say."""

    config_hash: str | None
    generation: int | None
    error: str | None = None


@dataclass(frozen=True)
class AgentReport:
    """What the agent answered, or why it did not."""

    details: Details | None = None
    runtime: RuntimeDiagnostics | None = None
    error: AgentUnavailable | None = None


async def expected(provider: AmphoraProvider, amphora: AmphoraRecord) -> Expected:
    """Render the desired configuration for ``amphora`` as the provider would push it."""
    lb_id = amphora.load_balancer_id
    if lb_id is None:
        return Expected(None, None, "a spare amphora runs no load balancer's configuration")
    fleet = provider.fleet
    snapshot = await fleet.read(
        reconcile.snapshot, lb_id, resolve_certificates=resolve_certificates
    )
    if snapshot is None:
        return Expected(None, None, f"load balancer {lb_id} is gone")
    try:
        peers = await _peers(provider, amphora, snapshot.topology)
        push, _ = provider.desired_push(snapshot, amphora, peers=peers)
    except (PermanentError, TransientError) as exc:
        return Expected(None, snapshot.generation, str(exc))
    return Expected(config_hash(push), snapshot.generation)


async def _peers(provider: AmphoraProvider, amphora: AmphoraRecord, topology: str) -> Peers | None:
    """The ``peers`` section a pair renders with: both live amphorae, as the provider's pass
    lists them (oldest first)."""
    if topology != Topology.ACTIVE_STANDBY or amphora.load_balancer_id is None:
        return None
    found = await provider.fleet.read(records.for_load_balancer, amphora.load_balancer_id)
    members = [a for a in found if a.status == AmphoraStatus.ALLOCATED and a.role in PAIR_ROLES]
    return pair.peers(amphora, members, provider.settings.haproxy_peers_port)


async def ask_agent(provider: AmphoraProvider, amphora: AmphoraRecord) -> AgentReport:
    """``/1.0/details`` and ``/1.0/diagnostics`` of the amphora's agent, side by side."""
    endpoint = amphora.agent_endpoint
    if endpoint is None:
        return AgentReport(error=AgentUnavailable(amphora.id, "it has no agent endpoint"))
    client = provider.fleet.client
    try:
        details, runtime = await asyncio.wait_for(
            asyncio.gather(
                client.details(endpoint, amphora.id),
                client.diagnostics(endpoint, amphora.id),
            ),
            AGENT_SECONDS,
        )
    except TimeoutError:
        reason = f"no answer from {endpoint} within {AGENT_SECONDS:g} s"
        return AgentReport(error=AgentUnavailable(amphora.id, reason))
    except (TransientError, PermanentError) as exc:
        return AgentReport(error=AgentUnavailable(amphora.id, str(exc)))
    return AgentReport(details=details, runtime=runtime)
