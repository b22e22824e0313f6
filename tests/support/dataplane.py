"""Helpers for data-plane behaviour tests: build a load balancer in one call, send bounded
traffic through its VIP and count which backend answered, and a TCP echo backend.

Every test builds its whole graph (listeners, pools, members, monitors, L7 policies) in a
single full-graph create so it pays for one amphora boot; the helpers then find children by
name. Requests go to loopback VIPs only, each on a fresh connection unless said otherwise,
so haproxy balances every one of them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.conftest import LOCAL_SUBNET, wait_for, wait_lb_status
from tests.support.amphorae import amphora_pids
from tests.support.backends import Backend


def http_pool(
    name: str, servers: list[Backend], *, algorithm: str = "ROUND_ROBIN", **fields: Any
) -> dict[str, Any]:
    """A full-graph HTTP pool whose members are ``servers`` (extra member fields by index
    through ``member_fields``)."""
    extra: list[dict[str, Any]] = fields.pop("member_fields", [{} for _ in servers])
    members = [
        {"name": s.name, "address": s.address, "protocol_port": s.port, **more}
        for s, more in zip(servers, extra, strict=True)
    ]
    return {
        "name": name,
        "protocol": "HTTP",
        "lb_algorithm": algorithm,
        "members": members,
        **fields,
    }


def http_listener(port: int, servers: list[Backend]) -> dict[str, Any]:
    """A full-graph HTTP listener on ``port`` whose default pool, "web", holds ``servers``."""
    return {"protocol": "HTTP", "protocol_port": port, "default_pool": http_pool("web", servers)}


def create_graph(client: TestClient, listeners: list[dict[str, Any]]) -> str:
    """Create a load balancer with ``listeners`` (full graph); its id, still pending."""
    body = {"vip_subnet_id": LOCAL_SUBNET, "listeners": listeners}
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert created.status_code == 201, created.text
    return str(created.json()["loadbalancer"]["id"])


def build_lb(client: TestClient, listeners: list[dict[str, Any]]) -> dict[str, Any]:
    """Create a load balancer with ``listeners`` (full graph) and wait until it is ACTIVE."""
    return wait_lb_status(client, create_graph(client, listeners), timeout=30)


def by_name(client: TestClient, lb_id: str, kind: str) -> dict[str, dict[str, Any]]:
    """``kind`` (listeners, pools) of a load balancer, keyed by name."""
    rows = client.get(f"/v2/lbaas/{kind}", params={"loadbalancer_id": lb_id}).json()[kind]
    return {row["name"]: row for row in rows}


def members_by_name(client: TestClient, pool_id: str) -> dict[str, dict[str, Any]]:
    rows = client.get(f"/v2/lbaas/pools/{pool_id}/members").json()["members"]
    return {row["name"]: row for row in rows}


def change(
    client: TestClient, lb_id: str, method: str, path: str, body: Any = None
) -> httpx.Response:
    """One API change, then wait until the load balancer applied it (ACTIVE again)."""
    response: httpx.Response = client.request(method, f"/v2/lbaas/{path}", json=body)
    assert response.status_code in (200, 201, 202, 204), response.text
    wait_lb_status(client, lb_id, timeout=30)
    return response


def rendered_config(data_dir: Path) -> str:
    """The haproxy configuration of every amphora under ``data_dir`` (for failure messages)."""
    root = data_dir / "amphorae"
    configs = sorted(root.glob("*/haproxy/haproxy.cfg")) if root.exists() else []
    return "\n".join(f"# {path}\n{path.read_text()}" for path in configs)


def fetch(
    url: str, *, source: str | None = None, timeout: float = 3.0, **kw: Any
) -> httpx.Response:
    """One request on a fresh connection, optionally from the loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source) if source else None
    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
        return client.get(url, **kw)


def tally(url: str, count: int, *, source: str | None = None, **kw: Any) -> Counter[str]:
    """Which backend answered each of ``count`` requests, each on a fresh connection."""
    seen: Counter[str] = Counter()
    for _ in range(count):
        response = fetch(url, source=source, **kw)
        assert response.status_code == 200, (response.status_code, response.text)
        seen[response.text] += 1
    return seen


def tally_one_connection(url: str, count: int) -> Counter[str]:
    """``count`` requests over one keep-alive connection (one client address and port)."""
    seen: Counter[str] = Counter()
    with httpx.Client(timeout=3.0) as client:
        for _ in range(count):
            response = client.get(url)
            assert response.status_code == 200, response.text
            seen[response.text] += 1
    return seen


@dataclass
class EchoServer:
    """A TCP backend that echoes what it receives, prefixed by its name."""

    name: str
    sock: socket.socket
    threads: list[threading.Thread] = field(default_factory=list)
    connections: list[socket.socket] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue  # the listening socket polls so that stop() ends this loop
            except OSError:
                return
            conn.settimeout(10.0)
            self.connections.append(conn)
            worker = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            self.threads.append(worker)
            worker.start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            while not self.stopped.is_set():
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(self.name.encode() + b":" + data)

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for worker in self.threads:
            worker.join(timeout=5)


@contextmanager
def echo_servers(count: int, *, prefix: str = "e") -> Iterator[list[EchoServer]]:
    started: list[EchoServer] = []
    try:
        for index in range(count):
            sock = socket.create_server(("127.0.0.1", 0))
            sock.settimeout(0.1)
            server = EchoServer(name=f"{prefix}{index}", sock=sock)
            thread = threading.Thread(target=server.serve, daemon=True)
            server.threads.append(thread)
            thread.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.stop()


def echo_once(host: str, port: int, payload: bytes, *, timeout: float = 3.0) -> bytes:
    """Send ``payload`` on a fresh TCP connection and return the first answer."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(payload)
        return conn.recv(4096)


def delete_lb(client: TestClient, lb_id: str, data_dir: Path) -> None:
    """Cascade-delete a load balancer and check that no amphora process or file remains.

    Tests end with this rather than leaving the amphora to the fixture's reaper: a delete
    through the API is the behaviour under test, and it stops the agent gracefully.
    """
    deleted = client.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
    assert deleted.status_code == 204, deleted.text
    wait_for(lambda: client.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 404, timeout=30)
    assert amphora_pids(data_dir) == []
    root = data_dir / "amphorae"
    assert not root.exists() or list(root.iterdir()) == []
