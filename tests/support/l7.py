"""Setup for L7 tests: a load balancer with a listener (and pools) to hang policies on."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from portico.db.models import Listener, LoadBalancer, Pool
from tests.conftest import create_lb, wait_lb_active

POLICIES = "/v2/lbaas/l7policies"


def _db(client: TestClient) -> Any:
    return client.app.state.portico.db  # type: ignore[attr-defined]


def add_listener(client: TestClient, lb_id: str, protocol: str = "HTTP", port: int = 80) -> str:
    """An ACTIVE listener row on ``lb_id``."""
    with _db(client).writing() as session:
        lb = session.get(LoadBalancer, lb_id)
        listener = Listener(
            id=str(uuid.uuid4()),
            project_id=lb.project_id,
            load_balancer_id=lb_id,
            protocol=protocol,
            protocol_port=port,
            provisioning_status="ACTIVE",
            operating_status="ONLINE",
        )
        session.add(listener)
        return listener.id


def add_pool(client: TestClient, lb_id: str, protocol: str = "HTTP") -> str:
    """An ACTIVE pool row on ``lb_id``."""
    with _db(client).writing() as session:
        lb = session.get(LoadBalancer, lb_id)
        pool = Pool(
            id=str(uuid.uuid4()),
            project_id=lb.project_id,
            load_balancer_id=lb_id,
            protocol=protocol,
            lb_algorithm="ROUND_ROBIN",
            provisioning_status="ACTIVE",
            operating_status="ONLINE",
        )
        session.add(pool)
        return pool.id


def active_listener(
    client: TestClient, protocol: str = "HTTP", headers: dict[str, str] | None = None
) -> tuple[str, str]:
    """(load balancer id, listener id), both ACTIVE."""
    lb_id = create_lb(client, headers=headers)
    wait_lb_active(client, lb_id, headers=headers)
    return lb_id, add_listener(client, lb_id, protocol)


def create_policy(
    client: TestClient, listener_id: str, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"listener_id": listener_id, "action": "REJECT", **fields}
    response = client.post(POLICIES, json={"l7policy": body}, headers=headers)
    assert response.status_code == 201, response.text
    policy: dict[str, Any] = response.json()["l7policy"]
    return policy
