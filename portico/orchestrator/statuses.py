"""Operating statuses from haproxy's view of a load balancer (pure).

Octavia's mapping: a server UP is ONLINE, DOWN is ERROR, DRAIN is DRAINING, MAINT (disabled)
is OFFLINE, and a server without a health check is NO_MONITOR. A pool is ERROR when all its
enabled members are down, DEGRADED when some are; a listener is OFFLINE when disabled. The
health service (heartbeats) keeps these current; this is what the push itself observed.
"""

from __future__ import annotations

from portico.domain.desired import LoadBalancerSpec
from portico.wire.agent_api import StatRow


def _member_status(row: StatRow | None, *, monitored: bool, enabled: bool) -> str:
    if not enabled:
        return "OFFLINE"
    if not monitored:
        return "NO_MONITOR"
    if row is None:
        return "OFFLINE"
    status = row.status.upper()
    if status.startswith("MAINT"):
        return "OFFLINE"
    if status.startswith("DRAIN") or status == "NOLB":
        return "DRAINING"
    if status.startswith("DOWN"):
        return "ERROR"
    return "ONLINE"


def from_stats(spec: LoadBalancerSpec, rows: list[StatRow]) -> dict[str, str]:
    servers = {row.name: row for row in rows if row.kind == "server"}
    result: dict[str, str] = {spec.id: "ONLINE" if spec.admin_state_up else "OFFLINE"}
    for pool in spec.pools:
        monitored = pool.health_monitor is not None and pool.health_monitor.admin_state_up
        member_statuses = []
        for member in pool.members:
            status = _member_status(
                servers.get(member.id), monitored=monitored, enabled=member.admin_state_up
            )
            result[member.id] = status
            member_statuses.append(status)
        if pool.health_monitor is not None:
            result[pool.health_monitor.id] = "ONLINE"
        enabled = [s for s in member_statuses if s != "OFFLINE"]
        if not pool.admin_state_up:
            result[pool.id] = "OFFLINE"
        elif enabled and all(s == "ERROR" for s in enabled):
            result[pool.id] = "ERROR"
        elif any(s == "ERROR" for s in enabled):
            result[pool.id] = "DEGRADED"
        else:
            result[pool.id] = "ONLINE"
    for listener in spec.listeners:
        result[listener.id] = "ONLINE" if listener.admin_state_up else "OFFLINE"
        for policy in listener.l7policies:
            result[policy.id] = "ONLINE"
            for rule in policy.rules:
                result[rule.id] = "ONLINE"
    return result
