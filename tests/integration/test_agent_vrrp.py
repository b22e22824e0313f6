"""The agent runs keepalived for an ACTIVE_STANDBY pair, and the VIP follows a working haproxy.

Two real agents, each in its own network namespace with its own haproxy and keepalived
(2.2.7), share a tenant network (a bridge in a third namespace, which is also the client).
The test pushes haproxy and keepalived configurations as the controller would, then kills
processes by the pids their files name and watches, in the kernel, which namespace holds
the VIP and who answers it: the VIP moves to the peer when haproxy or keepalived dies on the
MASTER, and never stays on both.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portico.agent.app import create_agent_app
from portico.agent.config import AgentConfig
from portico.agent.haproxy import HaproxyManager
from portico.agent.keepalived import KeepalivedManager
from portico.agent.supervisor import Supervisor
from portico.drivers.compute.processes import pid_alive
from portico.wire.agent_api import AgentInfo
from tests.conftest import wait_for
from tests.support.netns import require_netns
from tests.support.vrrp import VIP, Amphora, Lab, vrrp_lab
from tests.support.vrrp_configs import haproxy_config, vrrp_body

pytestmark = pytest.mark.xdist_group("netns")
DEADLINE = 10.0
VIP_URL = f"http://{VIP}/"
LONELY_PEER = "10.252.0.9"  # nobody: a single amphora's peer that never answers


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Two amphorae, ``a`` and ``b``, with haproxy serving their name on the VIP."""
    require_netns()
    with vrrp_lab(tmp_path, ["a", "b"]) as made:
        for amphora in made.amphorae:
            push = {"generation": 1, "haproxy_cfg": haproxy_config(f"amphora-{amphora.name}")}
            assert amphora.ok("PUT", "/1.0/config", push)["action"] == "started"
        yield made


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Amphora]:
    """One amphora (no peer) for the API's refusals and lookups."""
    require_netns()
    with vrrp_lab(tmp_path, ["a"]) as made:
        yield made.amphorae[0]


def _converge(lab: Lab) -> tuple[Amphora, Amphora]:
    """keepalived on both (``a`` first, higher priority); returns (MASTER, BACKUP)."""
    a, b = lab.amphorae
    assert a.ok("PUT", "/1.0/vrrp", vrrp_body(a, b.address, priority=200))["running"] is True
    assert b.ok("PUT", "/1.0/vrrp", vrrp_body(b, a.address, priority=100))["running"] is True
    wait_for(lambda: a.holds_vip() and not b.holds_vip(), timeout=DEADLINE)
    wait_for(lambda: lab.client_get(VIP_URL) == "amphora-a", timeout=DEADLINE)
    return a, b


@dataclass
class Watch:
    """Who held the VIP while sampled: the longest stretch both held it, when the peer first
    held it alone (seconds after ``since``), and who held it at the last sample."""

    both_longest: float = 0.0
    peer_alone_after: float | None = None
    held: tuple[bool, bool] = (False, False)


def _watch(a: Amphora, b: Amphora, *, since: float, until: float) -> Watch:
    """Sample, every few milliseconds until ``until``, which of ``a`` and ``b`` hold the VIP."""
    watch, both_since = Watch(), None
    while time.monotonic() < until:
        watch.held = (a.holds_vip(), b.holds_vip())
        now = time.monotonic()
        if watch.held == (True, True):
            both_since = now if both_since is None else both_since
            watch.both_longest = max(watch.both_longest, now - both_since)
        else:
            both_since = None
        if watch.held == (False, True) and watch.peer_alone_after is None:
            watch.peer_alone_after = now - since
        # The sampling period, not a wait: what is measured is who held the VIP over the
        # whole stretch up to ``until``, so the loop runs to it whatever it sees.
        time.sleep(0.002)
    return watch


