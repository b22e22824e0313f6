"""API latency benchmark: portico's figures beside the targets and Octavia's, on both backends.

Not a test: it prints a table. Each backend gets a fresh database and a real ``portico serve``
(API and reconciler in one process, noop provider) on a free loopback port, driven over HTTP
with one keep-alive httpx client, the way a user's client would. Everything it starts (the
server by pid, the temporary directory, the PostgreSQL database) is removed at the end.

    .venv/bin/python bench/api.py                     # SQLite and PostgreSQL
    .venv/bin/python bench/api.py --backends sqlite --creates 200

Measured: sequential load balancer creates (also on a second server with the reconciler off,
to separate the API's cost from the in-process reconciler's) and member creates (p50/p99 of
the HTTP round trip), create-to-ACTIVE (from sending the POST to the first GET that shows
ACTIVE, polling every millisecond), listing load balancers with 10,000 present
(bulk-inserted through SQLAlchemy to keep the run short), and a Prometheus scrape of
``/metrics`` after all that (every route used has its latency series). Then, on a third
server with the amphora provider and the local compute driver, the diagnostics of one real
amphora (``GET /v2/portico/amphorae/{id}/diagnostics``: two agent calls over mutual TLS,
haproxy's runtime socket, the desired configuration rendered and hashed); its load balancer is
deleted, and every amphora process is stopped by pid with the server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rig import SUBNET, free_port, percentile, postgres_database, serve
from sqlalchemy import create_engine, insert, text

from portico.db.base import utcnow
from portico.db.models import LoadBalancer

PROJECT = "default-project"
# The noop provider, named: the default is amphora, whose creates would boot agents (which
# outlive the server) and measure the compute driver instead of the API.
NOOP = {"default_provider_driver": "noop"}
ACTIVE_DEADLINE = 10.0

# metric -> (target from the issue, Octavia's figure where known)
REFERENCE: dict[str, tuple[str, str]] = {
    "create load balancer (ms)": ("p99 < 15", "n/a"),
    "create load balancer, reconciler off (ms)": ("p99 < 15", "n/a"),
    "create member (ms)": ("p99 < 15", "n/a"),
    "create -> ACTIVE (ms)": ("< 50", "1000-3000 (no-op drivers)"),
    "list, default page (ms)": ("< 100", "n/a"),
    "list, limit=1000 (ms)": ("< 100", "n/a"),
    "list, limit=100 (ms)": ("-", "n/a"),
    "GET /metrics (ms)": ("-", "n/a"),
    "GET amphora diagnostics (ms)": ("-", "n/a"),
}


@dataclass
class Results:
    backend: str
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, metric: str, values: list[float]) -> None:
        self.samples[metric] = values


def timed(call: Callable[[], httpx.Response], expect: int) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != expect:
        raise RuntimeError(f"expected {expect}, got {response.status_code}: {response.text}")
    return elapsed


def lb_body() -> dict[str, object]:
    return {"loadbalancer": {"vip_subnet_id": SUBNET}}


def bench_creates(client: httpx.Client, count: int) -> list[float]:
    for _ in range(20):  # warm-up: imports, connection pools, SQLite page cache
        client.post("/v2/lbaas/loadbalancers", json=lb_body())
    return [
        timed(lambda: client.post("/v2/lbaas/loadbalancers", json=lb_body()), 201)
        for _ in range(count)
    ]


def bench_members(client: httpx.Client, count: int) -> list[float]:
    lb_id = client.post("/v2/lbaas/loadbalancers", json=lb_body()).json()["loadbalancer"]["id"]
    pool = {"loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    pool_id = client.post("/v2/lbaas/pools", json={"pool": pool}).json()["pool"]["id"]
    path = f"/v2/lbaas/pools/{pool_id}/members"
    samples = []
    for i in range(count):
        member = {"member": {"address": f"127.1.{i // 250}.{i % 250 + 1}", "protocol_port": 80}}
        samples.append(timed(lambda m=member: client.post(path, json=m), 201))  # type: ignore[misc]
    return samples


def bench_active(client: httpx.Client, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.post("/v2/lbaas/loadbalancers", json=lb_body())
        lb_id = response.json()["loadbalancer"]["id"]
        deadline = time.monotonic() + ACTIVE_DEADLINE
        while True:
            body = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()
            if body["loadbalancer"]["provisioning_status"] == "ACTIVE":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{lb_id} not ACTIVE within {ACTIVE_DEADLINE}s")
            time.sleep(0.001)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def bulk_insert(database_url: str, total: int) -> None:
    """Top the load balancer table up to ``total`` rows, ACTIVE and already reconciled."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            present = int(conn.scalar(text("SELECT count(*) FROM load_balancer")) or 0)
            now = utcnow()
            rows = [
                {
                    "id": str(uuid.uuid4()),
                    "project_id": PROJECT,
                    "name": f"bulk-{i}",
                    "provider": "noop",
                    "provisioning_status": "ACTIVE",
                    "operating_status": "ONLINE",
                    "vip_address": f"127.{64 + i // 65025}.{i // 255 % 255}.{i % 255 + 1}",
                    "vip_subnet_id": SUBNET,
                    "admin_state_up": True,
                    "generation": 1,
                    "applied_generation": 1,
                    "created_at": now,
                }
                for i in range(max(0, total - present))
            ]
            for start in range(0, len(rows), 1000):
                conn.execute(insert(LoadBalancer), rows[start : start + 1000])
    finally:
        engine.dispose()


