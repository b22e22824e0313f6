"""Rotating an ACTIVE_STANDBY load balancer onto a new image under traffic (netns).

The pair is replaced one amphora per pass, the BACKUP first, each new one joining keepalived
beside the survivor, so the VIP always has a holder. A prober in a client namespace sends
one request at a time, each on a fresh connection, every 20 ms for the whole rotation, and
records each answer and its latency.

The VIP moves once, when the old MASTER leaves. An old MASTER whose agent speaks API 1.2
hands it over (``PUT /1.2/vrrp/handover``): it drops new connections' SYNs (the prober's
connect retries after 1 s, by when the survivor holds the VIP), lets its sessions end, then
stops keepalived. So no request may fail, and the slowest takes about the SYN retry (1 s),
never the prober's 3 s timeout.

A pair on an image whose agents serve only API 1.0 (driven over 1.0, keepalived included)
has no handover: its MASTER is stopped with a connection perhaps in flight, which the new
holder resets (no connection sync between amphorae). The sequential prober has at most one
request in flight, so at most one may fail, and only by a reset (measured: 0 or 1
per run). Either way the pair ends on two ``v2`` amphorae with one MASTER
holding the VIP.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient

from portico.cli.upgrades import rotate_all
from portico.settings import ImageSetting, Settings
from tests.e2e.test_netns_active_standby import VIP, Pair, active_standby

pytestmark = pytest.mark.xdist_group("netns")
T = TypeVar("T")
URL = f"http://{VIP}/"
# The member answers 0.1 s after each request, so that one is in flight most of the time
# (the prober waits 20 ms between them): the VIP's move finds one open almost always.
MEMBER_DELAY = 0.1
# v1 stands for an older image whose agent serves only API 1.0: the pair is built and driven
# (haproxy, keepalived) on it, then rotated onto v2, whose agent serves 1.2. v15's agent
# serves 1.2 too: its MASTER hands the VIP over.
IMAGES = {
    "v1": ImageSetting(agent_version="1.0.0", api_versions=["1.0"]),
    "v15": ImageSetting(agent_version="1.5.0"),
    "v2": ImageSetting(agent_version="2.0.0"),
}
# Fresh-connection GETs, one at a time, every PERIOD until killed; a line per request:
# "1 <seconds>" or "0 <seconds> <error>".
PROBER = """
import sys, time, urllib.request
url, period = sys.argv[1], float(sys.argv[2])
while True:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            answer.read()
        print("1", time.monotonic() - started, flush=True)
    except Exception as exc:
        print("0", time.monotonic() - started, type(exc).__name__, flush=True)
    time.sleep(max(0.0, period - (time.monotonic() - started)))
"""


@dataclass(frozen=True)
class Rotation:
    took: float
    answers: list[list[str]]

    @property
    def failed(self) -> list[list[str]]:
        return [a for a in self.answers if a[0] != "1"]

    @property
    def slowest(self) -> float:
        return max(float(a[1]) for a in self.answers)


def under_probe(pair: Pair, change: Callable[[], T], *, what: str) -> tuple[Rotation, T]:
    """``change()`` run while the prober sends requests to the VIP; what it saw, and the
    change's result (``what`` names it in the printed summary)."""
    prober = subprocess.Popen(
        ["ip", "netns", "exec", pair.user.namespace, sys.executable, "-c", PROBER, URL, "0.02"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        pair.wait_serving(timeout=10)
        started = time.monotonic()
        result = change()
        took = time.monotonic() - started
    finally:
        prober.kill()
        output, _ = prober.communicate(timeout=10)
    answers = [line.split() for line in output.splitlines() if len(line.split()) >= 2]
    rotation = Rotation(took, answers)
    print(
        f"{what} in {took:.1f}s: {len(answers)} requests, {len(rotation.failed)} failed "
        f"{rotation.failed}, slowest {rotation.slowest * 1000:.0f} ms"
    )
    # The prober ran throughout: a request every 0.12 s or so, allowing for slow machines.
    assert len(answers) > took / 0.3
    return rotation, result


def _rotate_under_probe(pair: Pair) -> Rotation:
    rotation, done = under_probe(
        pair,
        lambda: rotate_all(pair.client, "v2", interval=0, timeout=180, echo=print),
        what="rotated",
    )
    assert done == [pair.lb_id]
    return rotation


def _assert_on_v2(pair: Pair, old: set[str]) -> None:
    roles = pair.by_role()
    assert sorted(roles) == ["BACKUP", "MASTER"]
    assert {(a["image_id"], a["api_version"]) for a in roles.values()} == {("v2", "1.2")}
    assert not {a["id"] for a in roles.values()} & old
    assert pair.holders() == [roles["MASTER"]["id"]]


def test_rotating_a_pair_of_api_1_2_amphorae_fails_no_request(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    extra = {"amphora_image": "v15", "compute_images": IMAGES}
    with active_standby(
        client_factory, settings_factory, tmp_path, member_delay=MEMBER_DELAY, **extra
    ) as pair:
        old = {a["id"] for a in pair.amphorae()}
        assert {(a["image_id"], a["api_version"]) for a in pair.amphorae()} == {("v15", "1.2")}
        rotation = _rotate_under_probe(pair)
        assert rotation.failed == []
        # A connect whose SYN was dropped during the handover retried once (1 s), no more.
        assert rotation.slowest < 2.5
        _assert_on_v2(pair, old)


def test_rotating_a_pair_of_api_1_0_amphorae_loses_at_most_the_request_in_flight(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    extra = {"amphora_image": "v1", "compute_images": IMAGES}
    with active_standby(
        client_factory, settings_factory, tmp_path, member_delay=MEMBER_DELAY, **extra
    ) as pair:
        old = {a["id"] for a in pair.amphorae()}
        assert {(a["image_id"], a["api_version"]) for a in pair.amphorae()} == {("v1", "1.0")}
        rotation = _rotate_under_probe(pair)
        failed = rotation.failed
        assert len(failed) <= 1 and all(a[2] == "ConnectionResetError" for a in failed), failed
        _assert_on_v2(pair, old)
