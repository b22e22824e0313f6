"""A reload that fails for real is rolled back on the amphora, reported, and retried.

A new listener's port is held by another process on the VIP (no SO_REUSEPORT, so haproxy's
bind fails): ``haproxy -c`` accepts the configuration, the reload does not, and the agent's
haproxy master keeps serving the previous configuration. The controller records
``reload_rolled_back`` and retries; once the port is free the listener comes up.
"""

from __future__ import annotations

import socket
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import LOCAL_SUBNET, wait_for, wait_lb_status
from tests.support.amphorae import get_through
from tests.support.backends import backends


def _events(client: TestClient, lb_id: str) -> list[dict[str, Any]]:
    query = {"kind": "reload_rolled_back", "loadbalancer_id": lb_id}
    return list(client.get("/v2/portico/events", params=query).json()["events"])


def test_a_failed_reload_keeps_the_old_config_serving_and_is_an_event(
    amphora_client: TestClient,
) -> None:
    with backends(1) as servers:
        member = {"address": servers[0].address, "protocol_port": servers[0].port}
        pool = {
            "name": "web",
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [member],
        }
        listener = {"protocol": "HTTP", "protocol_port": 8080, "default_pool": pool}
        body = {"vip_subnet_id": LOCAL_SUBNET, "listeners": [listener]}
        created = amphora_client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
        assert created.status_code == 201, created.text
        lb = wait_lb_status(amphora_client, created.json()["loadbalancer"]["id"])
        vip = lb["vip_address"]
        assert get_through(f"http://{vip}:8080/").status_code == 200

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            squatter.bind((vip, 8081))
            squatter.listen()
            added = amphora_client.post(
                "/v2/lbaas/listeners",
                json={
                    "listener": {
                        "loadbalancer_id": lb["id"],
                        "protocol": "HTTP",
                        "protocol_port": 8081,
                    }
                },
            )
            assert added.status_code == 201, added.text
            (event, *_) = wait_for(lambda: _events(amphora_client, lb["id"]), timeout=30)
            assert event["severity"] == "WARNING" and event["amphora_id"]
            assert "the previous one serves" in event["detail"]
            assert "8081" in event["detail"]  # haproxy's own words: the bind that failed
            # The amphora still runs the previous configuration.
            assert get_through(f"http://{vip}:8080/").status_code == 200
        # The port is free: a retry applies the new listener.
        wait_lb_status(amphora_client, lb["id"], timeout=60)
        response = get_through(f"http://{vip}:8081/")
        assert response.status_code == 503  # a listener without a pool answers, at last
