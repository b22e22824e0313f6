"""API 1.2's VRRP handover on real agents: the MASTER drains, then hands the VIP to its peer.

Two agents in namespaces (the lab of test_agent_vrrp.py), the client in the switch namespace.
While the MASTER hands over, a connection it already serves still gets its answer, and a new
connection is neither refused nor reset: its SYN is dropped, and its retransmission is
answered by the peer once it holds the VIP. Afterwards the SYN drop is undone before the old
MASTER's keepalived runs again.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.support.netns import require_netns
from tests.support.vrrp import IFNAME, VIP, Amphora, Lab, in_ns, vrrp_lab
from tests.support.vrrp_configs import haproxy_config, vrrp_body

pytestmark = pytest.mark.xdist_group("netns")
DEADLINE = 10.0
# Opens a connection to the VIP, says "open", and sends its request once told ("go").
HELD = """
import socket, sys
conn = socket.create_connection((sys.argv[1], 80), timeout=10)
print("open", flush=True)
sys.stdin.readline()
conn.sendall(b"GET / HTTP/1.1\\r\\nHost: vip\\r\\nConnection: close\\r\\n\\r\\n")
data = b""
while chunk := conn.recv(4096):
    data += chunk
print(data.split(b"\\r\\n\\r\\n", 1)[1].decode(), flush=True)
"""
# One request on a fresh connection: its body, or the error's name; then its seconds.
FRESH = """
import sys, time, urllib.request
started = time.monotonic()
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as answer:
        print(answer.read().decode(), time.monotonic() - started, flush=True)
except Exception as exc:
    print(type(exc).__name__, time.monotonic() - started, flush=True)
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """``a`` MASTER and ``b`` BACKUP, haproxy answering each one's name on the VIP."""
    require_netns()
    with vrrp_lab(tmp_path, ["a", "b"]) as made:
        a, b = made.amphorae
        for amphora in made.amphorae:
            push = {"generation": 1, "haproxy_cfg": haproxy_config(f"amphora-{amphora.name}")}
            assert amphora.ok("PUT", "/1.0/config", push)["action"] == "started"
        assert a.ok("PUT", "/1.0/vrrp", vrrp_body(a, b.address, priority=200))["running"]
        assert b.ok("PUT", "/1.0/vrrp", vrrp_body(b, a.address, priority=100))["running"]
        wait_for(lambda: a.holds_vip() and not b.holds_vip(), timeout=DEADLINE)
        wait_for(lambda: made.client_get(f"http://{VIP}/") == "amphora-a", timeout=DEADLINE)
        yield made


def _client(lab: Lab, script: str, *args: str) -> subprocess.Popen[str]:
    argv = ["ip", "netns", "exec", lab.switch, sys.executable, "-c", script, *args]
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _connecting(lab: Lab) -> bool:
    shown = in_ns(lab.switch, "ss", "-Htn", "state", "syn-sent", "dst", VIP).stdout
    return f"{VIP}:80" in shown


def _ingress_qdisc(amphora: Amphora) -> bool:
    shown = in_ns(amphora.namespace, "tc", "qdisc", "show", "dev", IFNAME).stdout
    return "ingress" in shown


def test_a_handover_answers_the_open_connection_and_retries_new_ones_on_the_peer(
    lab: Lab,
) -> None:
    a, b = lab.amphorae
    held = _client(lab, HELD, VIP)
    fresh: subprocess.Popen[str] | None = None
    try:
        assert held.stdout is not None and held.stdin is not None
        assert held.stdout.readline().strip() == "open"
        result: dict[str, Any] = {}
        call = threading.Thread(
            target=lambda: result.update(a.ok("PUT", "/1.2/vrrp/handover", {"drain_seconds": 8}))
        )
        call.start()
        # The SYN drop is in place while a waits for its open connection to end.
        wait_for(lambda: _ingress_qdisc(a), timeout=DEADLINE)
        fresh = _client(lab, FRESH, f"http://{VIP}/")
        # Its SYN was sent, and dropped: the client waits to retransmit it.
        wait_for(lambda: _connecting(lab), timeout=DEADLINE)
        assert a.holds_vip() and call.is_alive()
        held.stdin.write("go\n")
        held.stdin.flush()
        assert held.stdout.readline().strip() == "amphora-a"  # answered by the old MASTER
        call.join(timeout=DEADLINE + 8)
        assert not call.is_alive()
        fresh_out, _ = fresh.communicate(timeout=DEADLINE)
    finally:
        for process in (held, fresh):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate(timeout=5)
    assert (result["held_vips"], result["drained"], result["sessions_left"]) == (True, True, 0)
    assert (result["vrrp"]["running"], result["vrrp"]["holds_vips"]) == (False, False)
    body, seconds = fresh_out.split()
    # Neither refused nor reset: the new connection's retried SYN reached the new MASTER.
    assert body == "amphora-b" and 0.9 < float(seconds) < 3.5, fresh_out
    wait_for(b.holds_vip, timeout=DEADLINE)
    assert not a.holds_vip()
    assert lab.client_get(f"http://{VIP}/") == "amphora-b"


def test_keepalived_started_again_after_a_handover_accepts_new_connections_first(
    lab: Lab,
) -> None:
    a, b = lab.amphorae
    result = a.ok("PUT", "/1.2/vrrp/handover", {"drain_seconds": 1})
    assert (result["held_vips"], result["drained"], result["vrrp"]["syn_drop"]) == (True,) * 3
    wait_for(b.holds_vip, timeout=DEADLINE)
    assert _ingress_qdisc(a)

    # The amphora is kept after all (its removal was called off): a push runs keepalived
    # again, and the SYN drop is gone before it can become MASTER.
    status = a.ok("PUT", "/1.0/vrrp", vrrp_body(a, b.address, priority=200, generation=2))
    assert (status["running"], status["syn_drop"]) == (True, False)
    assert not _ingress_qdisc(a)
    # b keeps the VIP (nopreempt); b's own handover sends it back to a, which answers.
    assert b.ok("PUT", "/1.2/vrrp/handover", {"drain_seconds": 1})["held_vips"] is True
    wait_for(a.holds_vip, timeout=DEADLINE)
    wait_for(lambda: lab.client_get(f"http://{VIP}/") == "amphora-a", timeout=DEADLINE)


def test_a_backup_hands_nothing_over_and_a_drain_beyond_25_s_is_refused(lab: Lab) -> None:
    a, b = lab.amphorae
    result = b.ok("PUT", "/1.2/vrrp/handover", {"drain_seconds": 1})
    assert (result["held_vips"], result["vrrp"]["running"]) == (False, False)
    assert not _ingress_qdisc(b)
    assert a.holds_vip()
    bad = a.call("PUT", "/1.2/vrrp/handover", {"drain_seconds": 99})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")
