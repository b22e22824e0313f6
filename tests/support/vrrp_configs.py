"""The configurations VRRP tests push: haproxy on the VIP, keepalived shaped as rendered.

They stand in for what the controller renders (``portico/render``), so an agent test does not
depend on a load balancer in a database; the keepalived one keeps the same contract (the
agent's files under ``${AMPHORA_DIR}``, quoted).
"""

from __future__ import annotations

from typing import Any

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


def keepalived_config(amphora: Amphora, peer: str, *, priority: int) -> str:
    """keepalived for one side of the pair, shaped as the controller renders it.

    Both start BACKUP with ``nopreempt`` (as Octavia does): a recovered amphora does not take
    the VIP back, so it moves only when the MASTER fails. VRRPv3 at 0.1 s adverts. The paths
    under ``${AMPHORA_DIR}`` are quoted (single quotes inside the script's string), since the
    lab's directory has a space in it.
    """
    return f"""global_defs {{
    router_id {amphora.name}
    vrrp_version 3
    enable_script_security
    script_user root
}}
vrrp_script check_haproxy {{
    script "/bin/sh '${{AMPHORA_DIR}}/vrrp/check-haproxy.sh'"
    interval 1
    fall 2
    rise 2
}}
vrrp_track_file haproxy_state {{
    file "${{AMPHORA_DIR}}/vrrp/haproxy-state"
}}
vrrp_instance amphora {{
    state BACKUP
    nopreempt
    interface {IFNAME}
    virtual_router_id 77
    priority {priority}
    advert_int 0.1
    unicast_src_ip {amphora.address}
    unicast_peer {{
        {peer}
    }}
    virtual_ipaddress {{
        {VIP}/{SUBNET_PREFIX}
    }}
    track_script {{
        check_haproxy
    }}
    track_file {{
        haproxy_state weight 0
    }}
}}
"""


def vrrp_body(amphora: Amphora, peer: str, *, priority: int, generation: int = 1) -> dict[str, Any]:
    """A ``VrrpConfig`` body for ``PUT /1.0/vrrp`` (``peer``: the other amphora's address)."""
    return {
        "generation": generation,
        "keepalived_cfg": keepalived_config(amphora, peer, priority=priority),
        "interface": IFNAME,
        "vips": [f"{VIP}/{SUBNET_PREFIX}"],
    }
