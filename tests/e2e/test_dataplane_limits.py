"""DDoS limits through a real amphora: one abusive client address (127.0.0.2) is refused
(429, or its connections closed) while another (127.0.0.3) is served; an oversized header
gets 431 and an oversized body 413, announced or chunked; a listener without limits
serves the same traffic unchanged; and a limit unset through the API stops acting.

One load balancer (one boot) carries a listener per behaviour. Every loop is bounded in
count, and the rate assertions allow for the time the loop really took.
"""

from __future__ import annotations

import math
import socket
import time
from collections import Counter
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from tests.conftest import wait_for
from tests.support.backends import backends
from tests.support.dataplane import (
    build_lb,
    by_name,
    change,
    delete_lb,
    echo_servers,
    fetch,
    http_pool,
    rendered_config,
)

ABUSER, OTHER = "127.0.0.2", "127.0.0.3"
FLOOD = 30


def _listener(port: int, pool: dict[str, object], **fields: object) -> dict[str, object]:
    return {"name": f"l{port}", "protocol": "HTTP", "protocol_port": port, "default_pool": pool}


def _outcome(url: str, source: str, headers: dict[str, str] | None = None) -> str:
    """The status of one GET on a fresh connection from ``source``, or "closed" if it got
    no answer. A raw socket, not an HTTP client: a flood must be fast for its rate to
    count, even on a loaded machine."""
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    lines = ["GET / HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.socket() as sock:
        sock.settimeout(3)
        sock.bind((source, 0))
        try:
            sock.connect((host, int(port)))
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            answer = sock.recv(64)
        except (ConnectionError, TimeoutError):
            return "closed"
    return answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "closed"


def _flood(url: str, source: str, count: int = FLOOD) -> tuple[Counter[str], float]:
    """``count`` back-to-back requests from ``source``: outcomes and seconds taken."""
    started = time.monotonic()
    seen = Counter(_outcome(url, source) for _ in range(count))
    return seen, time.monotonic() - started


def _allowed(rate: int, took: float) -> int:
    """The most requests a source may be granted in ``took`` seconds (plus one for the
    window's edge): the budget of each second the flood touched."""
    return rate * (1 + math.ceil(took)) + 1


def _echo(host: str, port: int, source: str) -> bytes:
    """One echo over a fresh TCP connection from ``source``; b"" if haproxy closed it."""
    with socket.socket() as sock:
        sock.settimeout(3)
        sock.bind((source, 0))
        try:
            sock.connect((host, port))  # on loopback, a refusal can reset the connect itself
            sock.sendall(b"ping")
            return sock.recv(4096)
        except (ConnectionError, TimeoutError):
            return b""


def test_abusive_source_is_limited_others_are_served_and_sizes_are_enforced(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(1) as web, echo_servers(1) as echo:
        tcp_pool = {
            "name": "echo",
            "protocol": "TCP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [{"name": "e0", "address": "127.0.0.1", "protocol_port": echo[0].port}],
        }
        listeners = [
            {**_listener(8101, http_pool("p1", web)), "request_rate_limit": 5},
            {**_listener(8102, http_pool("p2", web)), "connection_rate_limit": 5},
            {
                "name": "l8103",
                "protocol": "TCP",
                "protocol_port": 8103,
                "connection_rate_limit": 3,
                "default_pool": tcp_pool,
            },
            {**_listener(8104, http_pool("p4", web)), "max_request_header_size": 512},
            {**_listener(8105, http_pool("p5", web)), "max_request_body_size": 1024},
            _listener(8106, http_pool("p6", web)),
        ]
        lb = build_lb(amphora_client, listeners)
        vip = lb["vip_address"]
        config = rendered_config(tmp_path)

        # Request rate: the abuser gets at most its budget, then 429 with Retry-After.
        url = f"http://{vip}:8101/"
        seen, took = _flood(url, ABUSER)
        assert set(seen) <= {"200", "429"}, (seen, config)
        assert 1 <= seen["200"] <= _allowed(5, took) < FLOOD, (seen, took, config)
        refused = fetch(url, source=ABUSER)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert [_outcome(url, OTHER) for _ in range(5)] == ["200"] * 5, config
        # Slowed down, the abuser is served again within a few seconds.
        wait_for(lambda: _outcome(url, ABUSER) == "200", timeout=5, interval=0.5)

        # Connection rate on HTTP: the abuser's extra connections are closed unanswered.
        url = f"http://{vip}:8102/"
        seen, took = _flood(url, ABUSER)
        assert set(seen) <= {"200", "closed"}, (seen, config)
        assert 1 <= seen["200"] <= _allowed(5, took) < FLOOD, (seen, took, config)
        assert [_outcome(url, OTHER) for _ in range(5)] == ["200"] * 5, config

        # Connection rate on TCP: the same, for an echo service.
        started = time.monotonic()
        answers = [_echo(vip, 8103, ABUSER) for _ in range(FLOOD)]
        took = time.monotonic() - started
        served = FLOOD - answers.count(b"")
        assert 1 <= served <= _allowed(3, took) < FLOOD, (answers, took, config)
        assert [_echo(vip, 8103, OTHER) for _ in range(3)] == [b"e0:ping"] * 3, config

        # Header size: 431 over the limit, served under it.
        url = f"http://{vip}:8104/"
        big = {"X-Padding": "a" * 600}
        assert _outcome(url, OTHER, headers=big) == "431", config
        assert _outcome(url, OTHER, headers={"X-Padding": "a" * 100}) == "200", config

        # Body size: 413 over the limit, whether announced (Content-Length) or chunked.
        url = f"http://{vip}:8105/"
        with httpx.Client(timeout=3) as client:
            assert client.post(url, content=b"x" * 2000).status_code == 413, config
            assert client.post(url, content=iter([b"x" * 1000] * 2)).status_code == 413
            assert client.post(url, content=b"x" * 500).status_code == 200, config
            assert client.post(url, content=iter([b"x" * 500])).status_code == 200, config

        # Without limits, the same traffic is served as before.
        url = f"http://{vip}:8106/"
        seen, _ = _flood(url, ABUSER)
        assert seen == Counter({"200": FLOOD}), (seen, config)
        assert _outcome(url, ABUSER, headers={"X-Padding": "a" * 4000}) == "200"
        with httpx.Client(timeout=3) as client:
            assert client.post(url, content=b"x" * 10_000).status_code == 200

        # Unset through the API (a reload): the abuser's flood is served in full.
        listener_id = by_name(amphora_client, lb["id"], "listeners")["l8101"]["id"]
        body = {"listener": {"request_rate_limit": None}}
        change(amphora_client, lb["id"], "PUT", f"listeners/{listener_id}", body)
        config = rendered_config(tmp_path)
        assert "sc_http_req_rate" not in config, config
        seen, _ = _flood(f"http://{vip}:8101/", ABUSER)
        assert seen == Counter({"200": FLOOD}), (seen, config)
        delete_lb(amphora_client, lb["id"], tmp_path)
