"""Data-plane benchmark: a portico load balancer beside a hand-written minimal haproxy.

Not a test: it prints a table. A third target is a portico listener with every DDoS limit
set (connection and request rate per source, header and body size) high enough never to
refuse: what the stick-table tracking and the size checks cost a request. The proxies
balance HTTP keep-alive traffic round-robin over the same three fast backends (one haproxy
answering with ``http-request return``, see ``rig.py``), on loopback, in one run, the order
alternating round by round so the machine's drift hits all alike. The portico side is a
real load balancer: ``portico serve`` with the amphora provider boots an agent and haproxy
and pushes the rendered configuration.

Load comes from ``wrk`` (``apt-get install wrk``); without it a bounded Python client runs
instead, which measures mostly itself (the ratio still compares the two proxies).

    .venv/bin/python bench/dataplane.py
    .venv/bin/python bench/dataplane.py --seconds 10 --connections 64 --rounds 3
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rig import (
    SUBNET,
    Backend,
    backends,
    free_port,
    haproxy,
    percentile,
    serve,
    wait_active,
    wait_port,
)

REFERENCE_TEMPLATE = """\
global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
{servers}
"""


@dataclass(frozen=True)
class Result:
    rps: float
    p99_ms: float


def reference_config(port: int, servers: list[Backend]) -> str:
    lines = "\n".join(f"    server {s.name} {s.address}:{s.port}" for s in servers)
    return REFERENCE_TEMPLATE.format(port=port, servers=lines)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, *, seconds: int, connections: int, threads: int) -> Result:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    assert p99 is not None, out
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"  wrk reported: {errors.group(0)}")
    return Result(rps, float(p99.group(1)) * _UNITS[p99.group(2)])


def run_python(host: str, port: int, *, seconds: int, connections: int) -> Result:
    """Keep-alive GETs from ``connections`` threads for ``seconds`` (bounded by time)."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    end = time.monotonic() + seconds

    def worker(out: list[float]) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        while time.monotonic() < end:
            started = time.perf_counter()
            conn.request("GET", "/")
            conn.getresponse().read()
            out.append((time.perf_counter() - started) * 1000)
        conn.close()

    threads = [threading.Thread(target=worker, args=(out,)) for out in latencies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [value for per in latencies for value in per]
    return Result(len(flat) / seconds, percentile(flat, 99))


# Every DDoS limit of a listener, none reachable by this load: only their cost shows.
LIMITS = {
    "connection_rate_limit": 1_000_000,
    "request_rate_limit": 1_000_000,
    "max_request_header_size": 8192,
    "max_request_body_size": 1_048_576,
}


def portico_lb(
    client: httpx.Client, servers: list[Backend], limits: dict[str, int] | None = None
) -> tuple[str, int]:
    port = free_port()
    body = {
        "vip_subnet_id": SUBNET,
        "listeners": [
            {
                "protocol": "HTTP",
                "protocol_port": port,
                **(limits or {}),
                "default_pool": {
                    "name": "bench",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [s.member() for s in servers],
                },
            }
        ],
    }
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    created.raise_for_status()
    lb = wait_active(client, created.json()["loadbalancer"]["id"])
    return str(lb["vip_address"]), port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a portico setting for the controller (e.g. connection_logging=false)",
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.setting)
    wrk = shutil.which("wrk") is not None
    if not wrk:
        print("wrk is not installed (apt-get install wrk): using a bounded Python client,")
        print("which saturates long before haproxy does; compare the ratio, not the rates.")
    results: dict[str, list[Result]] = {
        "reference haproxy": [],
        "portico": [],
        "portico + limits": [],
    }
    with tempfile.TemporaryDirectory(prefix="portico-bench-") as tmp:
        work = Path(tmp)
        ref_port = free_port()
        with (
            backends(["b0", "b1", "b2"], work) as servers,
            haproxy(reference_config(ref_port, servers), work, "reference"),
            serve(work / "data", settings) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            wait_port(ref_port)
            vip, port = portico_lb(client, servers)
            limited_vip, limited_port = portico_lb(client, servers, LIMITS)
            targets = {
                "reference haproxy": ("127.0.0.1", ref_port),
                "portico": (vip, port),
                "portico + limits": (limited_vip, limited_port),
            }
            for round_ in range(args.rounds):
                # Who goes first alternates too: a neighbour's burst should not favour one.
                order = list(targets.items())
                for name, (host, target_port) in order if round_ % 2 == 0 else order[::-1]:
                    if wrk:
                        found = run_wrk(
                            f"http://{host}:{target_port}/",
                            seconds=args.seconds,
                            connections=args.connections,
                            threads=2,
                        )
                    else:
                        found = run_python(host, target_port, seconds=args.seconds, connections=8)
                    results[name].append(found)
                    print(f"  {name:<20} {found.rps:10.0f} req/s  p99 {found.p99_ms:7.2f} ms")
    report(results, wrk=wrk, args=args)


def report(results: dict[str, list[Result]], *, wrk: bool, args: argparse.Namespace) -> None:
    tool = f"wrk -t2 -c{args.connections}" if wrk else "Python client, 8 connections"
    print(
        f"\nHTTP keep-alive, roundrobin over 3 backends, {tool}, "
        f"{args.rounds} x {args.seconds} s each (median of rounds)"
    )
    print(f"{'':<20} {'req/s':>10} {'p99 (ms)':>10}")
    medians = {}
    for name, found in results.items():
        rps = statistics.median(r.rps for r in found)
        p99 = statistics.median(r.p99_ms for r in found)
        medians[name] = rps
        print(f"{name:<20} {rps:10.0f} {p99:10.2f}")
    ratio = medians["portico"] / medians["reference haproxy"]
    print(f"{'ratio portico/ref':<20} {ratio:10.3f}  (target >= 0.95)")
    limited = medians["portico + limits"] / medians["portico"]
    print(f"{'ratio limits/portico':<20} {limited:10.3f}  (the DDoS limits' cost)")


if __name__ == "__main__":
    main()