def test_the_higher_priority_amphora_becomes_master_and_the_vip_answers(lab: Lab) -> None:
    a, b = lab.amphorae
    assert a.ok("GET", "/1.0/vrrp")["configured"] is False

    _converge(lab)

    status = a.ok("GET", "/1.0/vrrp")
    assert (status["configured"], status["running"], status["generation"]) == (True, True, 1)
    assert (status["holds_vips"], status["haproxy_ok"], status["restarts"]) == (True, True, 0)
    assert status["pid"] == a.pid_file("vrrp/keepalived.pid")
    assert b.ok("GET", "/1.0/vrrp")["holds_vips"] is False
    # ``${AMPHORA_DIR}`` is the agent's directory, defined on the first line of the file.
    conf = (a.base / "vrrp" / "keepalived.conf").read_text()
    assert conf.splitlines()[0] == f"$AMPHORA_DIR={a.base.resolve()}"
    assert (a.base / "vrrp" / "haproxy-state").read_text().strip() == "0"
    # keepalived runs the agent's check script (its directory has a space in it) and it passes.
    log = a.base / "log" / "keepalived.log"
    wait_for(lambda: "VRRP_Script(check_haproxy) succeeded" in log.read_text(), timeout=DEADLINE)
    # The same configuration again (a newer generation) is not a restart.
    again = a.ok("PUT", "/1.0/vrrp", vrrp_body(a, b.address, priority=200, generation=2))
    assert (again["pid"], again["generation"]) == (status["pid"], 2)
    names = {p["pid"]: p["name"] for p in a.ok("GET", "/1.0/details")["processes"]}
    assert names[status["pid"]] == "keepalived"
    assert list(names.values()).count("keepalived") == 2  # the main process and its VRRP child


def test_a_killed_haproxy_on_the_master_moves_the_vip_to_the_backup(lab: Lab) -> None:
    a, b = _converge(lab)
    master = a.pid_file("run/haproxy.pid")
    assert master is not None

    killed = time.monotonic()
    os.kill(master, signal.SIGKILL)
    wait_for(b.holds_vip, timeout=DEADLINE, interval=0.002)
    moved_ms = (time.monotonic() - killed) * 1000
    wait_for(lambda: lab.client_get(VIP_URL) == "amphora-b", timeout=DEADLINE)
    answered_ms = (time.monotonic() - killed) * 1000
    print(f"haproxy kill -9 -> VIP on peer {moved_ms:.0f} ms, answered {answered_ms:.0f} ms")

    # a's haproxy is back, but with nopreempt the VIP stays where it went.
    wait_for(lambda: a.ok("GET", "/1.0/vrrp")["haproxy_ok"], timeout=DEADLINE)
    assert a.ok("GET", "/1.0/haproxy")["restarts"] == 1
    assert (a.base / "vrrp" / "haproxy-state").read_text().strip() == "0"
    now = time.monotonic()
    watch = _watch(a, b, since=now, until=now + 1.0)
    assert (watch.both_longest, watch.held) == (0.0, (False, True))
    assert lab.client_get(VIP_URL) == "amphora-b"


def test_keepalived_killed_on_the_master_is_restarted_and_the_vip_ends_on_the_peer_only(
    lab: Lab,
) -> None:
    a, b = _converge(lab)
    main, child = a.pid_file("vrrp/keepalived.pid"), a.pid_file("vrrp/vrrp.pid")
    assert main is not None and child is not None

    # Both processes at once: nothing of keepalived is left to remove the VIP.
    killed = time.monotonic()
    os.kill(child, signal.SIGKILL)
    os.kill(main, signal.SIGKILL)
    watch = _watch(a, b, since=killed, until=killed + 2.0)
    assert watch.peer_alone_after is not None
    print(
        f"keepalived kill -9 -> VIP on the peer alone after {watch.peer_alone_after * 1000:.0f} ms,"
        f" both held it for at most {watch.both_longest * 1000:.0f} ms"
    )
    assert watch.both_longest < 0.5  # the old MASTER's VIP is removed before long
    assert watch.held == (False, True)

    status = a.ok("GET", "/1.0/vrrp")
    assert status["running"] is True and status["pid"] not in (None, main)
    assert (status["restarts"], status["holds_vips"]) == (1, False)
    assert not pid_alive(main) and not pid_alive(child)
    assert lab.client_get(VIP_URL) == "amphora-b"


