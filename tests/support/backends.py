"""Real HTTP backends on loopback for data-plane tests: each answers with its own name.

Threaded ``http.server`` instances in the test process (no subprocess to leak); each
records how many requests it served and the headers it received. ``stop()`` closes them all.
A backend can be slow (``delay``, or ``?delay=SECONDS`` on one request) and can set a cookie,
for the load-balancing, connection-limit and persistence tests.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Backend:
    name: str
    server: ThreadingHTTPServer
    thread: threading.Thread
    hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    healthy: bool = True  # False: answer 503 (for health-monitor tests)
    delay: float = 0.0  # seconds to wait before answering every request
    set_cookie: str | None = None  # a Set-Cookie value sent with every answer
    # Headers of each request served, in order (tests send bounded numbers of requests).
    received: list[dict[str, str]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _handler(backend_ref: list[Backend]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            backend = backend_ref[0]
            with backend.lock:
                backend.hits += 1
                backend.received.append(dict(self.headers.items()))
            asked = parse_qs(urlsplit(self.path).query).get("delay")
            delay = float(asked[0]) if asked else backend.delay
            if delay:
                # A slow backend is the behaviour asked for (``?delay=`` or ``Backend.delay``),
                # bounded so that a test cannot hang a handler thread for long.
                time.sleep(min(delay, 10.0))
            status = 200 if backend.healthy else 503
            body = backend.name.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Backend", backend.name)
            if backend.set_cookie:
                self.send_header("Set-Cookie", backend.set_cookie)
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET  # noqa: N815

        def do_POST(self) -> None:
            # The body is read (Content-Length or chunked) and dropped: the request-size
            # tests need a backend that accepts bodies and answers as a GET does.
            length = self.headers.get("Content-Length")
            if length is not None:
                self.rfile.read(int(length))
            elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    self.rfile.read(size + 2)
                self.rfile.readline()
            self.do_GET()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


class _QuietServer(ThreadingHTTPServer):
    """Health checks and refused clients reset their connections: not worth a traceback."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def start_backend(name: str, host: str = "127.0.0.1", port: int = 0) -> Backend:
    ref: list[Backend] = []
    server = _QuietServer((host, port), _handler(ref))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"backend-{name}", daemon=True)
    backend = Backend(name=name, server=server, thread=thread)
    ref.append(backend)
    thread.start()
    return backend


@contextmanager
def backends(count: int, *, prefix: str = "b") -> Iterator[list[Backend]]:
    started = [start_backend(f"{prefix}{i}") for i in range(count)]
    try:
        yield started
    finally:
        for backend in started:
            backend.stop()
