"""Support calls' refusals, hermetic on the noop provider: admin only (Octavia's policy
error), unknown ids 404, bad query values 400, and resync's 409 while a load balancer is
PENDING_*, then its ACTIVE -> PENDING_UPDATE -> ACTIVE when the reconciler runs."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import converge, create_lb, wait_lb_active
from tests.integration.test_amphorae import ADMIN, MEMBER, add_amphora

SUPPORT = "/v2/portico"
UNKNOWN = "3a0f2c1e-5b4d-4e6f-8a7b-9c0d1e2f3a4b"
POLICY = "Policy does not allow this request to be performed."


def _calls(amphora_id: str, lb_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"{SUPPORT}/amphorae/{amphora_id}/diagnostics"),
        ("GET", f"{SUPPORT}/amphorae/{amphora_id}/logs"),
        ("GET", f"{SUPPORT}/loadbalancers/{lb_id}/logs"),
        ("PUT", f"{SUPPORT}/loadbalancers/{lb_id}/resync"),
    ]


def test_a_non_admin_gets_octavias_policy_error(client: TestClient) -> None:
    lb_id = create_lb(client, headers=MEMBER)
    amphora_id = add_amphora(client, lb_id)
    for method, path in _calls(amphora_id, lb_id):
        response = client.request(method, path, headers=MEMBER)
        assert response.status_code == 403, (path, response.text)
        assert response.json() == {"faultcode": "Client", "faultstring": POLICY, "debuginfo": None}


def test_unknown_ids_are_404(client: TestClient) -> None:
    for method, path in _calls(UNKNOWN, UNKNOWN):
        response = client.request(method, path, headers=ADMIN)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["faultstring"].endswith(f"{UNKNOWN} not found.")


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=-1",
        "limit=%C2%B2",  # a superscript two: a digit to str.isdigit, not to int
        "source=nope",
        "marker=%%%",
        "marker=bm90IGpzb24",  # "not json"
        "marker=eyJhIjotMX0",  # {"a":-1}
        "page_reverse=maybe",
        "marker=" + base64.urlsafe_b64encode(b"[" * 1500).decode(),  # nested past recursion
        "marker=" + "A" * 3000,
        "sort=line",
    ],
)
def test_bad_log_queries_are_400(client: TestClient, query: str) -> None:
    lb_id = create_lb(client, headers=MEMBER)
    amphora_id = add_amphora(client, lb_id)
    for path in (f"{SUPPORT}/amphorae/{amphora_id}/logs", f"{SUPPORT}/loadbalancers/{lb_id}/logs"):
        response = client.get(f"{path}?{query}", headers=ADMIN)
        assert response.status_code == 400, (query, response.text)
        assert set(response.json()) == {"faultcode", "faultstring", "debuginfo"}


def test_diagnostics_of_an_amphora_without_an_agent_show_the_database_facts(
    client: TestClient,
) -> None:
    lb_id = create_lb(client, headers=MEMBER)
    wait_lb_active(client, lb_id)
    amphora_id = add_amphora(client, lb_id)
    response = client.get(f"{SUPPORT}/amphorae/{amphora_id}/diagnostics", headers=ADMIN)
    assert response.status_code == 200, response.text
    found = response.json()["diagnostics"]
    assert found["amphora"]["id"] == amphora_id and found["agent"] is None
    assert found["loadbalancer"]["provisioning_status"] == "ACTIVE"
    assert found["config"]["expected_hash"] is not None and found["config"]["in_sync"] is None
    assert found["agent_error"] == {
        "faultcode": "Server",
        "faultstring": f"Amphora {amphora_id} agent is unavailable: it has no agent endpoint",
        "debuginfo": None,
    }


def test_resync_is_409_while_pending_and_an_update_otherwise(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(), with_reconciler=False)
    lb_id = create_lb(client, headers=MEMBER)
    path = f"{SUPPORT}/loadbalancers/{lb_id}/resync"
    pending = client.put(path, headers=ADMIN)
    assert pending.status_code == 409
    assert pending.json()["faultstring"] == (
        f"Load Balancer {lb_id} is immutable and cannot be updated."
    )
    converge(client)
    wait_lb_active(client, lb_id)
    generation = _generation(client, lb_id)
    assert client.put(path, headers=ADMIN).status_code == 202
    shown = client.get(f"/v2/lbaas/loadbalancers/{lb_id}", headers=ADMIN).json()
    assert shown["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"
    assert _generation(client, lb_id) == generation + 1
    assert client.put(path, headers=ADMIN).status_code == 409
    converge(client)
    wait_lb_active(client, lb_id)


def _generation(client: TestClient, lb_id: str) -> int:
    from portico.db.models import LoadBalancer
    from tests.integration.test_amphorae import db_of

    with db_of(client).reading() as session:
        lb = session.get(LoadBalancer, lb_id)
        assert lb is not None
        return lb.generation


def test_resync_in_the_openapi_document_with_the_other_support_calls(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "put" in paths["/v2/portico/loadbalancers/{lb_id}/resync"]
    assert "get" in paths["/v2/portico/amphorae/{amphora_id}/diagnostics"]
    for path in (
        "/v2/portico/amphorae/{amphora_id}/logs",
        "/v2/portico/loadbalancers/{lb_id}/logs",
    ):
        names = {p["name"] for p in paths[path]["get"]["parameters"] if p["in"] == "query"}
        assert names == {"source", "limit", "marker", "page_reverse"}
