"""``forward_all_logs``: the agent's own records and keepalived's output to the admin targets.

Octavia's amphorae then forward every system log but the tenant flows to the admin
targets. On a portico amphora the other logs are the agent's (its Python records) and
keepalived's (its output, which the agent writes to ``log/keepalived.log``): each becomes an
RFC 5424 message with the administrative facility, app name ``portico-agent`` or
``keepalived``, and the amphora id as host name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from portico.agent.log_forward import LogForwarder
from portico.agent.log_sink import MAX_BYTES, LogSink
from portico.wire.log_forwarding import LogForwarding

# Python's levels as syslog severities.
SEVERITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
NOTICE = 5
LOCAL0 = 16
# How often keepalived's output is looked at; its lines are state changes, seconds apart.
TAIL_SECONDS = 0.5
MAX_READ = 1024 * 1024


def syslog_message(
    *, facility: int, severity: int, host: str, app: str, procid: str, text: str
) -> bytes:
    """One RFC 5424 message (no structured data), as haproxy writes its own.

    ``facility`` is the LOG_LOCAL number (0-7), as in the settings: local0 is syslog's 16.
    """
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    body = text.replace("\n", " ").replace("\r", " ")
    pri = (LOCAL0 + facility) * 8 + severity
    return f"<{pri}>1 {stamp} {host} {app} {procid} - - {body}".encode()


class AgentLogHandler(logging.Handler):
    """Forwards the agent's records; records of any thread reach the loop's forwarder."""

    def __init__(self, forwarder: LogForwarder, *, host: str) -> None:
        super().__init__(logging.INFO)
        self.forwarder = forwarder
        self.host = host
        self.loop = asyncio.get_running_loop()
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = syslog_message(
                facility=self.forwarder.settings.admin_facility,
                severity=SEVERITY.get(record.levelno, NOTICE),
                host=self.host,
                app="portico-agent",
                procid=str(os.getpid()),
                text=self.format(record),
            )
            self.loop.call_soon_threadsafe(self.forwarder.send, "admin", message)
        except RuntimeError:  # the loop is closed: the agent is stopping
            pass


async def tail_keepalived(path: Path, forwarder: LogForwarder, *, host: str, offset: int) -> None:
    """Forward the lines keepalived appends to ``path`` past ``offset``, until cancelled."""
    pending = b""
    while True:
        await asyncio.sleep(TAIL_SECONDS)
        size = _size(path)
        if size < offset:  # replaced or truncated: start again at its beginning
            offset, pending = 0, b""
        if size == offset:
            continue
        with contextlib.suppress(OSError), path.open("rb") as fh:
            fh.seek(offset)
            chunk = fh.read(MAX_READ)
            offset += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line.strip():
                    forwarder.send(
                        "admin",
                        syslog_message(
                            facility=forwarder.settings.admin_facility,
                            severity=NOTICE,
                            host=host,
                            app="keepalived",
                            procid="-",
                            text=line.decode(errors="replace"),
                        ),
                    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class LogOffloading:
    """The amphora's log relay: the sink for haproxy's streams, forwarding, and the rest.

    Started before haproxy, so its first lines are kept; closed when the agent stops.
    """

    def __init__(self, settings: LogForwarding, *, base_dir: Path, host: str) -> None:
        self.settings = settings
        self.host = host
        self.keepalived_log = base_dir / "log" / "keepalived.log"
        self.forwarder = LogForwarder(settings)
        self.sink = LogSink(
            base_dir,
            max_bytes=MAX_BYTES if settings.local_storage else 0,
            forwarder=self.forwarder,
        )
        self._handler: AgentLogHandler | None = None
        self._tail: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.sink.start()
        self._start_forwarding()

    async def reconfigure(self, settings: LogForwarding) -> None:
        """Take pushed settings: lines from now on go by them; what the old TCP queues held
        is dropped (the targets may be others)."""
        if settings == self.settings:
            return
        old = self.forwarder
        await self._stop_extras()
        self.settings = settings
        self.forwarder = LogForwarder(settings)
        self.sink.configure(
            forwarder=self.forwarder, max_bytes=MAX_BYTES if settings.local_storage else 0
        )
        self._start_forwarding()
        await old.close()

    def _start_forwarding(self) -> None:
        self.forwarder.start()
        if self.settings.forward_all_logs and self.settings.admin_targets:
            self._handler = AgentLogHandler(self.forwarder, host=self.host)
            logging.getLogger().addHandler(self._handler)
            self._tail = asyncio.create_task(
                # From its size now: what an earlier agent saw was forwarded by that one.
                tail_keepalived(
                    self.keepalived_log,
                    self.forwarder,
                    host=self.host,
                    offset=_size(self.keepalived_log),
                )
            )

    async def _stop_extras(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler = None
        if self._tail is not None:
            self._tail.cancel()
            await asyncio.gather(self._tail, return_exceptions=True)
            self._tail = None

    async def close(self) -> None:
        await self._stop_extras()
        self.sink.close()
        await self.forwarder.close()
