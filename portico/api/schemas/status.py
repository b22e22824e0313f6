"""The ``/status`` tree and the full-graph create response of a load balancer.

The status tree follows Octavia's: load balancer → listeners → pools (the default pool and
the pools of enabled L7 policies with rules) → members and health monitor. L7 policies do
not appear in it. Unnamed objects show ``""`` where Octavia does (load balancer, listener,
member).
"""

from __future__ import annotations

from typing import Any

from portico.api.schemas.healthmonitors import healthmonitor_view
from portico.api.schemas.l7policies import l7policy_view
from portico.api.schemas.listeners import listener_full_view
from portico.api.schemas.loadbalancers import loadbalancer_view
from portico.api.schemas.members import member_view
from portico.api.schemas.pools import pool_full_view
from portico.db.models import Listener, LoadBalancer, Pool


def listener_pools(listener: Listener) -> list[Pool]:
    """The pools a listener sends traffic to, default first, each once."""
    pools: list[Pool] = []
    if listener.default_pool is not None:
        pools.append(listener.default_pool)
    for policy in listener.l7policies:
        target = policy.redirect_pool
        if target is not None and policy.rules and policy.admin_state_up and target not in pools:
            pools.append(target)
    return pools


def _pool_status(pool: Pool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": pool.id,
        "name": pool.name or "",
        "provisioning_status": pool.provisioning_status,
        "operating_status": pool.operating_status,
        "members": [
            {
                "id": m.id,
                "name": m.name or "",
                "operating_status": m.operating_status,
                "provisioning_status": m.provisioning_status,
                "address": m.address,
                "protocol_port": m.protocol_port,
            }
            for m in pool.members
        ],
    }
    hm = pool.health_monitor
    if hm is not None:
        view["health_monitor"] = {
            "id": hm.id,
            "name": hm.name or "",
            "type": hm.type,
            "provisioning_status": hm.provisioning_status,
            "operating_status": hm.operating_status,
        }
    return view


def status_tree_view(lb: LoadBalancer) -> dict[str, Any]:
    """Octavia's status tree: load balancer, listeners, pools, members, monitors."""
    return {
        "loadbalancer": {
            "id": lb.id,
            "name": lb.name or "",
            "provisioning_status": lb.provisioning_status,
            "operating_status": lb.operating_status,
            "listeners": [
                {
                    "id": li.id,
                    "name": li.name or "",
                    "operating_status": li.operating_status,
                    "provisioning_status": li.provisioning_status,
                    "pools": [_pool_status(p) for p in listener_pools(li)],
                }
                for li in lb.listeners
            ],
        }
    }


def full_loadbalancer_view(lb: LoadBalancer) -> dict[str, Any]:
    """The create response of a full graph: children expanded, not just ids."""
    view = loadbalancer_view(lb)
    view["listeners"] = [
        listener_full_view(li, [l7policy_view(p, full=True) for p in li.l7policies])
        for li in lb.listeners
    ]
    view["pools"] = [
        pool_full_view(
            p,
            members=[member_view(m) for m in p.members],
            healthmonitor=healthmonitor_view(p.health_monitor) if p.health_monitor else None,
        )
        for p in lb.pools
    ]
    return view
