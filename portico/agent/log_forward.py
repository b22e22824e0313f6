"""The agent's syslog forwarding: each stream's lines to the operator's targets, UDP or TCP.

Octavia's amphorae relay their logs through rsyslog; portico's agent does that job itself
(``portico.wire.log_forwarding`` holds the settings). A stream's targets are a chain, in the
order they are listed: a line goes to the first target that is not suspended, so the first
one gets every line while it works and each later one is a backup for those before it (as
Octavia's rsyslog template runs its second and later actions only while the previous one is
suspended). The last target of a chain is never suspended: nothing behind it could take its
lines.

TCP: each target has its own queue of at most ``queue_size`` lines: while the target is away
lines wait there, and newer ones beyond the bound are dropped and counted. Connecting is
tried ``retry_count`` more times, ``retry_interval`` seconds apart. When every attempt failed:

- a target with a backup is suspended: every line it holds is handed on, in order, to the
  first target behind it that is not suspended, and it is tried in the background every
  ``retry_interval``; once it connects it is no longer suspended and new lines go to it again
  (what a backup already holds, the backup still sends);
- the last target drops the line at the head of its queue and counts it (as rsyslog's
  action.resumeRetryCount discards the message of a failed action), and the next line starts
  the attempts again, so a target back within the retries loses no line.

Lines are framed by a newline (rsyslog's traditional framing).

UDP: one datagram a line, never retried. A datagram's loss is not seen, so a target counts
as down only when the kernel refuses the send: a target with a backup is then suspended, the
line goes to the backup, and after ``retry_interval`` the next line tries the target again
(a send is the only probe UDP has); the last target counts the line as dropped.

Everything runs on the agent's event loop; ``put`` never blocks and never logs, so the
agent's own records can be forwarded too without feeding back into themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from collections.abc import Callable

from portico.wire.agent_diagnostics import LogTargetState
from portico.wire.log_forwarding import LogForwarding

LOG = logging.getLogger(__name__)
CONNECT_TIMEOUT = 5.0
# Lines written before each drain: one slow target must not hold the loop for long.
BATCH = 256

# Takes the lines of a suspended target, for the targets behind it in its chain.
HandOn = Callable[[list[bytes]], None]


def split_target(target: str) -> tuple[str, int]:
    """``ip:port`` or ``[ipv6]:port`` into the host and port a socket takes."""
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


class _Target:
    def __init__(self, stream: str, target: str, settings: LogForwarding) -> None:
        self.stream = stream
        self.target = target
        self.settings = settings
        self.address = split_target(target)
        self.sent = 0
        self.dropped_full = 0
        self.dropped_retries = 0
        self.handed_over = 0
        # Set by the chain for every target but its last, which is never suspended.
        self.hand_on: HandOn | None = None

    def _stats(self, *, queued: int, connected: bool, suspended: bool) -> LogTargetState:
        return LogTargetState(
            stream=self.stream,
            target=self.target,
            protocol=self.settings.protocol,
            connected=connected,
            suspended=suspended,
            queued=queued,
            sent=self.sent,
            handed_over=self.handed_over,
            dropped_queue_full=self.dropped_full,
            dropped_retries_exhausted=self.dropped_retries,
        )


class _UdpTarget(_Target):
    def __init__(self, stream: str, target: str, settings: LogForwarding) -> None:
        super().__init__(stream, target, settings)
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.resume_at = 0.0  # time.monotonic(): suspended until then

    @property
    def suspended(self) -> bool:
        return time.monotonic() < self.resume_at

    def put(self, message: bytes) -> None:
        try:
            self.sock.sendto(message, self.address)
        except OSError:  # a full buffer or no route: this target cannot take lines now
            if self.hand_on is None:  # nothing behind it: lost, as a datagram always may be
                self.dropped_full += 1
                return
            self.resume_at = time.monotonic() + self.settings.retry_interval
            self.handed_over += 1
            self.hand_on([message])
        else:
            self.sent += 1

    def stats(self) -> LogTargetState:
        return self._stats(queued=0, connected=True, suspended=self.suspended)

    def close(self) -> None:
        self.sock.close()


class _TcpTarget(_Target):
    def __init__(self, stream: str, target: str, settings: LogForwarding) -> None:
        super().__init__(stream, target, settings)
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.away = False
        # Invariant: a suspended target's queue is empty (the chain gives it no line).
        self.suspended = False

    def put(self, message: bytes) -> None:
        if len(self.queue) >= self.settings.queue_size:
            self.dropped_full += 1
            return
        self.queue.append(message)
        self.wake.set()

    async def run(self) -> None:
        while True:
            if not self.queue:
                self.wake.clear()
                await self.wake.wait()
                continue
            if self.writer is None and not await self._connect():
                if self.hand_on is None:
                    self.queue.popleft()
                    self.dropped_retries += 1
                else:
                    await self._suspend(self.hand_on)
                continue
            await self._send_batch()

    async def _suspend(self, hand_on: HandOn) -> None:
        """Hand every queued line on to the backups, then retry until this target connects."""
        held = list(self.queue)
        self.queue.clear()
        # From here on the chain passes this target by, until it connects again.
        self.suspended = True
        self.handed_over += len(held)
        hand_on(held)
        LOG.warning(
            "log target %s (%s) suspended: %d lines handed on to its backups",
            self.target,
            self.stream,
            len(held),
        )
        while True:
            await asyncio.sleep(self.settings.retry_interval)
            if await self._attempt():
                break
        self.suspended = False

    async def _send_batch(self) -> None:
        assert self.writer is not None
        batch = [self.queue.popleft() for _ in range(min(BATCH, len(self.queue)))]
        try:
            self.writer.write(b"".join(line + b"\n" for line in batch))
            await self.writer.drain()
        except OSError:
            # Unknown how much of it arrived: sent again (a duplicate beats a lost line).
            self.queue.extendleft(reversed(batch))
            self._disconnect()
        else:
            self.sent += len(batch)

    async def _connect(self) -> bool:
        for attempt in range(self.settings.retry_count + 1):
            if attempt:
                await asyncio.sleep(self.settings.retry_interval)
            if await self._attempt():
                return True
        return False

    async def _attempt(self) -> bool:
        try:
            reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(*self.address), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            if not self.away:  # once an outage, at its first failed attempt
                LOG.warning("log target %s (%s) unreachable: %s", self.target, self.stream, exc)
            self.away = True
            return False
        self.watcher = asyncio.create_task(self._watch(reader))
        if self.away:
            LOG.info("log target %s (%s) reachable again", self.target, self.stream)
        self.away = False
        return True

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        # A receiver that went away closes the connection: noticed here, before the next
        # write, so lines are not written into a connection that is already dead.
        with contextlib.suppress(OSError):
            while await reader.read(4096):
                pass
        self._disconnect()

    def _disconnect(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.watcher is not None and self.watcher is not asyncio.current_task():
            self.watcher.cancel()
        self.watcher = None

    def stats(self) -> LogTargetState:
        return self._stats(
            queued=len(self.queue), connected=self.writer is not None, suspended=self.suspended
        )

    def close(self) -> None:
        self._disconnect()


class _Chain:
    """One stream's targets in the order listed: each line to the first not suspended."""

    def __init__(self, targets: list[_UdpTarget | _TcpTarget]) -> None:
        self.targets = targets
        for position, target in enumerate(targets[:-1]):
            target.hand_on = self._hand_on_behind(position)

    def _hand_on_behind(self, position: int) -> HandOn:
        def hand_on(lines: list[bytes]) -> None:
            for line in lines:
                self.send(line, first=position + 1)

        return hand_on

    def send(self, message: bytes, *, first: int = 0) -> None:
        """Give ``message`` to the first target from ``first`` on that is not suspended."""
        # The last target is never suspended: while the chain has one, some target takes it.
        for target in self.targets[first:]:
            if not target.suspended:
                target.put(message)
                return


