"""Pools through the API as a user sees them: defaults, protocols, session persistence, TLS,
default-pool binding, deletion, pending rules (coalescing and strict), tenancy and quotas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import converge, create_lb, wait_for, wait_lb_active

POOLS = "/v2/lbaas/pools"
LISTENERS = "/v2/lbaas/listeners"
REF = "https://barbican.example/v1/secrets/0b7f7a3b-3b25-4c4e-9f1e-0f0e0e0e0e03"


def post_pool(client: TestClient, **fields: Any) -> Any:
    body = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **fields}
    return client.post(POOLS, json={"pool": body})


def make_pool(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = post_pool(client, **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()["pool"]
    return body


def make_listener(client: TestClient, lb_id: str, protocol: str = "HTTP", port: int = 80) -> str:
    body = {"loadbalancer_id": lb_id, "protocol": protocol, "protocol_port": port}
    response = client.post(LISTENERS, json={"listener": body})
    assert response.status_code == 201, response.text
    return str(response.json()["listener"]["id"])


def show(client: TestClient, path: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(path).json()
    return body


def fault(response: Any) -> str:
    return str(response.json()["faultstring"])


@pytest.fixture
def lb_id(client: TestClient) -> str:
    lb = create_lb(client)
    wait_lb_active(client, lb)
    return lb


def test_create_on_a_load_balancer_shows_octavia_fields_then_goes_active(
    client: TestClient, lb_id: str
) -> None:
    pool = make_pool(client, loadbalancer_id=lb_id, name="web", tags=["t"])
    assert pool["provisioning_status"] == "PENDING_CREATE"
    assert pool["operating_status"] == "OFFLINE"
    assert pool["loadbalancers"] == [{"id": lb_id}]
    assert pool["listeners"] == []
    assert pool["members"] == []
    assert pool["healthmonitor_id"] is None
    assert pool["session_persistence"] is None
    assert pool["tls_enabled"] is False
    assert pool["tls_versions"] is None and pool["tls_ciphers"] is None
    assert pool["tags"] == ["t"]
    wait_for(
        lambda: show(client, f"{POOLS}/{pool['id']}")["pool"]["provisioning_status"] == "ACTIVE"
    )
    assert show(client, f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"]["pools"] == [
        {"id": pool["id"]}
    ]


def test_create_with_listener_id_becomes_its_default_pool_once(
    client: TestClient, lb_id: str
) -> None:
    listener = make_listener(client, lb_id)
    pool = make_pool(client, listener_id=listener)
    assert pool["listeners"] == [{"id": listener}]
    assert pool["loadbalancers"] == [{"id": lb_id}]
    assert show(client, f"{LISTENERS}/{listener}")["listener"]["default_pool_id"] == pool["id"]
    again = post_pool(client, listener_id=listener)
    assert again.status_code == 409
    assert fault(again) == "This listener already has a default pool"
    wrong = post_pool(client, listener_id=listener, protocol="TCP")
    assert wrong.status_code == 400
    assert "The pool protocol 'TCP' is invalid while the listener protocol is 'HTTP'" in fault(
        wrong
    )


def test_lb_or_listener_is_required_and_must_exist(client: TestClient) -> None:
    response = post_pool(client)
    assert response.status_code == 400
    assert fault(response) == (
        "Validation failure: Must provide at least one of: loadbalancer_id, listener_id"
    )
    missing = "0b7f7a3b-3b25-4c4e-9f1e-0f0e0e0e0eff"
    assert post_pool(client, loadbalancer_id=missing).status_code == 404
    assert post_pool(client, listener_id=missing).status_code == 404
    assert client.get(f"{POOLS}/{missing}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"session_persistence": {"type": "APP_COOKIE"}},
            'must be specified when using the "APP_COOKIE"',
        ),
        (
            {"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "c"}},
            'can only be specified with session persistence of type "APP_COOKIE"',
        ),
        ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a=b"}}, "is invalid"),
        ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a b"}}, "cookie_name"),
        (
            {"session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 5}},
            "is only for UDP and SCTP protocol pools",
        ),
        (
            {"protocol": "UDP", "session_persistence": {"type": "HTTP_COOKIE"}},
            "not supported for UDP/SCTP protocol pools",
        ),
        ({"session_persistence": {"type": "STICKY"}}, "type"),
        ({"crl_container_ref": REF}, "A CA certificate reference is required"),
        ({"tls_enabled": True, "tls_versions": ["TLSv0"]}, "Invalid TLS versions: TLSv0"),
        ({"tls_ciphers": "A B"}, "Invalid characters in cipher string"),
        ({"lb_algorithm": "RANDOM"}, "lb_algorithm"),
        ({"protocol": "FTP"}, "protocol"),
        ({"description": "x" * 256}, "description"),
    ],
)
def test_invalid_bodies_are_400_with_octavia_words(
    client: TestClient, lb_id: str, fields: dict[str, Any], expected: str
) -> None:
    response = post_pool(client, loadbalancer_id=lb_id, **fields)
    assert response.status_code == 400, response.text
    assert expected in fault(response)


def test_session_persistence_tls_defaults_and_source_ip_port_are_accepted(
    client: TestClient, lb_id: str
) -> None:
    pool = make_pool(
        client,
        loadbalancer_id=lb_id,
        lb_algorithm="SOURCE_IP_PORT",
        session_persistence={"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
        tls_enabled=True,
    )
    assert pool["lb_algorithm"] == "SOURCE_IP_PORT"
    assert pool["session_persistence"] == {
        "type": "APP_COOKIE",
        "cookie_name": "JSESSIONID",
        "persistence_timeout": None,
        "persistence_granularity": None,
    }
    assert pool["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert pool["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    udp = make_pool(
        client,
        loadbalancer_id=lb_id,
        protocol="UDP",
        session_persistence={"type": "SOURCE_IP", "persistence_timeout": 60},
    )
    assert udp["session_persistence"]["persistence_timeout"] == 60


def test_update_merges_session_persistence_and_null_clears_it(
    client: TestClient, lb_id: str
) -> None:
    pool = make_pool(
        client,
        loadbalancer_id=lb_id,
        session_persistence={"type": "APP_COOKIE", "cookie_name": "a"},
    )
    url = f"{POOLS}/{pool['id']}"
    changed = client.put(url, json={"pool": {"session_persistence": {"cookie_name": "b"}}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["pool"]["session_persistence"]["type"] == "APP_COOKIE"
    assert changed.json()["pool"]["session_persistence"]["cookie_name"] == "b"
    bad = client.put(url, json={"pool": {"session_persistence": {"type": "HTTP_COOKIE"}}})
    assert bad.status_code == 400
    cleared = client.put(url, json={"pool": {"session_persistence": None, "name": "n"}})
    assert cleared.json()["pool"]["session_persistence"] is None
    assert cleared.json()["pool"]["name"] == "n"
    assert client.put(url, json={"pool": {"protocol": "TCP"}}).status_code == 400


def test_deleting_a_default_pool_clears_the_listener_reference(
    client: TestClient, lb_id: str
) -> None:
    listener = make_listener(client, lb_id)
    pool = make_pool(client, listener_id=listener)
    wait_lb_active(client, lb_id)
    assert client.delete(f"{POOLS}/{pool['id']}").status_code == 204
    wait_for(lambda: client.get(f"{POOLS}/{pool['id']}").status_code == 404)
    assert show(client, f"{LISTENERS}/{listener}")["listener"]["default_pool_id"] is None
    wait_lb_active(client, lb_id)


def test_pool_used_by_an_l7_policy_cannot_be_deleted(client: TestClient, lb_id: str) -> None:
    listener = make_listener(client, lb_id)
    pool = make_pool(client, loadbalancer_id=lb_id)
    body = {"listener_id": listener, "action": "REDIRECT_TO_POOL", "redirect_pool_id": pool["id"]}
    created = client.post("/v2/lbaas/l7policies", json={"l7policy": body})
    assert created.status_code == 201, created.text
    policy = created.json()["l7policy"]["id"]
    response = client.delete(f"{POOLS}/{pool['id']}")
    assert response.status_code == 409
    assert fault(response) == f"Pool {pool['id']} is in use by L7 policy {policy}"


def test_update_pool_while_lb_pending_is_coalesced(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(), with_reconciler=False)
    lb = create_lb(client)
    listener = make_listener(client, lb)
    pool = make_pool(client, listener_id=listener)
    other = make_pool(client, loadbalancer_id=lb)
    # Still PENDING_CREATE (nothing converged yet): updates are accepted and coalesced.
    r1 = client.put(f"{POOLS}/{pool['id']}", json={"pool": {"name": "a"}})
    r2 = client.put(f"{POOLS}/{other['id']}", json={"pool": {"name": "b"}})
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert r1.json()["pool"]["provisioning_status"] == "PENDING_CREATE"
    converge(client)
    for pool_id in (pool["id"], other["id"]):
        assert show(client, f"{POOLS}/{pool_id}")["pool"]["provisioning_status"] == "ACTIVE"
    assert show(client, f"{LISTENERS}/{listener}")["listener"]["provisioning_status"] == "ACTIVE"


def test_pool_changes_while_pending_conflict_when_strict(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(strict_pending_lock=True), with_reconciler=False)
    lb = create_lb(client)
    assert post_pool(client, loadbalancer_id=lb).status_code == 409
    converge(client)
    listener = make_listener(client, lb)
    # The listener is PENDING_CREATE: a pool for it must wait.
    converge(client)
    pool = make_pool(client, listener_id=listener)
    response = client.put(f"{POOLS}/{pool['id']}", json={"pool": {"name": "x"}})
    assert response.status_code == 409
    assert client.delete(f"{POOLS}/{pool['id']}").status_code == 409
    converge(client)
    assert client.put(f"{POOLS}/{pool['id']}", json={"pool": {"name": "x"}}).status_code == 200
    assert show(client, f"{LISTENERS}/{listener}")["listener"]["provisioning_status"] == (
        "PENDING_UPDATE"
    )


def test_deleted_pool_refuses_updates(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(), with_reconciler=False)
    lb = create_lb(client)
    pool = make_pool(client, loadbalancer_id=lb)
    assert client.delete(f"{POOLS}/{pool['id']}").status_code == 204
    response = client.put(f"{POOLS}/{pool['id']}", json={"pool": {"name": "x"}})
    assert response.status_code == 409
    assert fault(response) == f"Pool {pool['id']} is immutable and cannot be updated."
    converge(client)
    assert client.get(f"{POOLS}/{pool['id']}").status_code == 404


def test_pool_quota_is_enforced(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(default_quota_pool=1))
    lb = create_lb(client)
    make_pool(client, loadbalancer_id=lb)
    response = post_pool(client, loadbalancer_id=lb)
    assert response.status_code == 403
    assert fault(response) == "Quota has been met for resources: Pool"


def test_other_projects_pools_are_hidden_and_forbidden(
    database_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    client = client_factory(settings_factory(database_url))
    a = {"X-Project-Id": "project-a", "X-Roles": "member"}
    b = {"X-Project-Id": "project-b", "X-Roles": "member"}
    lb = create_lb(client, headers=a)
    body = {"loadbalancer_id": lb, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    assert client.post(POOLS, json={"pool": body}, headers=b).status_code == 403
    created = client.post(POOLS, json={"pool": body}, headers=a)
    assert created.status_code == 201
    pool = created.json()["pool"]["id"]
    assert client.get(f"{POOLS}/{pool}", headers=b).status_code == 403
    assert client.put(f"{POOLS}/{pool}", json={"pool": {}}, headers=b).status_code == 403
    assert client.delete(f"{POOLS}/{pool}", headers=b).status_code == 403
    assert client.get(POOLS, headers=b).json()["pools"] == []
    listed = client.get(POOLS, headers=a, params={"loadbalancer_id": lb}).json()["pools"]
    assert [p["id"] for p in listed] == [pool]
