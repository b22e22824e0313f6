"""The amphora's local log storage: a small syslog sink for haproxy's two log streams.

haproxy sends tenant flow lines and admin lines as RFC 5424 messages through a ring per
stream, forwarded to a unix stream socket under ``run/`` (one line per message), or, in a
configuration rendered for an agent without rings, to a unix datagram socket (one datagram
per message; ``portico.wire.log_streams``; the controller renders the ``log`` lines). The
sink binds all four, hands each message as it came to the forwarder
(``log_forward.py``) for the operator's syslog targets, and appends it as one line to
``log/tenant.log`` or ``log/admin.log``, which the management API reads back: its timestamp
and message, the rest of the syslog header left out (what haproxy's ``format iso`` wrote).

Each file is bounded: past ``max_bytes`` it becomes ``<file>.1`` (replacing the older one)
and a new file starts, so an amphora never holds more than twice ``max_bytes`` per stream.
When the operator disables local storage the sink forwards and writes no file.

Either way haproxy never waits for the agent. A ring keeps what the agent has not read yet
(while it is busy, restarting or killed: haproxy reconnects to the new agent's socket) up
to its size, the oldest lines giving way; a datagram socket keeps ten waiting
(``net.unix.max_dgram_qlen``) and haproxy drops what does not fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from pathlib import Path
from typing import BinaryIO

from portico.agent.log_forward import LogForwarder
from portico.wire.log_streams import STREAMS, LogStream

LOG = logging.getLogger(__name__)
MAX_BYTES = 10 * 1024 * 1024
# haproxy's lines are at most 8192 bytes (``len`` in the rendered log lines).
MAX_DATAGRAM = 65536
# Datagrams read per wake-up before other work of the agent's loop gets a turn.
BATCH = 256
# Room for bursts while the loop is busy elsewhere; the kernel caps it at rmem_max.
RECEIVE_BUFFER = 1024 * 1024
# Bytes read from a ring's connection per wake-up: hundreds of lines under load.
READ_BYTES = 256 * 1024
# After a read that emptied it, a ring's connection rests this long before the next: under
# load the lines then come hundreds at a time instead of a few per wake-up (haproxy's ring
# and the socket hold them meanwhile), which spares the CPU the agent shares with haproxy.
READ_PAUSE = 0.01
# AF_UNIX paths are limited to 108 bytes; deeper directories are reached through a descriptor.
MAX_SOCKET_PATH = 100


class _Stream:
    """One socket and the file its lines go to."""

    def __init__(
        self, base: Path, stream: LogStream, *, max_bytes: int, forwarder: LogForwarder | None
    ) -> None:
        self.stream = stream
        self.forwarder = forwarder
        self.path = base / stream.file
        self.max_bytes = max_bytes
        self.sock = _bind(base / stream.socket)
        self._file: BinaryIO | None = None
        self._failing = False

    def drain(self) -> None:
        """Take every datagram waiting (up to BATCH)."""
        messages: list[bytes] = []
        for _ in range(BATCH):
            try:
                data = self.sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            messages.append(data.rstrip(b"\n\0"))
        self.take(messages)

    def take(self, messages: list[bytes]) -> None:
        """Forward ``messages`` and append them to the file, one line each."""
        lines: list[bytes] = []
        for message in messages:
            if self.forwarder is not None:
                self.forwarder.send(self.stream.name, message)
            if self.max_bytes:
                lines.append(_line(_stored(message)))
        if lines:
            self._write(b"".join(lines))

    def _write(self, data: bytes) -> None:
        try:
            out = self._open()
            if out.tell() and out.tell() + len(data) > self.max_bytes:
                out.close()
                os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
                self._file = None
                out = self._open()
            out.write(data)
            out.flush()
            self._failing = False
        except OSError as exc:
            # A full disk must not stop the agent; say so once, not for every line.
            if not self._failing:
                LOG.warning("log sink %s: lines dropped: %s", self.stream.name, exc)
            self._failing = True
            self.close_file()

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        return self._file

    def close_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def close(self) -> None:
        self.sock.close()
        self.close_file()


def _line(data: bytes) -> bytes:
    # One datagram is one line: haproxy ends it with a newline; nothing else may break it.
    body = data.rstrip(b"\n\0").replace(b"\n", b" ").replace(b"\r", b" ")
    return body + b"\n"


def _stored(message: bytes) -> bytes:
    """An RFC 5424 message as its timestamp and text, as haproxy's ``format iso`` writes it."""
    parts = message.split(b" ", 7)
    if len(parts) == 8 and parts[0].startswith(b"<") and parts[0].endswith(b">1"):
        return parts[1] + b" " + parts[7]
    return message