class LogForwarder:
    """Both streams' chains of targets; ``send`` hands a syslog message to a stream's."""

    def __init__(self, settings: LogForwarding) -> None:
        self.settings = settings
        kind = _TcpTarget if settings.protocol == "TCP" else _UdpTarget
        self._chains: dict[str, _Chain] = {
            stream: _Chain([kind(stream=stream, target=t, settings=settings) for t in targets])
            for stream, targets in (
                ("tenant", settings.tenant_targets),
                ("admin", settings.admin_targets),
            )
        }
        self._tasks: list[asyncio.Task[None]] = []

    def _targets(self) -> list[_UdpTarget | _TcpTarget]:
        return [target for chain in self._chains.values() for target in chain.targets]

    def start(self) -> None:
        """Start each TCP target's sender on the running loop."""
        for target in self._targets():
            if isinstance(target, _TcpTarget):
                self._tasks.append(asyncio.create_task(target.run()))

    def send(self, stream: str, message: bytes) -> None:
        """Queue (TCP) or send (UDP) one message, without its framing, to ``stream``'s chain."""
        chain = self._chains.get(stream)
        if chain is not None:
            chain.send(message)

    def stats(self) -> list[LogTargetState]:
        """Every target, each stream's in its chain's order (tenant, then admin)."""
        return [target.stats() for target in self._targets()]

    async def close(self) -> None:
        """Stop sending; what is still queued is dropped."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for target in self._targets():
            target.close()
