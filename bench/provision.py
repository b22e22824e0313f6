"""Provisioning benchmark: how soon a new load balancer, and a new member, carry traffic.

Not a test: it prints a table. One ``portico serve`` (amphora provider, local compute driver,
SQLite) and fast haproxy backends on loopback (see ``rig.py``). Each run:

- ``POST loadbalancer`` with the full graph (two HTTP listeners, a pool each, two members
  each) -> the first 200 through the VIP, polled with a fresh connection every 2 ms. This is
  the whole path: API write, reconciler, amphora boot (agent process, certificate, mutual
  TLS), rendering, config push, haproxy start.
- member add -> the first response served by the new member, on a ROUND_ROBIN pool (runtime
  API: ``add server``, no reload) and on an HTTP_COOKIE pool (the ``cookie`` server keyword is
  refused for dynamic servers, so it reloads), side by side.
- ``DELETE ?cascade=true`` -> 404 (the amphora's processes are gone by then).

Octavia's figures are quoted from its documentation and reports (VM boot), not measured.

    .venv/bin/python bench/provision.py            # 10 runs
    .venv/bin/python bench/provision.py --runs 20
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rig import SUBNET, Backend, backends, free_port, percentile, serve, wait_active

POLL_SECONDS = 0.002
DEADLINE = 60.0

# metric -> (target from the issue, Octavia's figure where known)
REFERENCE: dict[str, tuple[str, str]] = {
    "POST (full graph) -> first request via VIP (ms)": ("p50 < 1000", "43000-97000 (VM boot)"),
    "POST -> ACTIVE (ms)": ("-", "n/a"),
    "member add -> served, runtime API (ms)": ("p50 < 100", "n/a (always reloads)"),
    "member add -> served, reload (ms)": ("-", "n/a"),
    "DELETE -> 404 (ms)": ("-", "n/a"),
}


def fetch(host: str, port: int) -> str | None:
    """One GET on a fresh connection: the body on 200, else None."""
    conn = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read().decode()
        return body if response.status == 200 else None
    except OSError:
        return None
    finally:
        conn.close()


def until(predicate: Callable[[], bool]) -> None:
    end = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > end:
            raise RuntimeError("deadline passed")
        time.sleep(POLL_SECONDS)


def graph(members: list[Backend], ports: tuple[int, int]) -> dict[str, Any]:
    def listener(port: int, name: str, persistence: dict[str, str] | None) -> dict[str, Any]:
        pool: dict[str, Any] = {
            "name": name,
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [m.member() for m in members],
        }
        if persistence:
            pool["session_persistence"] = persistence
        return {"protocol": "HTTP", "protocol_port": port, "default_pool": pool}

    return {
        "vip_subnet_id": SUBNET,
        "listeners": [
            listener(ports[0], "runtime", None),
            listener(ports[1], "reload", {"type": "HTTP_COOKIE"}),
        ],
    }


def add_member(client: httpx.Client, pool_id: str, new: Backend, vip: str, port: int) -> float:
    started = time.perf_counter()
    created = client.post(f"/v2/lbaas/pools/{pool_id}/members", json={"member": new.member()})
    created.raise_for_status()
    until(lambda: fetch(vip, port) == new.name)
    return (time.perf_counter() - started) * 1000


def one_run(client: httpx.Client, servers: list[Backend], figures: dict[str, list[float]]) -> None:
    ports = (free_port(), free_port())
    started = time.perf_counter()
    created = client.post(
        "/v2/lbaas/loadbalancers", json={"loadbalancer": graph(servers[:2], ports)}
    )
    created.raise_for_status()
    lb = created.json()["loadbalancer"]
    vip = lb["vip_address"]
    until(lambda: fetch(vip, ports[0]) is not None)
    figures["POST (full graph) -> first request via VIP (ms)"].append(
        (time.perf_counter() - started) * 1000
    )
    wait_active(client, lb["id"])
    figures["POST -> ACTIVE (ms)"].append((time.perf_counter() - started) * 1000)

    pools = {p["name"]: p["id"] for p in client.get("/v2/lbaas/pools").json()["pools"]}
    pool_ids = [p["id"] for p in lb["pools"]]
    by_name = {name: pid for name, pid in pools.items() if pid in pool_ids}
    figures["member add -> served, runtime API (ms)"].append(
        add_member(client, by_name["runtime"], servers[2], vip, ports[0])
    )
    wait_active(client, lb["id"])
    figures["member add -> served, reload (ms)"].append(
        add_member(client, by_name["reload"], servers[2], vip, ports[1])
    )
    wait_active(client, lb["id"])

    started = time.perf_counter()
    client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"})
    until(lambda: client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404)
    figures["DELETE -> 404 (ms)"].append((time.perf_counter() - started) * 1000)


def report(figures: dict[str, list[float]], runs: int) -> None:
    print(f"\nportico provisioning, local compute driver, {runs} runs (p50 / p90 / max, ms)")
    print(f"{'metric':<50} {'p50':>8} {'p90':>8} {'max':>8}  {'target':<12} Octavia")
    for metric, values in figures.items():
        target, octavia = REFERENCE[metric]
        print(
            f"{metric:<50} {statistics.median(values):8.0f} {percentile(values, 90):8.0f} "
            f"{max(values):8.0f}  {target:<12} {octavia}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {metric: [] for metric in REFERENCE}
    with tempfile.TemporaryDirectory(prefix="portico-bench-") as tmp:
        work = Path(tmp)
        with (
            backends(["b0", "b1", "b2"], work) as servers,
            serve(work / "data") as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            for run in range(args.runs):
                one_run(client, servers, figures)
                print(f"run {run + 1}/{args.runs} done", flush=True)
    report(figures, args.runs)


if __name__ == "__main__":
    main()