class _RingListener:
    """The unix stream socket haproxy forwards one stream's ring to; each line a message."""

    def __init__(self, path: Path, stream: _Stream, loop: asyncio.AbstractEventLoop) -> None:
        self.stream = stream
        self.loop = loop
        self.sock = _bind(path, socket.SOCK_STREAM)
        self._pending: dict[socket.socket, bytes] = {}
        self._paused: dict[socket.socket, asyncio.TimerHandle] = {}
        loop.add_reader(self.sock.fileno(), self._accept)

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        self._pending[conn] = b""
        self.loop.add_reader(conn.fileno(), self._read, conn)

    def _read(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        *messages, rest = (self._pending[conn] + data).split(b"\n")
        if len(rest) > MAX_DATAGRAM:
            messages.append(rest)  # longer than haproxy sends: stored cut, never held
            rest = b""
        self._pending[conn] = rest
        self.stream.take(messages)
        if len(data) < READ_BYTES:  # emptied: rest a moment while lines gather
            self.loop.remove_reader(conn.fileno())
            self._paused[conn] = self.loop.call_later(READ_PAUSE, self._resume, conn)

    def _resume(self, conn: socket.socket) -> None:
        del self._paused[conn]
        self.loop.add_reader(conn.fileno(), self._read, conn)

    def _drop(self, conn: socket.socket) -> None:
        rest = self._pending.pop(conn, b"")
        paused = self._paused.pop(conn, None)
        if paused is not None:
            paused.cancel()
        if not self.loop.is_closed():
            self.loop.remove_reader(conn.fileno())
        conn.close()
        if rest:
            self.stream.take([rest])

    def close(self) -> None:
        for conn in list(self._pending):
            self._drop(conn)
        if not self.loop.is_closed():
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


def _bind(path: Path, kind: socket.SocketKind = socket.SOCK_DGRAM) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by an agent that was killed
    sock = socket.socket(socket.AF_UNIX, kind)
    try:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        if len(str(path)) < MAX_SOCKET_PATH:
            sock.bind(str(path))
        else:
            directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
            try:
                sock.bind(f"/proc/self/fd/{directory}/{path.name}")
            finally:
                os.close(directory)
        if kind == socket.SOCK_STREAM:
            sock.listen(8)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class LogSink:
    """Receives haproxy's log streams of one amphora while the agent's loop runs.

    ``max_bytes`` 0: nothing is stored (``disable_local_log_storage``); ``forwarder``: where
    lines go besides the files.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        max_bytes: int = MAX_BYTES,
        forwarder: LogForwarder | None = None,
    ) -> None:
        self.base = base_dir
        self.max_bytes = max_bytes
        self.forwarder = forwarder
        self._streams: list[_Stream] = []
        self._rings: list[_RingListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def configure(self, *, forwarder: LogForwarder | None, max_bytes: int) -> None:
        """Forward to ``forwarder`` and store up to ``max_bytes`` from the next datagram on."""
        self.forwarder, self.max_bytes = forwarder, max_bytes
        for item in self._streams:
            item.forwarder, item.max_bytes = forwarder, max_bytes
            if not max_bytes:
                item.close_file()

    def start(self) -> None:
        """Bind every socket and read them from the running loop."""
        self._loop = loop = asyncio.get_running_loop()
        try:
            for stream in STREAMS:
                item = _Stream(
                    self.base, stream, max_bytes=self.max_bytes, forwarder=self.forwarder
                )
                self._streams.append(item)
                loop.add_reader(item.sock.fileno(), item.drain)
                self._rings.append(_RingListener(self.base / stream.ring, item, loop))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading; what was received is on disk."""
        for ring in self._rings:
            ring.close()
        self._rings = []
        for item in self._streams:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(item.sock.fileno())
            item.close()
        self._streams = []
