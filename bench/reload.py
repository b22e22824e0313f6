"""Reload benchmark: failed requests per 100 configuration changes under load (target 0).

Not a test: it prints a table, never asserts. One ``portico serve`` (amphora provider, local
compute driver, SQLite) and fast haproxy backends on loopback (see ``rig.py``). A steady load
(keep-alive clients and new-connection clients, a few hundred requests per second) runs
through a load balancer while 100 changes are made, and every non-2xx answer or exception
counts as a failure. Three series, side by side in one run:

- portico, member changes through the API (member add, member delete: runtime API);
- portico, changes that need a reload through the API (a second listener added, deleted:
  seamless reload of the master-worker haproxy, listeners passed to the new worker);
- a naive reference on the very configuration portico rendered, same backends, same load:
  ``haproxy -D -sf OLD`` per change (a new process binds its own sockets, no fd passing);
  and the same again without ``option idle-close-on-response``, as haproxy behaves unless
  told otherwise.

Changes are paced (one every ``--pace`` seconds at most) so every series sees the same rhythm.

    .venv/bin/python bench/reload.py
    .venv/bin/python bench/reload.py --changes 50 --pace 0.3
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rig import SUBNET, Backend, backends, free_port, serve, wait_active


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, reason: str | None) -> None:
        with self.lock:
            if reason is None:
                self.ok += 1
            else:
                self.failed += 1
                self.reasons[reason] += 1


def _client(host: str, port: int, keepalive: bool, rate: float, tally: Tally, stop: Any) -> None:
    """One client thread: GET / at ``rate`` per second until ``stop`` is set (or 10 min)."""
    headers = {} if keepalive else {"Connection": "close"}
    conn: http.client.HTTPConnection | None = None
    end = time.monotonic() + 600
    while not stop.is_set() and time.monotonic() < end:
        conn = conn or http.client.HTTPConnection(host, port, timeout=5)
        reusable = False
        try:
            conn.request("GET", "/", headers=headers)
            response = conn.getresponse()
            response.read()
            tally.add(None if 200 <= response.status < 300 else f"HTTP {response.status}")
            reusable = keepalive and not response.will_close
        except (OSError, http.client.HTTPException) as exc:
            tally.add(type(exc).__name__)
        if not reusable:
            conn.close()
            conn = None
        stop.wait(1.0 / rate)
    if conn is not None:
        conn.close()


@contextlib.contextmanager
def load(host: str, port: int, *, clients: int, rate: float) -> Iterator[Tally]:
    """``clients`` keep-alive and ``clients`` new-connection threads, ``rate`` req/s each."""
    tally, stop = Tally(), threading.Event()
    threads = [
        threading.Thread(target=_client, args=(host, port, keep, rate, tally, stop), daemon=True)
        for keep in (True, False)
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        yield tally
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def paced(changes: int, pace: float, one: Callable[[int], None]) -> float:
    """Run ``one(i)`` for each change, at most one per ``pace`` seconds; returns seconds."""
    started = time.monotonic()
    for index in range(changes):
        due = started + index * pace
        time.sleep(max(0.0, due - time.monotonic()))
        one(index)
    return time.monotonic() - started


def change(client: httpx.Client, lb_id: str, method: str, path: str, body: Any = None) -> Any:
    response = client.request(method, f"/v2/lbaas/{path}", json=body)
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
    wait_active(client, lb_id)
    return response.json() if response.content else None


def master_loads(data_dir: Path) -> int:
    """How many configurations the amphorae's haproxy masters have loaded so far."""
    logs = data_dir.glob("amphorae/*/haproxy/log/haproxy.log")
    return sum(path.read_text(errors="replace").count("Loading success") for path in logs)


@dataclass
class Row:
    variant: str
    changes: int
    seconds: float
    tally: Tally
    reloads: int | str


