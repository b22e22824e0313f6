"""Failover benchmark: how soon a dead amphora is noticed, and how long traffic is lost.

Not a test: it prints a table. One ``portico serve`` per scenario (amphora provider, local
compute driver, SQLite, the default heartbeat_interval 1 s and heartbeat_timeout 3 s) in
front of fast haproxy backends (``rig.py``). A prober opens a fresh connection to the VIP
every 5 ms (1 s timeout; each in its own thread, so a slow one holds no other back) and
records each answer by the time it started. Each run creates a load balancer, lets
traffic flow, then breaks its amphora and measures:

- detection: the fault -> the amphora reads ERROR in the API (polled every 10 ms);
- outage: the last answer before the fault -> the first answer after it;
- failed: probes that got no answer in between (at 200 probes/s).

Scenarios: SINGLE with a ready spare (``spares_pool_size = 1``) and without one, each after a
kill -9 of the whole amphora (agent, haproxy master and workers); and a kill -9 of haproxy
alone (the agent restarts it; no failover). As root, ACTIVE_STANDBY too, on the netns
driver (the prober runs in a client namespace on the VIP's network): kill -9 of haproxy on
the MASTER (the VIP moves) and of the whole MASTER (every process in its namespace, its
links down; the BACKUP takes over, the controller rebuilds). Octavia's
figures are from its defaults and documentation (detection: heartbeat_timeout 60 s) and
from ``../shared/notes/haproxy.md`` (VRRP takeover at Octavia's 1 s advert interval, measured
on this kind of machine).

    .venv/bin/python bench/failover.py            # 5 runs per scenario
    .venv/bin/python bench/failover.py --runs 10
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import netns_rig
from rig import SUBNET, Backend, backends, percentile, serve, wait_active

from portico.drivers.compute import netns_names as names

PROBE_SECONDS = 0.005
DEADLINE = 60.0
PAIR_CIDR, PAIR_VIP = "10.217.0.0/24", "10.217.0.10"
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin"}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Prober:
    """Fresh-connection GETs to ``host:port`` until stopped; (time, ok) for each."""

    host: str
    port: int
    samples: list[tuple[float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        # A probe starts every period whether or not the last one answered: one that waits
        # out its timeout must not hold the next ones back (it would stretch the outage).
        due = time.monotonic()
        while not self._stop.is_set():
            threading.Thread(target=self._one, args=(time.monotonic(),), daemon=True).start()
            due += PROBE_SECONDS
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _one(self, started: float) -> None:
        self.samples.append((started, _get(self.host, self.port)))

    @contextlib.contextmanager
    def running(self) -> Iterator[Prober]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=5)

    def outage(self, fault_at: float) -> tuple[float, int]:
        return outage(self.samples, fault_at)


def outage(samples: list[tuple[float, bool]], fault_at: float) -> tuple[float, int]:
    """(seconds from the last answer before ``fault_at`` to the first after, failures)."""
    last = max(t for t, ok in samples if ok and t <= fault_at)
    failures = [t for t, ok in samples if not ok and t > last]
    # It ends at the first answer after the last failure, not at a lucky early one.
    end_from = max(failures, default=fault_at)
    first = min(t for t, ok in samples if ok and t > end_from)
    return first - last, len(failures)


def _get(host: str, port: int) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def until(predicate: Callable[[], object], *, poll: float = 0.01) -> object:
    end = time.monotonic() + DEADLINE
    while not (value := predicate()):
        if time.monotonic() > end:
            raise RuntimeError("deadline passed")
        time.sleep(poll)
    return value


def _pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(path.read_text().split()[0])
    return None


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == parent:
                    found.append(int(entry.name))
    return found


def kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class Figures:
    detection: list[float] = field(default_factory=list)
    outage: list[float] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def _lb(client: httpx.Client, members: list[Backend], port: int) -> dict[str, object]:
    pool = {
        "name": "web",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [m.member() for m in members],
    }
    body = {
        "vip_subnet_id": SUBNET,
        "listeners": [{"protocol": "HTTP", "protocol_port": port, "default_pool": pool}],
    }
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    if created.status_code != 201:
        raise RuntimeError(created.text)
    return wait_active(client, str(created.json()["loadbalancer"]["id"]))


def _amphora(client: httpx.Client, lb_id: str) -> dict[str, str]:
    found = client.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb_id}).json()
    [amphora] = found["amphorae"]
    return dict(amphora)


def one_run(
    client: httpx.Client, data_dir: Path, members: list[Backend], fault: str, *, spares: int = 0
) -> tuple[float | None, float, int]:
    """Create, break, measure, delete: (detection or None, outage, failed probes).

    With ``spares``, the fault waits until the pool is full again: the load balancer's own
    creation took a spare, and the failover must find one to measure what a spare saves.
    """
    lb = _lb(client, members, 8080)
    amphora = _amphora(client, str(lb["id"]))
    if spares:
        until(lambda: _ready_spares(client) >= spares)
    base = data_dir / "amphorae" / amphora["id"]
    prober = Prober(str(lb["vip_address"]), 8080)
    detection = None
    with prober.running():
        until(lambda: sum(ok for _, ok in prober.samples) > 100)
        master = _pid(base / "haproxy" / "run" / "haproxy.pid")
        agent = _pid(base / "agent.pid")
        assert master is not None and agent is not None
        victims = [master, *_children(master)] + ([agent] if fault == "amphora" else [])
        fault_at = time.monotonic()
        kill(victims)
        if fault == "amphora":
            url = f"/v2/octavia/amphorae/{amphora['id']}"
            until(lambda: client.get(url).json()["amphora"]["status"] != "ALLOCATED")
            detection = time.monotonic() - fault_at
        # Enough answers after the fault that the outage's end is not a lucky early one.
        until(lambda: sum(ok for t, ok in prober.samples if t > fault_at) > 50)
    outage, failed = prober.outage(fault_at)
    client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
    until(lambda: client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404)
    return detection, outage, failed


def failure_spans(samples: list[tuple[float, bool]], fault_at: float) -> str:
    """When failed probes started, as spans of milliseconds after the fault (gaps > 50 ms)."""
    times = sorted(t - fault_at for t, ok in samples if not ok and t > fault_at - 1)
    spans: list[list[float]] = []
    for t in times:
        if spans and t - spans[-1][1] <= 0.05:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    return ", ".join(f"+{a * 1000:.0f}..{b * 1000:.0f} ms" for a, b in spans) or "none"


def run_scenario(
    name: str, settings: dict[str, str], fault: str, members: list[Backend], runs: int, tmp: Path
) -> Figures:
    figures = Figures()
    settings = {"health_bind_port": str(free_udp_port()), **settings}
    spares = int(settings.get("spares_pool_size", "0"))
    with serve(tmp / _slug(name), settings) as server, httpx.Client(base_url=server.url) as client:
        for run in range(runs):
            detection, outage, failed = one_run(
                client, server.data_dir, members, fault, spares=spares
            )
            if detection is not None:
                figures.detection.append(detection)
            figures.outage.append(outage)
            figures.failed.append(failed)
            print(f"{name}: run {run + 1}/{runs} outage {outage * 1000:.0f} ms", flush=True)
    return figures


def run_pair_scenario(name: str, fault: str, runs: int, tmp: Path) -> Figures:
    """ACTIVE_STANDBY on the netns driver: kill haproxy, or the whole MASTER, under probes."""
    figures = Figures()
    network, subnet = str(uuid.uuid4()), str(uuid.uuid4())
    subnets = [{"id": subnet, "name": "bench-vrrp", "network_id": network, "cidr": PAIR_CIDR}]
    settings = {
        "compute_driver": "netns",
        "subnets": json.dumps(subnets),
        "netns_mgmt_bridge": f"ptbm{uuid.uuid4().hex[:6]}",
        "netns_mgmt_cidr": "172.31.245.0/24",
        "health_bind_host": "0.0.0.0",  # the management bridge's address comes later
        "health_bind_port": str(free_udp_port()),
    }
    bridge = names.network_bridge(names.network_key(network, PAIR_CIDR))
    data_dir = tmp / _slug(name)
    with (
        netns_rig.removed_afterwards(data_dir, settings),
        serve(data_dir, settings) as server,
        httpx.Client(base_url=server.url, headers=ADMIN) as client,
        netns_rig.attached(bridge, "10.217.0.101/24") as member,
        netns_rig.attached(bridge, "10.217.0.1/24") as user,
    ):
        member.start(netns_rig.BACKEND, member.ip)
        flavor = _pair_flavor(client)
        for run in range(runs):
            detection, lost, failed = one_pair_run(
                client,
                server.data_dir,
                fault,
                flavor=flavor,
                subnet=subnet,
                member=member.ip,
                user=user,
            )
            if detection is not None:
                figures.detection.append(detection)
            figures.outage.append(lost)
            figures.failed.append(failed)
            print(f"{name}: run {run + 1}/{runs} outage {lost * 1000:.0f} ms", flush=True)
    return figures


def create_pair_lb(client: httpx.Client, vip: str, *, flavor: str, subnet: str, member: str) -> str:
    """An HTTP load balancer of ``flavor`` on ``vip`` with one member on port 8000; its id."""
    pool = {
        "name": "web",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": member, "protocol_port": 8000, "subnet_id": subnet}],
    }
    body = {
        "vip_subnet_id": subnet,
        "vip_address": vip,
        "flavor_id": flavor,
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": pool}],
    }
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    if created.status_code != 201:
        raise RuntimeError(created.text)
    return str(created.json()["loadbalancer"]["id"])


def _slug(name: str) -> str:
    """A directory name without spaces: keepalived's configuration names files under it."""
    return "".join(c if c.isalnum() else "-" for c in name)


