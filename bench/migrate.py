"""Migration benchmark: the outage of SINGLE load balancers moved into another zone.

Not a test: it prints figures. One ``portico serve`` (amphora provider, local compute driver,
SQLite, images ``v1`` and ``v2``) in front of fast haproxy backends (``rig.py``). It creates
``--count`` SINGLE load balancers (10 by default) in no availability zone, then migrates each
into zone ``az-b`` (profile ``compute_zone: zone-b``: the local driver boots the new amphora
in ``zones/zone-b/``), one after another, as ``portico admin loadbalancer migrate ID
--availability-zone az-b`` does, while the prober of ``rotate.py`` opens a fresh connection
to each VIP in turn (one probe every 5 ms, 1 s timeout). Beside it, as the reference, the
same load balancers are then rotated onto image ``v2`` (``rotate_all``, what ``portico admin
rotate`` runs): the same failover path with another target, so the two columns should
agree. Per load balancer it counts the failed probes and the outage (last answer before the
first failure to the first answer after the last).

ACTIVE_STANDBY is not measured here (its handover is netns and root: bench/rotate_pair.py).

    .venv/bin/python bench/migrate.py
    .venv/bin/python bench/migrate.py --count 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from failover import _lb
from rig import backends, percentile, serve
from rotate import RoundRobinProber, outage

from portico.cli.upgrades import migrate_to, rotate_all

PORT = 8080
IMAGES = {"v1": {"agent_version": "1.0.0"}, "v2": {"agent_version": "2.0.0"}}


def _zone(client: httpx.Client, name: str, compute_zone: str) -> None:
    data = json.dumps({"compute_zone": compute_zone})
    body = {"name": name, "provider_name": "amphora", "availability_zone_data": data}
    profile = client.post(
        "/v2/lbaas/availabilityzoneprofiles", json={"availability_zone_profile": body}
    )
    profile.raise_for_status()
    azp_id = profile.json()["availability_zone_profile"]["id"]
    zone = {"name": name, "availability_zone_profile_id": azp_id}
    client.post("/v2/lbaas/availabilityzones", json={"availability_zone": zone}).raise_for_status()


def _measure(vips: list[str], move: Callable[[], list[float]]) -> dict[str, object]:
    """Run ``move`` (seconds per load balancer) under the prober; the figures."""
    prober = RoundRobinProber(vips)
    thread = threading.Thread(target=prober.run, daemon=True)
    thread.start()
    time.sleep(1.0)  # every VIP answered a few times before anything moves
    started = time.monotonic()
    per_lb = move()
    total = time.monotonic() - started
    prober.stop()
    thread.join(timeout=5)
    figures = [outage(prober.samples.get(vip, [])) for vip in vips]
    gaps = [g for g, f in figures if f]
    return {
        "moved": len(per_lb),
        "total s": f"{total:.1f}",
        "per LB p50 s": f"{statistics.median(per_lb):.1f}",
        "per LB max s": f"{max(per_lb):.1f}",
        "probes": sum(len(s) for s in prober.samples.values()),
        "failed probes": sum(f for _, f in figures),
        "LBs with a failure": sum(1 for _, f in figures if f),
        "outage p50 ms": f"{statistics.median(gaps) * 1000:.0f}" if gaps else "-",
        "outage p90 ms": f"{percentile(gaps, 90) * 1000:.0f}" if gaps else "-",
        "outage max ms": f"{max(gaps) * 1000:.0f}" if gaps else "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    settings = {"amphora_image": "v1", "compute_images": json.dumps(IMAGES)}
    with (
        tempfile.TemporaryDirectory(prefix="portico-bench-") as tmp,
        backends(["b0", "b1"], Path(tmp)) as members,
        serve(Path(tmp) / "serve", settings) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        _zone(client, "az-b", "zone-b")
        lbs = [_lb(client, members, PORT) for _ in range(args.count)]
        vips = [str(lb["vip_address"]) for lb in lbs]
        ids = [str(lb["id"]) for lb in lbs]

        def into_zone() -> list[float]:
            zone = {"availability_zone": "az-b"}
            return [migrate_to(client, lb_id, zone, timeout=120) for lb_id in ids]

        def onto_v2() -> list[float]:
            per_lb: list[float] = []

            def echo(line: str) -> None:
                if " on v2 in " in line:  # "<id> on v2 in <seconds>s (i/n)"
                    per_lb.append(float(line.split(" on v2 in ")[1].split("s")[0]))

            rotate_all(client, "v2", interval=0, timeout=120, echo=echo)
            return per_lb

        columns = {
            "migrate into az-b": _measure(vips, into_zone),
            "reference: rotate onto v2": _measure(vips, onto_v2),
        }
    print(f"\n{args.count} SINGLE load balancers, local driver, one at a time")
    print(f"{'':22}" + "".join(f"{name:>28}" for name in columns))
    for row in next(iter(columns.values())):
        print(f"{row:22}" + "".join(f"{c[row]!s:>28}" for c in columns.values()))


if __name__ == "__main__":
    main()