def portico_series(
    client: httpx.Client, data_dir: Path, servers: list[Backend], args: argparse.Namespace
) -> tuple[list[Row], str, str]:
    """Both portico series; returns the rows, the rendered configuration and the VIP."""
    *initial, spare = servers
    pool = {
        "name": "web",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [b.member() for b in initial],
    }
    listener = {"name": "web", "protocol": "HTTP", "protocol_port": 8080, "default_pool": pool}
    body = {"vip_subnet_id": SUBNET, "listeners": [listener]}
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    lb = wait_active(client, created.json()["loadbalancer"]["id"])
    lb_id, vip = str(lb["id"]), str(lb["vip_address"])
    pools = client.get("/v2/lbaas/pools", params={"loadbalancer_id": lb_id}).json()["pools"]
    pool_id = pools[0]["id"]
    rows: list[Row] = []
    added: list[str] = []

    def member_change(index: int) -> None:
        if index % 2 == 0:
            new = {"member": spare.member()}
            made = change(client, lb_id, "POST", f"pools/{pool_id}/members", new)
            added.append(made["member"]["id"])
        else:
            change(client, lb_id, "DELETE", f"pools/{pool_id}/members/{added.pop()}")

    second: list[str] = []
    extra_listener = {
        "loadbalancer_id": lb_id,
        "protocol": "HTTP",
        "protocol_port": free_port(),
        "default_pool_id": pool_id,
    }

    def listener_change(index: int) -> None:
        if index % 2 == 0:
            made = change(client, lb_id, "POST", "listeners", {"listener": extra_listener})
            second.append(made["listener"]["id"])
        else:
            change(client, lb_id, "DELETE", f"listeners/{second.pop()}")

    for variant, one in (
        ("portico: member add/delete (runtime API)", member_change),
        ("portico: listener add/delete (seamless reload)", listener_change),
    ):
        before = master_loads(data_dir)
        with load(vip, 8080, clients=args.clients, rate=args.rate) as tally:
            seconds = paced(args.changes, args.pace, one)
        rows.append(Row(variant, args.changes, seconds, tally, master_loads(data_dir) - before))
    rendered = next(data_dir.glob("amphorae/*/haproxy/haproxy.cfg")).read_text()
    return rows, rendered, vip


def naive_series(
    rendered: str, vip: str, work: Path, args: argparse.Namespace, *, idle_close: bool
) -> Row:
    """The same configuration on another port, restarted with ``haproxy -D -sf OLD``.

    Without ``idle_close`` the configuration loses ``option idle-close-on-response`` (haproxy's
    default behaviour: an old process closes idle keep-alive connections at once).
    """
    port = free_port()
    base = rendered.replace(f"{vip}:8080", f"127.0.0.1:{port}")
    if not idle_close:
        base = base.replace("    option idle-close-on-response\n", "")
    # Its own working directory: the stats socket path in the config is relative.
    home = work / f"naive-{idle_close}"
    (home / "run").mkdir(parents=True)
    extra = f"\nfrontend extra\n    bind 127.0.0.1:{free_port()}\n    mode http\n"
    default_backend = re.search(r"^\s+default_backend (\S+)", base, re.MULTILINE)
    if default_backend:
        extra += f"    default_backend {default_backend.group(1)}\n"
    seen: set[int] = set()

    def start(config: str, old: list[int]) -> None:
        (home / "haproxy.cfg").write_text(config)
        argv = ["haproxy", "-D", "-f", "haproxy.cfg", "-p", "run/haproxy.pid"]
        if old:
            argv += ["-sf", *map(str, old)]
        subprocess.run(argv, cwd=home, check=True, capture_output=True)
        seen.update(int(p) for p in (home / "run/haproxy.pid").read_text().split())

    def current() -> list[int]:
        return [int(p) for p in (home / "run/haproxy.pid").read_text().split()]

    start(base, [])
    try:
        with load("127.0.0.1", port, clients=args.clients, rate=args.rate) as tally:
            seconds = paced(
                args.changes, args.pace, lambda i: start(base + extra * (i % 2 == 0), current())
            )
    finally:
        for pid in seen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    variant = "naive: haproxy -D -sf OLD (no fd passing)"
    if not idle_close:
        variant = "naive, also without idle-close-on-response"
    return Row(variant, args.changes, seconds, tally, args.changes)


def report(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"\nFailed requests per 100 configuration changes under load "
        f"({2 * args.clients} clients: {args.clients} keep-alive + {args.clients} new-connection, "
        f"{args.rate:g} req/s each; target 0)"
    )
    header = f"{'variant':<48} {'changes':>7} {'reloads':>7} {'seconds':>7} {'requests':>8} "
    print(header + f"{'failed':>6} {'per 100':>7}  reasons")
    for row in rows:
        total = row.tally.ok + row.tally.failed
        per_100 = row.tally.failed * 100 / row.changes
        reasons = ", ".join(f"{k} {v}" for k, v in row.tally.reasons.most_common(3)) or "-"
        print(
            f"{row.variant:<48} {row.changes:>7} {row.reloads!s:>7} {row.seconds:>7.1f} "
            f"{total:>8} {row.tally.failed:>6} {per_100:>7.1f}  {reasons}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between changes")
    parser.add_argument("--clients", type=int, default=3, help="of each kind")
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s per client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portico-bench-") as tmp:
        work = Path(tmp)
        with (
            backends(["b0", "b1", "b2", "b3"], work) as servers,
            serve(work / "data") as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            rows, rendered, vip = portico_series(client, work / "data", servers, args)
            for idle_close in (True, False):
                rows.append(naive_series(rendered, vip, work, args, idle_close=idle_close))
    report(rows, args)


if __name__ == "__main__":
    main()
