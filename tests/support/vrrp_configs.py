"""The configurations VRRP tests push: haproxy on the VIP, and keepalived as rendered.

haproxy's is hand-written (an agent test needs no load balancer in a database); keepalived's
comes from the controller's renderer, so the agent runs exactly what production pushes.
"""

from __future__ import annotations

from typing import Any

from portico.render.keepalived import VrrpSpec, render_keepalived
from tests.support.vrrp import IFNAME, SUBNET_PREFIX, VIP, Amphora


def haproxy_config(name: str) -> str:
    """haproxy answering ``name`` on the VIP (bound on both amphorae: nonlocal bind)."""
    return (
        "global\n"
        "    stats socket unix@run/stats.sock mode 600 level admin expose-fd listeners\n"
        "    hard-stop-after 10s\n"
        "defaults\n"
        "    mode http\n"
        "    timeout connect 5s\n"
        "    timeout client 30s\n"
        "    timeout server 30s\n"
        "frontend vip\n"
        f"    bind {VIP}:80\n"
        f"    http-request return status 200 content-type text/plain string {name}\n"
    )


LB_ID = "7e57ab1e-0000-4000-8000-000000000077"


def keepalived_config(amphora: Amphora, peer: str, *, priority: int) -> str:
    """keepalived for one side of the pair, as the controller renders it (the real renderer:
    the lab's directory has a space in it, so its quoting is tested against keepalived)."""
    return render_keepalived(
        VrrpSpec(
            lb_id=LB_ID,
            amphora_id=amphora.amphora_id,
            interface=IFNAME,
            router_id=77,
            priority=priority,
            local_address=amphora.address,
            peer_addresses=(peer,),
            vips=(f"{VIP}/{SUBNET_PREFIX}",),
        )
    )


def vrrp_body(amphora: Amphora, peer: str, *, priority: int, generation: int = 1) -> dict[str, Any]:
    """A ``VrrpConfig`` body for ``PUT /1.0/vrrp`` (``peer``: the other amphora's address)."""
    return {
        "generation": generation,
        "keepalived_cfg": keepalived_config(amphora, peer, priority=priority),
        "interface": IFNAME,
        "vips": [f"{VIP}/{SUBNET_PREFIX}"],
    }
