"""Rotation benchmark: time and failed requests to rotate load balancers onto a new image.

Not a test: it prints figures. One ``portico serve`` (amphora provider, local compute driver,
SQLite, images ``v1`` and ``v2`` in ``compute_images``, ``amphora_image = v1``) in front of
fast haproxy backends (``rig.py``). It creates ``--count`` SINGLE load balancers (20 by
default), then runs what ``portico admin rotate --to-version v2`` runs (``rotate_all``, one
load balancer at a time, ``--interval`` between them) while a prober opens a fresh connection
to each VIP in turn (one probe every 5 ms, so each VIP is probed every ``count`` x 5 ms, 1 s
timeout, each in its own thread). It prints the rotation's total and per load balancer time
and, per load balancer, the probes that failed and the outage (last answer before its first
failure to the first answer after its last).

Octavia's documented way to move amphorae onto a new image is a load balancer failover per
load balancer, run by the operator (``openstack loadbalancer failover``, one after another);
it is not measured here (no Nova, no Octavia on this host), so no figure is printed for it.

As root it then rotates ``--pairs`` ACTIVE_STANDBY load balancers (netns driver,
``rotate_pair.py``) twice, side by side: from agents of API 1.0 (the old MASTER stopped)
and from agents of API 1.2 (the old MASTER hands the VIP over). ``--pairs 0`` skips them.

    .venv/bin/python bench/rotate.py
    .venv/bin/python bench/rotate.py --count 5 --interval 0 --pairs 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from failover import _get, _lb
from rig import backends, percentile, serve
from rotate_pair import report, rotate_pairs

from portico.cli.upgrades import rotate_all

PROBE_SECONDS = 0.005
PORT = 8080
IMAGES = {"v1": {"agent_version": "1.0.0"}, "v2": {"agent_version": "2.0.0"}}


@dataclass
class RoundRobinProber:
    """Fresh-connection GETs to each VIP in turn; (time, ok) per VIP."""

    vips: list[str]
    samples: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        due, index = time.monotonic(), 0
        while not self._stop.is_set():
            vip = self.vips[index % len(self.vips)]
            threading.Thread(target=self._one, args=(vip, time.monotonic()), daemon=True).start()
            index += 1
            due += PROBE_SECONDS
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _one(self, vip: str, started: float) -> None:
        self.samples.setdefault(vip, []).append((started, _get(vip, PORT)))

    def stop(self) -> None:
        self._stop.set()
        time.sleep(1.5)  # let the last probes (1 s timeout) record their answer


def outage(samples: list[tuple[float, bool]]) -> tuple[float, int]:
    """(seconds of the gap around the failures, failed probes); (0, 0) when none failed."""
    failures = [t for t, ok in samples if not ok]
    if not failures:
        return 0.0, 0
    before = [t for t, ok in samples if ok and t < failures[0]]
    after = [t for t, ok in samples if ok and t > failures[-1]]
    if not before or not after:
        return float("nan"), len(failures)
    return min(after) - max(before), len(failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--pairs", type=int, default=2, help="ACTIVE_STANDBY ones (root)")
    args = parser.parse_args()
    settings = {"amphora_image": "v1", "compute_images": json.dumps(IMAGES)}
    with (
        tempfile.TemporaryDirectory(prefix="portico-bench-") as tmp,
        backends(["b0", "b1"], Path(tmp)) as members,
        serve(Path(tmp) / "serve", settings) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        lbs = [_lb(client, members, PORT) for _ in range(args.count)]
        vips = {str(lb["vip_address"]): str(lb["id"]) for lb in lbs}
        prober = RoundRobinProber(list(vips))
        thread = threading.Thread(target=prober.run, daemon=True)
        thread.start()
        time.sleep(1.0)  # every VIP answered a few times before the rotation starts
        per_lb: list[float] = []
        started = time.monotonic()

        def echo(line: str) -> None:
            # rotate_all's progress line: "<id> on v2 in <seconds>s (i/n)".
            if " on v2 in " in line:
                per_lb.append(float(line.split(" on v2 in ")[1].split("s")[0]))

        done = rotate_all(client, "v2", interval=args.interval, timeout=120, echo=echo)
        total = time.monotonic() - started
        prober.stop()
        thread.join(timeout=5)
    figures = [outage(prober.samples[vip]) for vip in vips]
    failed = [f for _, f in figures]
    gaps = [g for g, f in figures if f]
    probes = sum(len(s) for s in prober.samples.values())
    print(f"\nportico rotate: {len(done)} of {args.count} SINGLE load balancers onto v2")
    print(f"  total {total:.1f} s, interval {args.interval:g} s between load balancers")
    print(
        f"  per load balancer: p50 {statistics.median(per_lb):.1f} s, "
        f"p90 {percentile(per_lb, 90):.1f} s, max {max(per_lb):.1f} s"
    )
    print(
        f"  probes: {probes}, failed {sum(failed)} "
        f"({sum(1 for f in failed if f)} load balancers with a failure, "
        f"max {max(failed)} on one)"
    )
    if gaps:
        print(
            f"  outage where one was seen: p50 {statistics.median(gaps) * 1000:.0f} ms, "
            f"max {max(gaps) * 1000:.0f} ms"
        )
    print("  Octavia (a load balancer failover each, its documented way): not measured here")
    if args.pairs and os.geteuid() == 0:
        with tempfile.TemporaryDirectory(prefix="portico-bench-") as tmp:
            for source in ("v1", "v15"):
                report(rotate_pairs(source, args.pairs, Path(tmp)))


if __name__ == "__main__":
    main()
