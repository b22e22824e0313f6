"""The upgrade calls' refusals and bookkeeping through the API (noop provider, no amphorae).

``PUT /v2/portico/loadbalancers/{id}/migrate`` and ``PUT /v2/octavia/amphorae/{id}/config``:
admin only (403), validated bodies (400), unknown ids (404), 409 while the load balancer is
PENDING_*; what is stored (the target image, the requested heartbeat targets) is read back
from the database. The data-plane effects are in tests/e2e/test_rotation.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from portico.db.engine import Database
from portico.db.models import Amphora, LoadBalancer
from portico.settings import Settings
from tests.conftest import converge, create_lb, wait_for

MEMBER = {"X-Roles": "member"}
AMPS = "/v2/octavia/amphorae"


def _migrate(client: TestClient, lb_id: str, body: Any, **kw: Any) -> Any:
    return client.put(f"/v2/portico/loadbalancers/{lb_id}/migrate", json=body, **kw)


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.portico.db  # type: ignore[attr-defined]
    return db


@pytest.fixture
def idle(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> TestClient:
    """No reconciler: load balancers stay PENDING_* until ``converge``."""
    return client_factory(settings_factory(), with_reconciler=False)


def _active(client: TestClient) -> str:
    lb_id = create_lb(client)
    converge(client)
    status = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
    assert status["provisioning_status"] == "ACTIVE"
    return lb_id


def test_migrate_stores_the_target_and_asks_for_a_pass(idle: TestClient) -> None:
    lb_id = _active(idle)
    accepted = _migrate(idle, lb_id, {"migration": {"amphora_image": "v2"}})
    assert accepted.status_code == 202, accepted.text
    with _db(idle).reading() as session:
        lb = session.scalar(select(LoadBalancer).where(LoadBalancer.id == lb_id))
        assert lb is not None
        assert (lb.amphora_image, lb.provisioning_status) == ("v2", "PENDING_UPDATE")
        assert lb.generation > lb.applied_generation
    converge(idle)
    assert wait_for(
        lambda: (
            idle.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"][
                "provisioning_status"
            ]
            == "ACTIVE"
        )
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"migration": {}},
        {"migration": {"amphora_image": ""}},
        {"migration": {"amphora_image": "has space"}},
        {"migration": {"amphora_image": "x" * 256}},
        {"migration": {"amphora_image": 2}},
        {"migration": {"amphora_image": "v2", "zone": "a"}},
        {"migration": "v2"},
        [],
    ],
)
def test_migrate_refuses_bad_bodies_with_400(idle: TestClient, body: Any) -> None:
    lb_id = _active(idle)
    refused = _migrate(idle, lb_id, body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["faultcode"] == "Client"


def test_migrate_is_admin_only_404_for_unknown_and_409_while_pending(idle: TestClient) -> None:
    body = {"migration": {"amphora_image": "v2"}}
    pending = create_lb(idle)  # PENDING_CREATE: no reconciler ran
    assert _migrate(idle, pending, body).status_code == 409
    converge(idle)
    assert _migrate(idle, pending, body, headers=MEMBER).status_code == 403
    assert _migrate(idle, str(uuid.uuid4()), body).status_code == 404
    assert _migrate(idle, pending, body).status_code == 202
    assert _migrate(idle, pending, body).status_code == 409  # PENDING_UPDATE now


def _amphora(client: TestClient, lb_id: str | None, **fields: Any) -> str:
    amphora_id = str(uuid.uuid4())
    values = {"status": "ALLOCATED", "compute_id": amphora_id, "api_version": "1.1"} | fields
    with _db(client).writing() as session:
        session.add(Amphora(id=amphora_id, load_balancer_id=lb_id, **values))
    return amphora_id


def test_config_records_this_controllers_heartbeat_targets(idle: TestClient) -> None:
    lb_id = _active(idle)
    amphora_id = _amphora(idle, lb_id)
    accepted = idle.put(f"{AMPS}/{amphora_id}/config")
    assert accepted.status_code == 202, accepted.text
    targets = idle.app.state.portico.settings.effective_heartbeat_targets  # type: ignore[attr-defined]
    with _db(idle).reading() as session:
        row = session.get(Amphora, amphora_id)
        lb = session.get(LoadBalancer, lb_id)
        assert row is not None and lb is not None
        assert row.agent_config_pending == targets
        assert lb.provisioning_status == "PENDING_UPDATE"
    # Its load balancer is PENDING_UPDATE now: a second request waits for the first.
    assert idle.put(f"{AMPS}/{amphora_id}/config").status_code == 409


def test_config_refusals(idle: TestClient) -> None:
    lb_id = _active(idle)
    serving = _amphora(idle, lb_id)
    assert idle.put(f"{AMPS}/{serving}/config", headers=MEMBER).status_code == 403
    assert idle.put(f"{AMPS}/{uuid.uuid4()}/config").status_code == 404
    booting = _amphora(idle, None, status="BOOTING")
    assert idle.put(f"{AMPS}/{booting}/config").status_code == 409
    old = _amphora(idle, None, status="READY", api_version="1.0")
    refused = idle.put(f"{AMPS}/{old}/config")
    assert refused.status_code == 409
    assert "agent API 1.0" in refused.json()["faultstring"]
    spare = _amphora(idle, None, status="READY")
    assert idle.put(f"{AMPS}/{spare}/config").status_code == 202
    pending = create_lb(idle)
    on_pending = _amphora(idle, pending)
    assert idle.put(f"{AMPS}/{on_pending}/config").status_code == 409
