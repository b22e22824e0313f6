"""Renders keepalived's configuration for one amphora of an ACTIVE_STANDBY pair (pure).

Both amphorae start as BACKUP with ``nopreempt``: the higher priority wins the first
election, and after a takeover the amphora that comes back (or its replacement) stays
BACKUP, so the VIP moves once per fault, never back and forth. VRRPv3 over unicast to the
peer's VRRP address (``check_unicast_src`` drops adverts from anyone else on the segment):
fractions of a second need version 3, and unicast works where multicast is filtered.

Two things make the MASTER give up the VIP: the ``track_file`` the agent rewrites the
moment its supervisor sees haproxy die (milliseconds), and a check script keepalived runs
itself every ``check_interval`` seconds (whole seconds only in keepalived 2.2), which still
works when the agent is gone too. Paths name the agent's files as ``${AMPHORA_DIR}/vrrp/``;
the agent defines that variable when it writes the file (docs/agent-api.md).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from portico.render.errors import RenderError
from portico.render.templating import environment

MASTER_PRIORITY = 100
BACKUP_PRIORITY = 90
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


@dataclass(frozen=True)
class VrrpSpec:
    """One amphora's side of the pair."""

    lb_id: str
    amphora_id: str
    interface: str
    # virtual_router_id, 1-255: unique per load balancer on its VIP network.
    router_id: int
    priority: int
    # This amphora's own address on the VIP network, and the peer's.
    local_address: str
    peer_addresses: tuple[str, ...]
    # ``address/prefixlen`` of each address keepalived moves (the VIP first).
    vips: tuple[str, ...]
    advert_interval: float = 0.1
    check_interval: int = 1
    check_fall: int = 2
    check_rise: int = 2
    # The MASTER repeats its gratuitous ARPs (``count`` of them) every ``interval`` seconds
    # (0: never), as Octavia's vrrp_garp_refresh_*: a neighbour that learnt the VIP from the
    # wrong amphora (both briefly MASTER while the pair starts, or on a loaded host) is
    # corrected within one interval instead of when its ARP entry expires (15-45 s).
    garp_refresh_interval: int = 5
    garp_refresh_count: int = 2


def render_keepalived(spec: VrrpSpec) -> str:
    """keepalived.conf for ``spec``; ``RenderError`` for anything that is not well formed."""
    _check(spec)
    return (
        environment()
        .get_template("keepalived.conf.j2")
        .render(spec=spec, instance=f"lb_{spec.lb_id.replace('-', '')}")
    )


def _check(spec: VrrpSpec) -> None:
    if not _IFNAME.match(spec.interface):
        raise RenderError(f"vrrp: invalid interface name {spec.interface!r}")
    if not 1 <= spec.router_id <= 255 or not 1 <= spec.priority <= 254:
        raise RenderError(f"vrrp: router id {spec.router_id} or priority {spec.priority}")
    if not 0.01 <= spec.advert_interval <= 255 or spec.check_interval < 1:
        raise RenderError("vrrp: advert interval 0.01-255 s and a check interval >= 1 s")
    if spec.garp_refresh_interval < 0 or not 1 <= spec.garp_refresh_count <= 255:
        raise RenderError("vrrp: a gratuitous ARP refresh interval >= 0 and count 1-255")
    try:
        local = ipaddress.ip_address(spec.local_address)
        peers = [ipaddress.ip_address(a) for a in spec.peer_addresses]
        vips = [ipaddress.ip_interface(v) for v in spec.vips]
        uuids = [spec.lb_id.replace("-", ""), spec.amphora_id.replace("-", "")]
    except ValueError as exc:
        raise RenderError(f"vrrp: {exc}") from exc
    if not all(part.isalnum() for part in uuids):
        raise RenderError("vrrp: load balancer and amphora ids must be uuids")
    if not vips or not peers or any(a.version != local.version for a in [*peers, *vips]):
        raise RenderError("vrrp: the VIPs and both VRRP addresses must share one family")
