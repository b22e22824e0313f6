"""Zero disruption: reconfiguring a load balancer under load fails no request.

About 20 s of bounded load (keep-alive and new-connection clients, a few hundred requests
per second) go through a real amphora while the API adds and removes members, changes a
weight, disables a member, adds a second listener, a pool and an L7 policy. Member changes
go through the runtime API; the rest are seamless reloads (master-worker, listeners passed,
``option idle-close-on-response``). Every non-2xx answer and every exception counts.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.support.backends import Backend, backends
from tests.support.dataplane import (
    build_lb,
    by_name,
    change,
    delete_lb,
    http_pool,
    members_by_name,
    rendered_config,
)
from tests.support.load import Load

LOAD_SECONDS = 20.0
STEP_SECONDS = 1.2  # pace of the changes, so that they spread over the load


def _member(backend: Backend) -> dict[str, Any]:
    return {
        "member": {"name": backend.name, "address": backend.address, "protocol_port": backend.port}
    }


def test_changes_under_load_fail_no_request(amphora_client: TestClient, tmp_path: Path) -> None:
    client = amphora_client
    with backends(5) as servers:
        b0, b1, b2, b3, b4 = servers
        web = {
            "name": "web",
            "protocol": "HTTP",
            "protocol_port": 8080,
            "default_pool": http_pool("web", [b0, b1]),
        }
        lb = build_lb(client, [web])
        lb_id, vip = lb["id"], lb["vip_address"]
        pool_id = by_name(client, lb_id, "pools")["web"]["id"]
        listener_id = by_name(client, lb_id, "listeners")["web"]["id"]
        members = f"pools/{pool_id}/members"
        pace = threading.Event()  # never set: waiting on it only spaces the changes out

        def step(method: str, path: str, body: Any = None) -> Any:
            pace.wait(STEP_SECONDS)
            response = change(client, lb_id, method, path, body)  # waits for ACTIVE
            return response.json() if response.content else None

        second_listener = {
            "loadbalancer_id": lb_id,
            "protocol": "HTTP",
            "protocol_port": 8081,
            "default_pool_id": pool_id,
        }
        images = {
            "loadbalancer_id": lb_id,
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "name": "images",
        }
        with Load(vip, 8080, keepalive=3, fresh=3, rate=50, seconds=LOAD_SECONDS) as load:
            step("POST", members, _member(b2))
            by = members_by_name(client, pool_id)
            step("PUT", f"{members}/{by['b0']['id']}", {"member": {"weight": 5}})
            step("POST", members, _member(b3))
            step("PUT", f"{members}/{by['b1']['id']}", {"member": {"admin_state_up": False}})
            step("DELETE", f"{members}/{by['b2']['id']}")
            step("POST", "listeners", {"listener": second_listener})
            pool2 = step("POST", "pools", {"pool": images})["pool"]["id"]
            step("POST", f"pools/{pool2}/members", _member(b4))
            rule = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/img"}
            policy = {
                "listener_id": listener_id,
                "action": "REDIRECT_TO_POOL",
                "redirect_pool_id": pool2,
                "rules": [rule],
            }
            step("POST", "l7policies", {"l7policy": policy})
            step("PUT", f"{members}/{by['b1']['id']}", {"member": {"admin_state_up": True}})
            step("DELETE", f"{members}/{by['b0']['id']}")
            result = load.wait()

        config = rendered_config(tmp_path)
        assert result.failed == 0, (result.reasons, result.total, config)
        assert result.ok >= 1_500, (result.ok, "the load was too thin to mean anything")
        # The changes took effect while the load ran: the added member served traffic.
        assert result.backends["b3"] > 0, result.backends
        assert ":8081" in config and "/img" in config
        delete_lb(client, lb_id, tmp_path)
