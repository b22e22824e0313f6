"""Health monitors through a real amphora: a member that fails its HTTP check, or whose port
closes under a TCP check, stops receiving traffic within a few check intervals, and comes
back when it recovers."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import wait_for
from tests.support.backends import backends
from tests.support.dataplane import (
    build_lb,
    by_name,
    change,
    delete_lb,
    echo_once,
    echo_servers,
    fetch,
    http_pool,
    members_by_name,
    rendered_config,
)

# Octavia's smallest monitor: one check a second, one failure marks down, one success up.
FAST_MONITOR = {"delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 1}


def _only(url: str, name: str, count: int = 6) -> bool:
    """Whether ``count`` fresh requests in a row were all served, with 200, by ``name``."""
    for _ in range(count):
        response = fetch(url)
        if response.status_code != 200 or response.text != name:
            return False
    return True


def _echo_only(vip: str, port: int, name: bytes, count: int = 4) -> bool:
    """Whether ``count`` fresh connections were all answered promptly by ``name``.

    Promptly: without a monitor haproxy would still reach the live member, but only after
    retrying the dead one with its one-second turn-around delay.
    """
    for i in range(count):
        started = time.monotonic()
        answer = echo_once(vip, port, b"x%d" % i)
        if not answer.startswith(name + b":") or time.monotonic() - started > 0.5:
            return False
    return True


def test_http_and_tcp_monitors_take_failed_members_out_of_rotation(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(2) as web, echo_servers(2) as echo:
        tcp_pool = {
            "name": "echo",
            "protocol": "TCP",
            "lb_algorithm": "ROUND_ROBIN",
            "healthmonitor": {"type": "TCP", **FAST_MONITOR},
            "members": [
                {"name": s.name, "address": "127.0.0.1", "protocol_port": s.port} for s in echo
            ],
        }
        http_monitor = {"type": "HTTP", "url_path": "/health", "expected_codes": "200"}
        lb = build_lb(
            amphora_client,
            [
                {
                    "name": "web",
                    "protocol": "HTTP",
                    "protocol_port": 8201,
                    "default_pool": http_pool(
                        "web", web, healthmonitor={**http_monitor, **FAST_MONITOR}
                    ),
                },
                {"name": "tcp", "protocol": "TCP", "protocol_port": 8202, "default_pool": tcp_pool},
            ],
        )
        vip = lb["vip_address"]
        url = f"http://{vip}:8201/"
        config = rendered_config(tmp_path)
        wait_for(lambda: {fetch(url).text for _ in range(4)} == {"b0", "b1"}, timeout=5)

        # HTTP monitor: b1 answers 503 to its checks, so haproxy takes it out of rotation.
        web[1].healthy = False
        wait_for(lambda: _only(url, "b0"), timeout=8, interval=0.2)

        # The push after any change reads haproxy's stats, which show the check's verdict.
        # (Between changes, operating status is refreshed by heartbeats, a later issue.)
        pools = by_name(amphora_client, lb["id"], "pools")
        change(
            amphora_client,
            lb["id"],
            "PUT",
            f"pools/{pools['web']['id']}",
            {"pool": {"name": "web"}},
        )
        members = members_by_name(amphora_client, pools["web"]["id"])
        assert members["b1"]["operating_status"] == "ERROR", (members, config)
        assert members["b0"]["operating_status"] == "ONLINE", (members, config)

        web[1].healthy = True
        wait_for(lambda: {fetch(url).text for _ in range(4)} == {"b0", "b1"}, timeout=8)

        # TCP monitor: e1's port closes, so its connect checks fail.
        assert {echo_once(vip, 8202, b"a")[:2], echo_once(vip, 8202, b"b")[:2]} == {b"e0", b"e1"}
        echo[1].stop()
        wait_for(lambda: _echo_only(vip, 8202, b"e0"), timeout=8, interval=0.2)
        delete_lb(amphora_client, lb["id"], tmp_path)