def _pair_flavor(client: httpx.Client) -> str:
    data = json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"})
    profile = client.post(
        "/v2/lbaas/flavorprofiles",
        json={"flavorprofile": {"name": "ha", "provider_name": "amphora", "flavor_data": data}},
    )
    fp_id = profile.json()["flavorprofile"]["id"]
    flavor = client.post(
        "/v2/lbaas/flavors", json={"flavor": {"name": "ha", "flavor_profile_id": fp_id}}
    )
    return str(flavor.json()["flavor"]["id"])


def _holds_vip(amphora_id: str) -> bool:
    namespace = names.namespace(amphora_id)
    links = json.loads(netns_rig.ip("-n", namespace, "-j", "addr", "show"))
    return any(i.get("local") == PAIR_VIP for link in links for i in link.get("addr_info", []))


def _all_heard(client: httpx.Client, lb_id: str) -> bool:
    listed = client.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb_id}).json()
    serving = [a for a in listed["amphorae"] if a["status"] != "DELETED"]
    return len(serving) == 2 and all(a["last_heartbeat_at"] for a in serving)


def one_pair_run(
    client: httpx.Client,
    data_dir: Path,
    fault: str,
    *,
    flavor: str,
    subnet: str,
    member: str,
    user: netns_rig.Namespace,
) -> tuple[float | None, float, int]:
    lb_id = create_pair_lb(client, PAIR_VIP, flavor=flavor, subnet=subnet, member=member)
    wait_active(client, lb_id)
    amphorae = client.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb_id}).json()
    [master] = [a["id"] for a in amphorae["amphorae"] if _holds_vip(a["id"])]
    base = data_dir / "amphorae" / master
    if fault == "amphora":
        # Only amphorae heard from are watched: wait until both have been heard.
        until(lambda: _all_heard(client, lb_id))
    probe = netns_rig.probe(user, PAIR_VIP, period=PROBE_SECONDS, seconds=DEADLINE)
    detection = None
    try:
        until(lambda: sum(ok for _, ok in probe.samples) > 100)
        haproxy = _pid(base / "haproxy" / "run" / "haproxy.pid")
        assert haproxy is not None
        namespace = names.namespace(master)
        if fault == "amphora":
            victims = [int(p) for p in netns_rig.ip("netns", "pids", namespace).split()]
        else:
            victims = [haproxy, *_children(haproxy)]
        fault_at = time.monotonic()
        if fault == "amphora":
            # As a dead machine: its links go down first, so nothing it does while it is
            # being killed (keepalived's VRRP child sends a priority-0 advert when its parent
            # dies) reaches the network.
            for link in json.loads(netns_rig.ip("-n", namespace, "-j", "link", "show")):
                if link["ifname"] not in ("lo", names.MGMT_IFNAME):
                    netns_rig.ip("-n", namespace, "link", "set", link["ifname"], "down")
        kill(victims)
        if fault == "amphora":
            url = f"/v2/octavia/amphorae/{master}"
            until(lambda: client.get(url).json()["amphora"]["status"] != "ALLOCATED")
            detection = time.monotonic() - fault_at
        until(lambda: sum(ok for t, ok in probe.samples if t > fault_at) > 50)
    finally:
        probe.stop()
    lost, failed = outage(probe.samples, fault_at)
    print(f"  failed probes started at {failure_spans(probe.samples, fault_at)}", flush=True)
    client.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
    until(lambda: client.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 404)
    return detection, lost, failed


