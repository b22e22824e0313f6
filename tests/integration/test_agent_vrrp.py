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
from pathlib import Path

import pytest

from portico.drivers.compute.processes import pid_alive
from tests.conftest import wait_for
from tests.support.netns import require_netns
from tests.support.vrrp import VIP, Amphora, Lab, haproxy_config, vrrp_body, vrrp_lab

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


def _both_held_longest(a: Amphora, b: Amphora, *, until: float) -> tuple[float, bool, bool]:
    """Sample who holds the VIP until ``until``: the longest stretch both held it (s), and
    who holds it at the end."""
    longest, since = 0.0, None
    held_a = held_b = False
    while time.monotonic() < until:
        held_a, held_b = a.holds_vip(), b.holds_vip()
        now = time.monotonic()
        if held_a and held_b:
            since = now if since is None else since
            longest = max(longest, now - since)
        else:
            since = None
        time.sleep(0.005)
    return longest, held_a, held_b


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
    longest, held_a, held_b = _both_held_longest(a, b, until=time.monotonic() + 1.0)
    assert (longest, held_a, held_b) == (0.0, False, True)
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
    wait_for(lambda: b.holds_vip() and not a.holds_vip(), timeout=DEADLINE, interval=0.002)
    print(f"keepalived kill -9 -> VIP on peer only {(time.monotonic() - killed) * 1000:.0f} ms")
    longest, held_a, held_b = _both_held_longest(a, b, until=time.monotonic() + 1.5)
    assert longest < 0.5
    assert (held_a, held_b) == (False, True)

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
