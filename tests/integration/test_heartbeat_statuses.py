"""Heartbeats from a real amphora drive operating statuses and statistics with no API change.

The health service rolls each heartbeat up member → pool → listener → load balancer and
keeps listener counters cumulative, even though a reload starts haproxy's counters again.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import wait_for
from tests.support.backends import backends
from tests.support.dataplane import (
    build_lb,
    by_name,
    change,
    delete_lb,
    fetch,
    http_pool,
    members_by_name,
)
from tests.support.processes import free_port

FAST_MONITOR = {"delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 1}
LBS = "/v2/lbaas/loadbalancers"


def _stats(client: TestClient, path: str) -> dict[str, int]:
    response = client.get(f"{path}/stats")
    assert response.status_code == 200, response.text
    stats: dict[str, int] = response.json()["stats"]
    return stats


def _statuses(client: TestClient, lb_id: str, pool_id: str) -> tuple[str, str, str, str]:
    members = members_by_name(client, pool_id)
    pool = client.get(f"/v2/lbaas/pools/{pool_id}").json()["pool"]
    lb = client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]
    return (
        members["b0"]["operating_status"],
        members["b1"]["operating_status"],
        pool["operating_status"],
        lb["operating_status"],
    )


def test_stats_grow_with_traffic_and_survive_a_reload(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    port = free_port()
    with backends(1) as web:
        lb = build_lb(
            amphora_client,
            [
                {
                    "name": "web",
                    "protocol": "HTTP",
                    "protocol_port": port,
                    "default_pool": http_pool("web", web),
                }
            ],
        )
        listener_id = by_name(amphora_client, lb["id"], "listeners")["web"]["id"]
        lb_path, listener_path = f"{LBS}/{lb['id']}", f"/v2/lbaas/listeners/{listener_id}"
        url = f"http://{lb['vip_address']}:{port}/"
        for _ in range(10):
            assert fetch(url).status_code == 200

        def counted(at_least: int) -> dict[str, int] | None:
            stats = _stats(amphora_client, lb_path)
            ok = stats["total_connections"] >= at_least and stats["bytes_out"] > 0
            return stats if ok and stats["bytes_in"] > 0 else None

        before = wait_for(lambda: counted(10), timeout=10)
        assert _stats(amphora_client, listener_path)["total_connections"] >= 10

        # A new listener reloads haproxy: its new worker's counters start from zero.
        change(
            amphora_client,
            lb["id"],
            "POST",
            "listeners",
            {
                "listener": {
                    "loadbalancer_id": lb["id"],
                    "protocol": "TCP",
                    "protocol_port": free_port(),
                }
            },
        )
        for _ in range(3):
            assert fetch(url).status_code == 200
        seen = [before]

        def grew() -> bool:
            seen.append(_stats(amphora_client, lb_path))
            return seen[-1]["total_connections"] >= before["total_connections"] + 3

        wait_for(grew, timeout=10, interval=0.1)
        for earlier, later in itertools.pairwise(seen):
            for name in ("bytes_in", "bytes_out", "total_connections"):
                assert later[name] >= earlier[name], (name, seen)
        delete_lb(amphora_client, lb["id"], tmp_path)


def test_a_failing_member_is_shown_by_heartbeats_alone(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    port = free_port()
    with backends(2) as web:
        monitor = {"type": "HTTP", "url_path": "/health", "expected_codes": "200", **FAST_MONITOR}
        lb = build_lb(
            amphora_client,
            [
                {
                    "name": "web",
                    "protocol": "HTTP",
                    "protocol_port": port,
                    "default_pool": http_pool("web", web, healthmonitor=monitor),
                }
            ],
        )
        pool_id = by_name(amphora_client, lb["id"], "pools")["web"]["id"]
        healthy = ("ONLINE", "ONLINE", "ONLINE", "ONLINE")
        wait_for(lambda: _statuses(amphora_client, lb["id"], pool_id) == healthy, timeout=10)

        web[1].healthy = False
        failing = ("ONLINE", "ERROR", "DEGRADED", "DEGRADED")
        wait_for(lambda: _statuses(amphora_client, lb["id"], pool_id) == failing, timeout=10)
        lb_row: dict[str, Any] = amphora_client.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]
        assert lb_row["provisioning_status"] == "ACTIVE"

        web[1].healthy = True
        wait_for(lambda: _statuses(amphora_client, lb["id"], pool_id) == healthy, timeout=10)
        delete_lb(amphora_client, lb["id"], tmp_path)
