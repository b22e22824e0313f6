"""Operating statuses from what haproxy sees: one mapping for the push and for heartbeats.

The provider observes haproxy right after a push (``show stat`` through the agent) and the
health service observes it every heartbeat; both must tell a user the same thing, so both
reduce their observation to listener states and backend reports and call ``roll_up``.

The mapping follows Octavia's health manager:

- member: UP → ONLINE, DOWN → ERROR, DRAIN → DRAINING, MAINT → OFFLINE, no check →
  NO_MONITOR; a disabled member is OFFLINE; a member haproxy does not report is NO_MONITOR
  when its pool has no enabled monitor, else OFFLINE.
- pool: OFFLINE when disabled or when no backend of it is reported (not used by a listener);
  else ERROR when it has enabled members and all are ERROR, DEGRADED when some are, else
  ONLINE. Octavia reads the backend's own word, which haproxy makes DOWN for a backend with
  no servers; portico derives the pool from its members so an empty pool is not in ERROR.
- listener: OFFLINE when disabled; OPEN → ONLINE, FULL → DEGRADED; an enabled listener that
  haproxy does not report or reports STOP is ERROR once the load balancer is settled (ACTIVE),
  OFFLINE while a change is still being applied.
- load balancer: OFFLINE when disabled; ERROR when a pool is; DEGRADED when a pool is
  DEGRADED or a listener DEGRADED or ERROR (Octavia leaves the load balancer ONLINE with a
  listener in ERROR; a load balancer with a dead listener is not healthy); else ONLINE.
- health monitor: ONLINE when enabled, OFFLINE when disabled, as Octavia sets it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from portico.domain.constants import OperatingStatus as OS
from portico.wire.heartbeat import Heartbeat, PoolReport, ServerStatus

_MEMBER_WORDS: dict[ServerStatus, OS] = {
    "UP": OS.ONLINE,
    "DOWN": OS.ERROR,
    "DRAIN": OS.DRAINING,
    "MAINT": OS.OFFLINE,
    "no check": OS.NO_MONITOR,
}


# msgspec Structs untracked by the garbage collector (gc=False; they hold no reference
# cycles): the health service keeps a Topology of every load balancer it hears from, and at
# 10,000 load balancers tracked nodes made each full collection of its process scan hundreds
# of thousands of objects (measured: a third of a churning heartbeat batch's time).
class MemberNode(msgspec.Struct, frozen=True, gc=False):
    id: str
    enabled: bool = True


class PoolNode(msgspec.Struct, frozen=True, gc=False):
    id: str
    enabled: bool = True
    members: tuple[MemberNode, ...] = ()
    monitor_id: str | None = None
    monitor_enabled: bool = False

    @property
    def monitored(self) -> bool:
        return self.monitor_id is not None and self.monitor_enabled


class ListenerNode(msgspec.Struct, frozen=True, gc=False):
    id: str
    enabled: bool = True


class Topology(msgspec.Struct, frozen=True, gc=False):
    """Which objects a load balancer has (its desired state), reduced to what statuses need."""

    lb_id: str
    enabled: bool = True
    # ACTIVE: the amphora should run every enabled listener, so a missing one is an error.
    settled: bool = True
    listeners: tuple[ListenerNode, ...] = ()
    pools: tuple[PoolNode, ...] = ()


def member_status(word: ServerStatus | None, *, enabled: bool, monitored: bool) -> OS:
    if not enabled:
        return OS.OFFLINE
    if word is None:
        return OS.OFFLINE if monitored else OS.NO_MONITOR
    return _MEMBER_WORDS[word]


def pool_status(members: Sequence[OS], *, enabled: bool, reported: bool) -> OS:
    if not enabled or not reported:
        return OS.OFFLINE
    if OS.ERROR not in members:
        return OS.ONLINE
    # Members that are OFFLINE (disabled, in maintenance) do not count for or against it.
    serving = [status for status in members if status != OS.OFFLINE]
    return OS.ERROR if all(status == OS.ERROR for status in serving) else OS.DEGRADED


def listener_status(state: str | None, *, enabled: bool, settled: bool) -> OS:
    if not enabled:
        return OS.OFFLINE
    if state == "OPEN":
        return OS.ONLINE
    if state == "FULL":
        return OS.DEGRADED
    return OS.ERROR if settled else OS.OFFLINE


def lb_status(pools: Sequence[OS], listeners: Sequence[OS], *, enabled: bool) -> OS:
    if not enabled:
        return OS.OFFLINE
    if OS.ERROR in pools:
        return OS.ERROR
    if OS.DEGRADED in pools or OS.DEGRADED in listeners or OS.ERROR in listeners:
        return OS.DEGRADED
    return OS.ONLINE


def roll_up(
    topology: Topology,
    *,
    listener_states: Mapping[str, str],
    backends: Mapping[str, PoolReport],
) -> dict[str, OS]:
    """Operating status by object id for the load balancer, its listeners, pools, members
    and health monitors. ``backends`` is keyed by haproxy backend name
    (``<pool id>:<listener id>``); a pool used by several listeners has several, and a
    member's word comes from the first of them (by name) that reports it.
    """
    by_pool: dict[str, list[PoolReport]] = {}
    for name in sorted(backends):
        by_pool.setdefault(name.split(":", 1)[0], []).append(backends[name])
    result: dict[str, OS] = {}
    pools: list[OS] = []
    for pool in topology.pools:
        reports = by_pool.get(pool.id, [])
        members = []
        for member in pool.members:
            word = next((r.members[member.id] for r in reports if member.id in r.members), None)
            status = member_status(word, enabled=member.enabled, monitored=pool.monitored)
            result[member.id] = status
            members.append(status)
        result[pool.id] = pool_status(members, enabled=pool.enabled, reported=bool(reports))
        pools.append(result[pool.id])
        if pool.monitor_id is not None:
            result[pool.monitor_id] = OS.ONLINE if pool.monitor_enabled else OS.OFFLINE
    listeners = []
    for listener in topology.listeners:
        status = listener_status(
            listener_states.get(listener.id), enabled=listener.enabled, settled=topology.settled
        )
        result[listener.id] = status
        listeners.append(status)
    result[topology.lb_id] = lb_status(pools, listeners, enabled=topology.enabled)
    return result


def from_heartbeat(topology: Topology, heartbeat: Heartbeat) -> dict[str, OS]:
    """What one amphora's heartbeat says of its load balancer's objects."""
    states = {listener_id: report.status for listener_id, report in heartbeat.listeners.items()}
    return roll_up(topology, listener_states=states, backends=heartbeat.pools)
