"""Syslog receivers for tests: UDP (a datagram a message) and TCP (newline-framed, or
octet-counted as RFC 6587 allows), on 127.0.0.1, each on a free port, collecting what it got.

Threads end when the receiver is closed (the context manager closes it).
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from tests.conftest import wait_for

OCTET_COUNT = re.compile(rb"\A(\d+) (?=<)")


class SyslogReceiver:
    """Collects every syslog message sent to ``address``, in arrival order."""

    def __init__(self, protocol: Literal["UDP", "TCP"], port: int = 0) -> None:
        self.protocol = protocol
        kind = socket.SOCK_DGRAM if protocol == "UDP" else socket.SOCK_STREAM
        self._sock = socket.socket(socket.AF_INET, kind)
        # A receiver restarted on the port of a closed one (a log target down, then up).
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.settimeout(0.2)
        self._lock = threading.Lock()
        self._messages: list[str] = []
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        if protocol == "TCP":
            self._sock.listen()
        self._spawn(self._serve_udp if protocol == "UDP" else self._accept)

    @property
    def address(self) -> str:
        host, port = self._sock.getsockname()
        return f"{host}:{port}"

    def messages(self) -> list[str]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, *needles: str, timeout: float = 20.0) -> str:
        """The first message holding every needle; fails after ``timeout`` seconds."""

        def found() -> str | None:
            return next((m for m in self.messages() if all(n in m for n in needles)), None)

        result: str = wait_for(found, timeout=timeout)
        return result

    def close(self) -> None:
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _add(self, raw: bytes) -> None:
        text = OCTET_COUNT.sub(b"", raw).decode(errors="replace").rstrip("\n")
        if text:
            with self._lock:
                self._messages.append(text)

    def _serve_udp(self) -> None:
        while not self._closed.is_set():
            try:
                self._add(self._sock.recv(65535))
            except TimeoutError:
                continue

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(0.2)
            self._spawn(self._read_stream, conn)

    def _read_stream(self, conn: socket.socket) -> None:
        pending = b""
        with conn:
            while not self._closed.is_set():
                try:
                    chunk = conn.recv(65535)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    self._add(line)


@contextmanager
def syslog_receiver(protocol: Literal["UDP", "TCP"], port: int = 0) -> Iterator[SyslogReceiver]:
    receiver = SyslogReceiver(protocol, port)
    try:
        yield receiver
    finally:
        receiver.close()
