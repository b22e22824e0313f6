"""A webhook receiver for tests: a threading HTTP server on 127.0.0.1 that records each POST
and answers with the status codes it is told to, in order (then 200)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival


class Receiver:
    """What the server saw, and what it answers next; safe across the server's threads."""

    def __init__(self, url: str, *, answers: list[int], delay: float) -> None:
        self.url = url
        self.delay = delay
        self._answers = list(answers)
        self._received: list[Received] = []
        self._lock = threading.Lock()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def event_ids(self) -> list[str]:
        return [str(item.body["event"]["id"]) for item in self.received]

    def _take(self, item: Received) -> int:
        with self._lock:
            self._received.append(item)
            return self._answers.pop(0) if self._answers else 200


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            item = Received(self.path, dict(self.headers.items()), body, time.monotonic())
            if receiver.delay:
                time.sleep(receiver.delay)  # a slow receiver widens the window of a race
            status = receiver._take(item)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def webhook_receiver(
    *, answers: list[int] | None = None, delay: float = 0.0, path: str = "/hook"
) -> Iterator[Receiver]:
    """Serve until the block ends; the server and its thread are gone afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(
        f"http://127.0.0.1:{server.server_address[1]}{path}", answers=answers or [], delay=delay
    )
    server.RequestHandlerClass = _handler(receiver)
    # Request threads are joined by server_close (HTTP/1.0: each closes after its answer).
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
