"""A bounded HTTP load for zero-disruption tests: keep-alive and new-connection clients.

Client threads send GETs at a steady pace until stopped, a deadline passes or each has sent
its quota, and count every answer: a 2xx is a success, anything else (another status, a
reset, a timeout, a closed keep-alive connection) is a failure, kept with its reason. No
retry is hidden anywhere: ``http.client`` reopens a connection only after the server said
``Connection: close`` on a response, as a well-behaved client does.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    backends: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.ok + self.failed


class Load:
    """``keepalive`` + ``fresh`` client threads against ``host:port``, ``rate`` req/s each."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        keepalive: int = 3,
        fresh: int = 3,
        rate: float = 50.0,
        seconds: float = 25.0,
        max_per_thread: int = 2_000,
    ) -> None:
        self.host, self.port = host, port
        self.rate, self.seconds, self.max_per_thread = rate, seconds, max_per_thread
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(True,), daemon=True) for _ in range(keepalive)
        ] + [threading.Thread(target=self._run, args=(False,), daemon=True) for _ in range(fresh)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        """Stop now and return what was counted."""
        self._stop.set()
        return self.wait()

    def wait(self) -> LoadResult:
        """Let every client reach its deadline or quota (both bounded); return the counts."""
        for thread in self._threads:
            thread.join(timeout=self.seconds + 10)
        return self.result

    def _record(self, backend: str | None, reason: str | None) -> None:
        with self._lock:
            if reason is None:
                self.result.ok += 1
                self.result.backends[backend or "?"] += 1
            else:
                self.result.failed += 1
                self.result.reasons[reason] += 1

    def _run(self, keepalive: bool) -> None:
        deadline = time.monotonic() + self.seconds
        interval = 1.0 / self.rate
        conn: http.client.HTTPConnection | None = None
        headers: dict[str, str] = {} if keepalive else {"Connection": "close"}
        next_at = time.monotonic()
        for _ in range(self.max_per_thread):
            if self._stop.is_set() or time.monotonic() > deadline:
                break
            conn = conn or http.client.HTTPConnection(self.host, self.port, timeout=5)
            if not self._one(conn, headers) or not keepalive:
                conn.close()
                conn = None
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                self._stop.wait(pause)
            else:
                next_at = time.monotonic()  # behind: do not burst to catch up
        if conn is not None:
            conn.close()

    def _one(self, conn: http.client.HTTPConnection, headers: dict[str, str]) -> bool:
        """One request, counted; False when the connection cannot be used again."""
        try:
            conn.request("GET", "/", headers=headers)
            response = conn.getresponse()
            body = response.read().decode(errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            self._record(None, type(exc).__name__)
            return False
        if 200 <= response.status < 300:
            self._record(body, None)
        else:
            self._record(None, f"HTTP {response.status}")
        return not response.will_close
