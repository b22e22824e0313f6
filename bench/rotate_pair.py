"""The ACTIVE_STANDBY case of bench/rotate.py (netns compute driver, root).

One ``portico serve`` on the netns driver creates ``count`` ACTIVE_STANDBY load balancers on
image ``source``, then rotates them onto ``v2`` with ``rotate_all`` while a prober per VIP in
a client namespace starts a fresh-connection GET every 10 ms (without waiting for the last
one, so several are in flight when a VIP moves; 3 s timeout, so a SYN dropped once is
retried as any client would). Two sources are measured side by side: ``v1``, whose agents
serve only API 1.0 (the old MASTER is stopped, and what is in flight at the VIP's move is
reset), and ``v15``, whose agents serve 1.2 (the old MASTER hands the VIP over: drained
first, new connections' SYNs dropped and retried).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import netns_rig
from failover import ADMIN, _pair_flavor, _slug, create_pair_lb, failure_spans, free_udp_port
from rig import serve, wait_active

from portico.cli.upgrades import rotate_all
from portico.drivers.compute import netns_names as names

CIDR = "10.218.0.0/24"
PERIOD, TIMEOUT = 0.01, 3.0
IMAGES = {
    "v1": {"agent_version": "1.0.0", "api_versions": ["1.0"]},
    "v15": {"agent_version": "1.5.0"},
    "v2": {"agent_version": "2.0.0"},
}


@dataclass(frozen=True)
class PairFigures:
    source: str
    count: int
    total: float
    per_lb: list[float]
    probes: int
    failed: int
    # Per VIP: when its failed probes started, after the rotation started (failure_spans).
    spans: list[str]
    # Amphorae the health service found silent meanwhile (each one is failed over).
    stale: int


def rotate_pairs(source: str, count: int, tmp: Path) -> PairFigures:
    """Create ``count`` pairs on ``source`` and rotate them onto v2 under probes."""
    network, subnet = str(uuid.uuid4()), str(uuid.uuid4())
    subnets = [{"id": subnet, "name": "bench-rotate", "network_id": network, "cidr": CIDR}]
    settings = {
        "compute_driver": "netns",
        "subnets": json.dumps(subnets),
        "netns_mgmt_bridge": f"ptbr{uuid.uuid4().hex[:6]}",
        "netns_mgmt_cidr": "172.31.244.0/24",
        "health_bind_host": "0.0.0.0",  # the management bridge's address comes later
        "health_bind_port": str(free_udp_port()),
        # A rotation is measured, not failure detection: under the probers' load the 2 CPUs
        # delay heartbeats past the default 3 s, and each amphora then found stale is failed
        # over (an outage of its own, counted as stale below).
        "heartbeat_timeout": "10",
        "amphora_image": source,
        "compute_images": json.dumps(IMAGES),
    }
    bridge = names.network_bridge(names.network_key(network, CIDR))
    data_dir = tmp / _slug(f"rotate pairs {source}")
    with (
        netns_rig.removed_afterwards(data_dir, settings),
        serve(data_dir, settings) as server,
        httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client,
        netns_rig.attached(bridge, "10.218.0.101/24") as member,
        netns_rig.attached(bridge, "10.218.0.1/24") as user,
    ):
        member.start(netns_rig.BACKEND, member.ip)
        flavor = _pair_flavor(client)
        vips = [f"10.218.0.{10 + i}" for i in range(count)]
        lb_ids = [
            create_pair_lb(client, vip, flavor=flavor, subnet=subnet, member=member.ip)
            for vip in vips
        ]
        for lb_id in lb_ids:
            wait_active(client, lb_id, deadline=300)
        probes = [
            netns_rig.probe(user, vip, period=PERIOD, seconds=600, timeout=TIMEOUT) for vip in vips
        ]
        per_lb: list[float] = []

        def echo(line: str) -> None:
            if " on v2 in " in line:
                per_lb.append(float(line.split(" on v2 in ")[1].split("s")[0]))

        try:
            time.sleep(1.0)  # every VIP answered a while before the rotation starts
            started = time.monotonic()
            rotate_all(client, "v2", interval=0, timeout=180, echo=echo)
            total = time.monotonic() - started
            time.sleep(TIMEOUT + 0.5)  # the last probes answer or time out
        finally:
            for probe in probes:
                probe.stop()
        found = client.get("/v2/portico/events", params={"limit": 1000}).json()["events"]
        stale = [e for e in found if e.get("kind") == "amphora_stale"]
        for lb_id in lb_ids:
            client.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
    samples = [p.samples for p in probes]
    return PairFigures(
        source=source,
        count=count,
        total=total,
        per_lb=per_lb,
        probes=sum(len(s) for s in samples),
        failed=sum(1 for s in samples for _, ok in s if not ok),
        spans=[failure_spans(s, started) for s in samples],
        stale=len(stale),
    )


def report(figures: PairFigures) -> None:
    """Print one source's row, as rotate.py prints SINGLE's."""
    api = "1.0, no handover" if figures.source == "v1" else "1.2, handover"
    print(
        f"\nportico rotate: {figures.count} ACTIVE_STANDBY load balancers {figures.source} "
        f"(agent API {api}) onto v2"
    )
    print(
        f"  total {figures.total:.1f} s, per load balancer p50 "
        f"{statistics.median(figures.per_lb):.1f} s, max {max(figures.per_lb):.1f} s"
    )
    print(
        f"  probes: {figures.probes}, failed {figures.failed}; amphorae found stale {figures.stale}"
    )
    for index, spans in enumerate(figures.spans):
        shown = spans if len(spans) <= 200 else f"{spans[:200]}, ..."
        print(f"  VIP {index + 1}: failures after the rotation started: {shown}")
