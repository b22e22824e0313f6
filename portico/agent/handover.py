"""A MASTER hands the VIP to its peer without failing a client's request (API 1.2).

Stopping keepalived on a MASTER moves the VIP within one advert, but a connection in
flight at that instant is lost: its next segments reach the new holder, which has no state
for it and resets it. The handover therefore empties the MASTER first:

1. new connections to the VIPs are dropped, not refused (``syn_drop``): the client
   retransmits its SYN after 1 s, by when the peer holds the VIP;
2. after a short grace (a handshake completed just before the filter is accepted by haproxy
   within it), the listeners' current sessions (``scur`` of haproxy's frontends) are polled
   until none is left, at most ``drain_seconds``;
3. keepalived is stopped: its priority 0 advert makes the peer take the VIP at once, and
   the VIPs are removed from the interface.

haproxy keeps running (the amphora is about to be deleted). keepalived stays stopped and the
SYN drop stays until the next start of keepalived, which undoes it first (a ``PUT /vrrp``
on an amphora that is kept, or the supervisor after an agent restart sees ``wanted``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from portico.agent import runtime_socket
from portico.agent.haproxy import HaproxyManager
from portico.agent.keepalived import KeepalivedManager

LOG = logging.getLogger(__name__)
GRACE_SECONDS = 0.1
POLL_SECONDS = 0.02


async def hand_over(
    vrrp: KeepalivedManager, haproxy: HaproxyManager, *, drain_seconds: float
) -> tuple[bool, bool, int]:
    """Drain and stop this amphora's VRRP side; (held the VIPs, drained, sessions left).

    The caller holds ``vrrp.lock``. ``syn_drop.TcFailed`` if new connections cannot be
    dropped: nothing is stopped then, and the caller hands over the old way (or not at all).
    """
    held = await vrrp.holds_vips()
    drained, left = True, 0
    if held:
        await vrrp.drop_syns()
        drained, left = await drain(haproxy, seconds=drain_seconds)
        if not drained:
            LOG.warning("vrrp handover: %d sessions still open after %.1f s", left, drain_seconds)
    await vrrp.stop()
    return held, drained, left


async def drain(haproxy: HaproxyManager, *, seconds: float) -> tuple[bool, int]:
    """Wait until haproxy's listeners have no session, at most ``seconds`` after the grace;
    (whether none is left, how many are)."""
    await asyncio.sleep(GRACE_SECONDS)
    deadline = time.monotonic() + seconds
    left = 0
    while True:
        try:
            left = await sessions(haproxy)
        except (OSError, TimeoutError):
            pass  # the socket is busy (a reload): ask again, until the deadline
        else:
            if left == 0:
                return True, 0
        if time.monotonic() >= deadline:
            return False, left
        await asyncio.sleep(POLL_SECONDS)


async def sessions(haproxy: HaproxyManager) -> int:
    """Client sessions open on haproxy's frontends (0 when haproxy does not run);
    ``OSError`` or ``TimeoutError`` when its runtime socket does not answer."""
    if not haproxy.running:
        return 0
    # Frontends only (type 1 of every proxy): backend and server rows count the same
    # sessions again, towards the members.
    text = await runtime_socket.command(haproxy.stats_socket, "show stat -1 1 -1", seconds=1.0)
    rows = runtime_socket.parse_csv_stats(text)
    return sum(int(row.get("scur") or 0) for row in rows if row.get("svname") == "FRONTEND")