def test_an_agent_restart_adopts_keepalived_and_its_sigterm_hands_the_vip_over(lab: Lab) -> None:
    a, b = _converge(lab)
    keepalived = a.pid_file("vrrp/keepalived.pid")
    assert keepalived is not None

    a.stop_agent(signal.SIGKILL)
    assert pid_alive(keepalived) and a.holds_vip()
    a.start_agent()
    status = a.ok("GET", "/1.0/vrrp")
    assert (status["pid"], status["running"], status["restarts"]) == (keepalived, True, 0)
    assert status["holds_vips"] is True

    # The amphora is being deleted: keepalived goes with the agent, and so does the VIP.
    a.stop_agent(signal.SIGTERM)
    assert not pid_alive(keepalived)
    assert not a.holds_vip()
    wait_for(b.holds_vip, timeout=DEADLINE)
    wait_for(lambda: lab.client_get(VIP_URL) == "amphora-b", timeout=DEADLINE)


def test_a_refused_or_older_configuration_leaves_the_running_keepalived_alone(
    single: Amphora,
) -> None:
    a = single
    a.ok("PUT", "/1.0/config", {"generation": 1, "haproxy_cfg": haproxy_config("amphora-a")})
    first = a.ok("PUT", "/1.0/vrrp", vrrp_body(a, LONELY_PEER, priority=200, generation=3))
    # Alone on its network it is MASTER as soon as its first adverts go unanswered.
    wait_for(a.holds_vip, timeout=DEADLINE)

    bad = vrrp_body(a, LONELY_PEER, priority=200, generation=4)
    bad["keepalived_cfg"] = bad["keepalived_cfg"].replace(
        "virtual_router_id 77", "virtual_router_id 999"
    )
    refused = a.call("PUT", "/1.0/vrrp", bad)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "vrrp_config_invalid"
    assert "999" in refused.json()["details"]

    older = a.call("PUT", "/1.0/vrrp", vrrp_body(a, LONELY_PEER, priority=100, generation=2))
    assert (older.status_code, older.json()["error"]) == (409, "stale_generation")
    not_an_address = vrrp_body(a, LONELY_PEER, priority=200, generation=5) | {
        "vips": ["10.252.0.300/24"]
    }
    assert a.call("PUT", "/1.0/vrrp", not_an_address).status_code == 400

    status = a.ok("GET", "/1.0/vrrp")
    assert (status["pid"], status["generation"], status["running"]) == (first["pid"], 3, True)
    assert "999" in status["last_error"]
    assert a.holds_vip()


def test_the_interface_carrying_an_address_is_found_v4_and_v6(single: Amphora) -> None:
    a = single
    assert a.ok("GET", f"/1.0/interface/{a.address}") == {"address": a.address, "interface": "eth1"}
    assert a.ok("GET", "/1.0/interface/fd00:252:0::1")["interface"] == "eth1"
    assert a.ok("GET", f"/1.0/interface/{a.endpoint.split(':')[0]}")["interface"] == "mgmt"

    missing = a.call("GET", "/1.0/interface/10.252.0.99")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert a.call("GET", "/1.0/interface/not-an-address").status_code == 400
    # A SINGLE amphora (no VRRP configuration) has nothing of keepalived, not even its files.
    assert a.ok("GET", "/1.0/vrrp")["configured"] is False
    assert not (a.base / "vrrp").exists()


def test_an_amphora_without_keepalived_refuses_vrrp_with_409(tmp_path: Path) -> None:
    """In process: an image without keepalived (``keepalived_version`` None) never runs it."""
    config = AgentConfig(
        amphora_id="a", bind_port=1, base_dir=tmp_path, ca_file=tmp_path / "ca.pem",
        cert_file=tmp_path / "agent.pem", key_file=tmp_path / "agent.key",
    )  # fmt: skip
    manager = HaproxyManager(tmp_path)
    vrrp = KeepalivedManager(tmp_path, haproxy=manager)
    info = AgentInfo(api_version="1.0", agent_version="test", amphora_id="a")
    app = create_agent_app(
        config, manager, info, rotate_tls=lambda _: None, supervisor=Supervisor(manager), vrrp=vrrp
    )
    with TestClient(app) as client:
        body = {"generation": 1, "keepalived_cfg": "", "interface": "eth1", "vips": [f"{VIP}/24"]}
        refused = client.put("/1.0/vrrp", json=body)
        assert (refused.status_code, refused.json()["error"]) == (409, "vrrp_unavailable")
        assert client.get("/1.0/vrrp").json()["configured"] is False
    assert not (tmp_path / "vrrp").exists()
