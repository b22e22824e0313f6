"""Setup for L7 tests: a load balancer with a listener (and pools) to hang policies on."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import create_lb, wait_lb_active

POLICIES = "/v2/lbaas/l7policies"
LISTENERS = "/v2/lbaas/listeners"
POOLS = "/v2/lbaas/pools"
CERT = "https://barbican.example/v1/containers/4c1d3e0a-6b8e-4f57-a0d5-2b1f7f9a3c10"


def add_listener(
    client: TestClient,
    lb_id: str,
    protocol: str = "HTTP",
    port: int = 80,
    headers: dict[str, str] | None = None,
) -> str:
    """A listener on ``lb_id`` through the API (the load balancer goes PENDING_UPDATE)."""
    body: dict[str, Any] = {"loadbalancer_id": lb_id, "protocol": protocol, "protocol_port": port}
    if protocol == "TERMINATED_HTTPS":
        body["default_tls_container_ref"] = CERT
    response = client.post(LISTENERS, json={"listener": body}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["listener"]["id"])


def add_pool(client: TestClient, lb_id: str, protocol: str = "HTTP") -> str:
    """A pool on ``lb_id`` through the API."""
    body = {"loadbalancer_id": lb_id, "protocol": protocol, "lb_algorithm": "ROUND_ROBIN"}
    response = client.post(POOLS, json={"pool": body})
    assert response.status_code == 201, response.text
    return str(response.json()["pool"]["id"])


def active_listener(
    client: TestClient, protocol: str = "HTTP", headers: dict[str, str] | None = None
) -> tuple[str, str]:
    """(load balancer id, listener id), both ACTIVE."""
    lb_id = create_lb(client, headers=headers)
    listener_id = add_listener(client, lb_id, protocol, headers=headers)
    wait_lb_active(client, lb_id, headers=headers)
    return lb_id, listener_id


def create_policy(
    client: TestClient, listener_id: str, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"listener_id": listener_id, "action": "REJECT", **fields}
    response = client.post(POLICIES, json={"l7policy": body}, headers=headers)
    assert response.status_code == 201, response.text
    policy: dict[str, Any] = response.json()["l7policy"]
    return policy
