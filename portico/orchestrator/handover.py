"""ACTIVE_STANDBY: a leaving MASTER hands the VIP to the survivor without failing a request.

Removing an amphora stops its keepalived, and the VIP moves to the peer within one advert;
but a TCP connection in flight at that instant is reset by the new holder, which has no
state for it (measured: 0 or 1 failed request per rotation under a fresh-connection
prober). Before the provider removes the leaving amphorae of a pair, each one whose agent
speaks API 1.2 is asked to hand over first (``PUT /1.2/vrrp/handover``): it drops new
connections (clients retry their SYN after 1 s), waits for its sessions to end, then stops
keepalived; the controller waits until the survivor holds the VIP, and only then is the
amphora deleted. An amphora of an older image (API 1.0 or 1.1), or one whose agent fails the
call, is removed as before. Nothing here raises: at worst the old behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from portico.domain.errors import PermanentError, TransientError
from portico.domain.vrrp import PAIR as PAIR_ROLES
from portico.drivers.agent_client import VersionUnsupported
from portico.orchestrator.fleet import Fleet
from portico.services.amphora_records import AmphoraRecord
from portico.wire.agent_api import VrrpHandover, VrrpStatus

LOG = logging.getLogger(__name__)
POLL_SECONDS = 0.05


async def hand_over(
    fleet: Fleet,
    leaving: Sequence[tuple[AmphoraRecord, bool]],
    *,
    survivor: AmphoraRecord,
    drain_seconds: float,
    settle_seconds: float,
) -> None:
    """Hand the VIP of each gracefully ``leaving`` amphora of the pair to ``survivor``."""
    for amphora, graceful in leaving:
        if not graceful or amphora.role not in PAIR_ROLES or amphora.agent_endpoint is None:
            continue  # a failed amphora has nothing to drain; a spare never held the VIP
        if not await _ready(fleet, survivor):
            LOG.warning(
                "%s: survivor %s is not ready to take the VIP: removed without a handover",
                amphora.id,
                survivor.id,
            )
            return
        try:
            result = await fleet.client.handover(
                amphora.agent_endpoint, amphora.id, VrrpHandover(drain_seconds=drain_seconds)
            )
        except VersionUnsupported:
            LOG.info("%s: agent API older than 1.2: removed without a handover", amphora.id)
            continue
        except (TransientError, PermanentError) as exc:
            LOG.warning("%s: handover failed, removed without one: %s", amphora.id, exc)
            continue
        LOG.info(
            "%s: handed over (held the VIP %s, drained %s, %d sessions left) in %.2f s",
            amphora.id,
            result.held_vips,
            result.drained,
            result.sessions_left,
            result.seconds,
        )
        if result.held_vips and not await _takes_vip(fleet, survivor, seconds=settle_seconds):
            LOG.warning("%s: survivor %s did not take the VIP in time", amphora.id, survivor.id)


async def _status(fleet: Fleet, amphora: AmphoraRecord) -> VrrpStatus | None:
    if amphora.agent_endpoint is None:
        return None
    try:
        return await fleet.client.vrrp(amphora.agent_endpoint, amphora.id)
    except (TransientError, PermanentError):
        return None


async def _ready(fleet: Fleet, survivor: AmphoraRecord) -> bool:
    """The survivor runs keepalived beside a running haproxy: it can take the VIP."""
    status = await _status(fleet, survivor)
    return status is not None and status.running and status.haproxy_ok


async def _takes_vip(fleet: Fleet, survivor: AmphoraRecord, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = await _status(fleet, survivor)
        if status is not None and status.holds_vips:
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False
