"""Operating statuses from haproxy's view right after a push (pure).

The mapping is ``portico.domain.operating_status``, the one the health service applies to
every heartbeat; this module only reduces the agent's ``show stat`` rows to its inputs and
adds the L7 objects, which haproxy does not report and Octavia shows ONLINE.
"""

from __future__ import annotations

from portico.domain.desired import LoadBalancerSpec
from portico.domain.operating_status import (
    ListenerNode,
    MemberNode,
    PoolNode,
    Topology,
    roll_up,
)
from portico.wire.agent_api import StatRow
from portico.wire.heartbeat import PoolReport, ServerStatus, server_status


def topology(spec: LoadBalancerSpec) -> Topology:
    return Topology(
        lb_id=spec.id,
        enabled=spec.admin_state_up,
        listeners=tuple(ListenerNode(li.id, li.admin_state_up) for li in spec.listeners),
        pools=tuple(
            PoolNode(
                pool.id,
                pool.admin_state_up,
                tuple(MemberNode(m.id, m.admin_state_up) for m in pool.members),
                pool.health_monitor.id if pool.health_monitor else None,
                pool.health_monitor is not None and pool.health_monitor.admin_state_up,
            )
            for pool in spec.pools
        ),
    )


def from_stats(spec: LoadBalancerSpec, rows: list[StatRow]) -> dict[str, str]:
    listener_states = {row.proxy: row.status for row in rows if row.kind == "frontend"}
    backends: dict[str, PoolReport] = {}
    members: dict[str, dict[str, ServerStatus]] = {}
    for row in rows:
        word = server_status(row.status)
        if word is None:
            continue
        if row.kind == "backend":
            backends[row.proxy] = PoolReport(status=word)
        elif row.kind == "server":
            members.setdefault(row.proxy, {})[row.name] = word
    for proxy, found in members.items():
        if proxy in backends:
            backends[proxy] = PoolReport(status=backends[proxy].status, members=found)
    result: dict[str, str] = dict(
        roll_up(topology(spec), listener_states=listener_states, backends=backends)
    )
    for listener in spec.listeners:
        for policy in listener.l7policies:
            result[policy.id] = "ONLINE"
            for rule in policy.rules:
                result[rule.id] = "ONLINE"
    return result
