"""Pushing an operator's requested agent settings (``PUT /amphorae/{id}/config``) to agents.

The request lives on the amphora row (``agent_config_pending``), so whichever controller
converges the amphora next pushes it, and one that dies before pushing leaves it for the
next pass. An agent that speaks only API 1.0 cannot take settings: the request is dropped
with a warning (the API refuses new ones for such amphorae; this covers an image whose
version was recorded before it was known).
"""

from __future__ import annotations

import logging

from portico.drivers.agent_client import VersionUnsupported
from portico.orchestrator.fleet import Fleet
from portico.services import upgrades
from portico.services.amphora_records import AmphoraRecord
from portico.wire.agent_api import AgentSettings

LOG = logging.getLogger(__name__)


async def push_pending(fleet: Fleet, amphora: AmphoraRecord) -> bool:
    """Push the amphora's pending settings, if any; True when the agent took them."""
    targets = amphora.agent_config_pending
    if targets is None or amphora.agent_endpoint is None:
        return False
    wanted = AgentSettings(
        heartbeat_targets=list(targets),
        heartbeat_interval=fleet.settings.heartbeat_interval,
        # Octavia's "Configure Amphora" rewrites the agent's whole configuration, logging too.
        log_forwarding=fleet.settings.log_forwarding(),
    )
    took = True
    try:
        await fleet.client.settings(amphora.agent_endpoint, amphora.id, wanted)
    except VersionUnsupported as exc:
        LOG.warning("%s agent settings not pushed: %s", amphora.id, exc)
        took = False
    else:
        LOG.info("%s agent settings pushed: heartbeats to %s", amphora.id, ", ".join(targets))
    await fleet.write(upgrades.settings_pushed, amphora.id, targets=targets)
    return took