def _ready_spares(client: httpx.Client) -> int:
    amphorae = client.get("/v2/octavia/amphorae").json()["amphorae"]
    return sum(1 for a in amphorae if a["status"] == "READY")


SCENARIOS = [
    # name, settings, fault, target (from the issue), Octavia
    (
        "single, spare, amphora killed",
        {"spares_pool_size": "1"},
        "amphora",
        "< 3 s",
        "~60 s + VM boot",
    ),
    ("single, no spare, amphora killed", {}, "amphora", "-", "~60 s + VM boot"),
    ("single, haproxy killed (restarted)", {}, "haproxy", "-", "~60 s + VM boot"),
]


PAIR_SCENARIOS = [
    # name, fault, target, Octavia (VRRP at its 1 s advert, notes/haproxy.md)
    ("active_standby, haproxy killed", "haproxy", "<= 0.4 s", "3.4 s"),
    ("active_standby, master killed", "amphora", "<= 0.4 s", "3.4 s"),
]


def ms(values: list[float]) -> str:
    if not values:
        return f"{'-':>8} {'-':>8} {'-':>8}"
    p50, p90, top = statistics.median(values), percentile(values, 90), max(values)
    return f"{p50 * 1000:>8.0f} {p90 * 1000:>8.0f} {top * 1000:>8.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="", help="run the scenarios whose name has this")
    args = parser.parse_args()
    results: list[tuple[str, Figures, str, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="portico-bench-") as tmp,
        backends(["b0", "b1"], Path(tmp)) as members,
    ):
        for name, settings, fault, target, octavia in SCENARIOS:
            if args.only not in name:
                continue
            figures = run_scenario(name, settings, fault, members, args.runs, Path(tmp))
            results.append((name, figures, target, octavia))
        if os.geteuid() == 0:
            for name, fault, target, octavia in PAIR_SCENARIOS:
                if args.only not in name:
                    continue
                figures = run_pair_scenario(name, fault, args.runs, Path(tmp))
                results.append((name, figures, target, octavia))
    print(f"\nportico failover, {args.runs} runs (p50 / p90 / max)")
    print(f"{'scenario':<36} {'detection ms':>26} {'outage ms':>26} {'failed':>8}  target  Octavia")
    for name, figures, target, octavia in results:
        failed = statistics.median(figures.failed) if figures.failed else 0
        print(
            f"{name:<36} {ms(figures.detection)} {ms(figures.outage)} {failed:>8.0f}"
            f"  {target:<6}  {octavia}"
        )
    if os.geteuid() != 0:
        print("active_standby: needs root (netns compute driver); not run")


if __name__ == "__main__":
    main()
