"""Sends this amphora's heartbeat to the health services every ``heartbeat_interval``.

The heartbeat says the agent lives, which configuration generation haproxy runs, and what
haproxy sees (``show stat``): listener, pool and member states and listener counters. A
failure to read haproxy or to send is logged and the next beat tries again: heartbeats must
never take the agent down, and a missing one is exactly what the health service watches for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from portico.agent import runtime_socket
from portico.agent.config import AgentConfig
from portico.agent.haproxy import HaproxyManager
from portico.wire.heartbeat import (
    Heartbeat,
    ListenerReport,
    ListenerStatus,
    PoolReport,
    ServerStatus,
    encode,
    server_status,
)

LOG = logging.getLogger(__name__)
_LISTENER_STATES: dict[str, ListenerStatus] = {"OPEN": "OPEN", "FULL": "FULL", "STOP": "STOP"}


def build_heartbeat(amphora_id: str, generation: int, rows: list[dict[str, str]]) -> Heartbeat:
    """The heartbeat for ``show stat`` rows (parsed CSV); rows it does not know are left out."""
    listeners: dict[str, ListenerReport] = {}
    pools: dict[str, PoolReport] = {}
    members: dict[str, dict[str, ServerStatus]] = {}
    for row in rows:
        kind, proxy, status = row.get("type"), row.get("pxname", ""), row.get("status", "")
        if kind == "0" and status in _LISTENER_STATES:
            listeners[proxy] = ListenerReport(
                status=_LISTENER_STATES[status],
                bytes_in=_int(row, "bin"),
                bytes_out=_int(row, "bout"),
                active_connections=_int(row, "scur"),
                total_connections=_int(row, "stot"),
                request_errors=_int(row, "ereq"),
            )
        elif kind == "1" and (state := server_status(status)) is not None:
            pools[proxy] = PoolReport(status=state)
        elif kind == "2" and (state := server_status(status)) is not None:
            members.setdefault(proxy, {})[row.get("svname", "")] = state
    for proxy, found in members.items():
        if proxy in pools:
            pools[proxy] = PoolReport(status=pools[proxy].status, members=found)
    return Heartbeat(amphora_id=amphora_id, generation=generation, listeners=listeners, pools=pools)


def _int(row: dict[str, str], key: str) -> int:
    value = row.get(key, "")
    return int(value) if value.isdigit() else 0


def _address(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


class HeartbeatSender:
    """One UDP endpoint per target, opened on first use and reopened after a failure."""

    def __init__(self, config: AgentConfig, manager: HaproxyManager, *, key: bytes) -> None:
        self._config = config
        self._manager = manager
        self._key = key
        # Starts from the wall clock so a restarted agent never reuses a sequence number.
        self._sequence = time.time_ns()
        self._transports: dict[str, asyncio.DatagramTransport] = {}
        self.sent = 0

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.beat()
                except Exception:
                    LOG.exception("heartbeat not sent")
                await asyncio.sleep(self._config.heartbeat_interval)
        finally:
            for transport in self._transports.values():
                transport.close()

    async def beat(self) -> None:
        rows: list[dict[str, str]] = []
        if self._manager.running:
            with contextlib.suppress(OSError, TimeoutError):
                text = await runtime_socket.command(
                    self._manager.stats_socket, "show stat", seconds=1.0
                )
                rows = runtime_socket.parse_csv_stats(text)
        heartbeat = build_heartbeat(self._config.amphora_id, self._manager.state.generation, rows)
        self._sequence = max(self._sequence + 1, time.time_ns())
        datagrams = encode(heartbeat, key=self._key, sequence=self._sequence)
        targets = list(self._config.heartbeat_targets)  # pushed settings may replace them
        for gone in set(self._transports) - set(targets):
            self._transports.pop(gone).close()
        for target in targets:
            try:
                transport = await self._transport(target)
                for datagram in datagrams:
                    transport.sendto(datagram)
            except OSError as exc:
                LOG.warning("heartbeat to %s failed: %s", target, exc)
                self._transports.pop(target, None)
        self.sent += 1

    async def _transport(self, target: str) -> asyncio.DatagramTransport:
        transport = self._transports.get(target)
        if transport is None or transport.is_closing():
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=_address(target)
            )
            self._transports[target] = transport
        return transport
