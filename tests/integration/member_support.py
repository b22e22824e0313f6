"""Pools for member and health monitor tests: through the API when it exists, else inserted.

The pools API is written separately; until it is there, a pool is inserted ACTIVE straight into
the database (the state the reconciler would leave it in).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from portico.db.engine import Database
from portico.db.models import Listener, LoadBalancer, Pool

POOLS = "/v2/lbaas/pools"


def db_of(client: TestClient) -> Database:
    db: Database = client.app.state.portico.db  # type: ignore[attr-defined]
    return db


def make_pool(
    client: TestClient,
    lb_id: str,
    protocol: str = "HTTP",
    headers: dict[str, str] | None = None,
) -> str:
    body = {"loadbalancer_id": lb_id, "protocol": protocol, "lb_algorithm": "ROUND_ROBIN"}
    response = client.post(POOLS, json={"pool": body}, headers=headers)
    if response.status_code == 201:
        return str(response.json()["pool"]["id"])
    assert response.status_code in (404, 405), response.text
    pool_id = str(uuid.uuid4())
    with db_of(client).writing() as session:
        lb = session.scalars(select(LoadBalancer).where(LoadBalancer.id == lb_id)).one()
        session.add(
            Pool(
                id=pool_id,
                project_id=lb.project_id,
                load_balancer_id=lb_id,
                protocol=protocol,
                lb_algorithm="ROUND_ROBIN",
                provisioning_status="ACTIVE",
                operating_status="ONLINE",
            )
        )
    return pool_id


def add_listener(client: TestClient, lb_id: str, pool_id: str) -> str:
    """A listener whose default pool is ``pool_id`` (inserted ACTIVE)."""
    listener_id = str(uuid.uuid4())
    with db_of(client).writing() as session:
        lb = session.scalars(select(LoadBalancer).where(LoadBalancer.id == lb_id)).one()
        session.add(
            Listener(
                id=listener_id,
                project_id=lb.project_id,
                load_balancer_id=lb_id,
                protocol="HTTP",
                protocol_port=80,
                default_pool_id=pool_id,
                provisioning_status="ACTIVE",
                operating_status="ONLINE",
            )
        )
    return listener_id


def row(client: TestClient, model: Any, object_id: str) -> Any:
    with db_of(client).reading() as session:
        return session.scalars(select(model).where(model.id == object_id)).one_or_none()


def lb_generations(client: TestClient, lb_id: str) -> tuple[int, int]:
    lb = row(client, LoadBalancer, lb_id)
    return int(lb.generation), int(lb.applied_generation)