def bench_list(client: httpx.Client, query: str, repeat: int, expect: int) -> list[float]:
    def call() -> httpx.Response:
        response = client.get(f"/v2/lbaas/loadbalancers{query}")
        if len(response.json()["loadbalancers"]) != expect:
            raise RuntimeError(f"{query}: expected {expect} items")
        return response

    call()
    return [timed(call, 200) for _ in range(repeat)]


def bench_metrics(client: httpx.Client, repeat: int) -> list[float]:
    """Prometheus scrapes (the bench client is on loopback, which may scrape by default)."""
    client.get("/metrics")
    return [timed(lambda: client.get("/metrics"), 200) for _ in range(repeat)]


def bench_diagnostics(client: httpx.Client, repeat: int) -> list[float]:
    """Diagnostics of the amphora of one load balancer, which is deleted afterwards."""
    listener = {"protocol": "HTTP", "protocol_port": free_port()}
    body = {"loadbalancer": {"vip_subnet_id": SUBNET, "listeners": [listener]}}
    lb_id = client.post("/v2/lbaas/loadbalancers", json=body).json()["loadbalancer"]["id"]
    try:
        deadline = time.monotonic() + 60
        while _status(client, lb_id) != "ACTIVE":
            if time.monotonic() > deadline:
                raise RuntimeError(f"load balancer {lb_id} did not become ACTIVE")
            time.sleep(0.05)
        amphorae = client.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb_id})
        path = f"/v2/portico/amphorae/{amphorae.json()['amphorae'][0]['id']}/diagnostics"
        client.get(path)  # warm-up: the agent client's TLS connection
        return [timed(lambda: client.get(path), 200) for _ in range(repeat)]
    finally:
        client.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
        deadline = time.monotonic() + 30
        while _status(client, lb_id) != "gone" and time.monotonic() < deadline:
            time.sleep(0.05)


def _status(client: httpx.Client, lb_id: str) -> str:
    response = client.get(f"/v2/lbaas/loadbalancers/{lb_id}")
    if response.status_code == 404:
        return "gone"
    return str(response.json()["loadbalancer"]["provisioning_status"])


def run_backend(backend: str, args: argparse.Namespace) -> Results:
    tmp = Path(tempfile.mkdtemp(prefix=f"portico-bench-{backend}-"))
    try:
        with (
            _served(backend, tmp, NOOP) as (database_url, url),
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            results = measure(backend, client, database_url, args)
        # The API's own cost: the same creates with no reconciler competing in the process.
        with (
            _served(backend, tmp / "api-only", NOOP | {"run_reconciler": "false"}) as (_, url),
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            print(f"[{backend}] {args.creates} creates, reconciler off", flush=True)
            samples = bench_creates(client, args.creates)
            results.add("create load balancer, reconciler off (ms)", samples)
        # rig.serve's default: the amphora provider on the local compute driver.
        with (
            _served(backend, tmp / "amphora", {}) as (_, url),
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            print(f"[{backend}] {args.diagnostics} amphora diagnostics", flush=True)
            samples = bench_diagnostics(client, args.diagnostics)
            results.add("GET amphora diagnostics (ms)", samples)
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(
    backend: str, client: httpx.Client, database_url: str, args: argparse.Namespace
) -> Results:
    results = Results(backend)
    print(f"[{backend}] {args.creates} load balancer creates", flush=True)
    results.add("create load balancer (ms)", bench_creates(client, args.creates))
    print(f"[{backend}] {args.members} member creates", flush=True)
    results.add("create member (ms)", bench_members(client, args.members))
    print(f"[{backend}] {args.active} create -> ACTIVE", flush=True)
    results.add("create -> ACTIVE (ms)", bench_active(client, args.active))
    print(f"[{backend}] listing with {args.list_size} present", flush=True)
    bulk_insert(database_url, args.list_size)
    results.add("list, default page (ms)", bench_list(client, "", 20, 1000))
    results.add("list, limit=1000 (ms)", bench_list(client, "?limit=1000", 20, 1000))
    results.add("list, limit=100 (ms)", bench_list(client, "?limit=100", 50, 100))
    # After everything above: the latency histogram holds every route used, the table is full.
    results.add("GET /metrics (ms)", bench_metrics(client, 100))
    return results


@contextmanager
def _served(backend: str, tmp: Path, settings: dict[str, str]) -> Iterator[tuple[str, str]]:
    """A fresh database and ``portico serve`` on it (``rig.serve``, stopped with every amphora
    it booted): the database's URL and the API's."""
    with contextlib.ExitStack() as stack:
        if backend == "postgres":
            database_url = stack.enter_context(postgres_database())
            settings = settings | {"database_url": database_url}
        else:
            database_url = f"sqlite:///{tmp / 'data' / 'portico.sqlite3'}"
        server = stack.enter_context(serve(tmp / "data", settings))
        yield database_url, server.url


def print_table(all_results: list[Results]) -> None:
    header = ["metric"]
    for res in all_results:
        header += [f"{res.backend} p50", f"{res.backend} p99"]
    header += ["target", "Octavia"]
    rows = [header]
    for metric, (target, octavia) in REFERENCE.items():
        row = [metric]
        for res in all_results:
            values = res.samples.get(metric, [])
            row += [f"{statistics.median(values):.1f}", f"{percentile(values, 99):.1f}"]
        rows.append([*row, target, octavia])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print()
    print(f"portico API benchmark, {time.strftime('%Y-%m-%d')}, {platform.platform()}, ", end="")
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    for i, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--active", type=int, default=200)
    parser.add_argument("--list-size", type=int, default=10_000)
    parser.add_argument("--diagnostics", type=int, default=100)
    args = parser.parse_args()
    results = [run_backend(b.strip(), args) for b in args.backends.split(",") if b.strip()]
    print_table(results)


if __name__ == "__main__":
    main()
