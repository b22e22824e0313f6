"""Listeners through the API as a user sees them: defaults, validation, conflicts, pending
rules (coalescing and strict), tenancy, quotas and stats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import converge, create_lb, wait_for, wait_lb_active

LISTENERS = "/v2/lbaas/listeners"
CERT = "https://barbican.example/v1/containers/0b7f7a3b-3b25-4c4e-9f1e-0f0e0e0e0e01"
CA = "https://barbican.example/v1/secrets/0b7f7a3b-3b25-4c4e-9f1e-0f0e0e0e0e02"


def post_listener(client: TestClient, lb_id: str, **fields: Any) -> Any:
    body = {"loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80, **fields}
    return client.post(LISTENERS, json={"listener": body})


def make_listener(client: TestClient, lb_id: str, **fields: Any) -> dict[str, Any]:
    response = post_listener(client, lb_id, **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()["listener"]
    return body


def listener_status(client: TestClient, listener_id: str) -> str:
    return str(client.get(f"{LISTENERS}/{listener_id}").json()["listener"]["provisioning_status"])


def fault(response: Any) -> str:
    return str(response.json()["faultstring"])


@pytest.fixture
def lb_id(client: TestClient) -> str:
    lb = create_lb(client)
    wait_lb_active(client, lb)
    return lb


def test_create_answers_pending_with_octavia_defaults_then_goes_active(
    client: TestClient, lb_id: str
) -> None:
    li = make_listener(client, lb_id, name="web", tags=["a"])
    assert li["provisioning_status"] == "PENDING_CREATE"
    assert li["operating_status"] == "OFFLINE"
    assert li["loadbalancers"] == [{"id": lb_id}]
    assert li["l7policies"] == []
    assert li["connection_limit"] == -1
    assert (
        li["timeout_client_data"],
        li["timeout_member_connect"],
        li["timeout_member_data"],
        li["timeout_tcp_inspect"],
    ) == (50000, 5000, 50000, 0)
    assert li["client_authentication"] == "NONE"
    assert li["insert_headers"] == {}
    assert li["sni_container_refs"] == []
    assert li["allowed_cidrs"] is None
    assert li["tls_versions"] is None and li["tls_ciphers"] is None
    assert li["default_pool_id"] is None
    assert li["tags"] == ["a"]
    assert li["project_id"] == li["tenant_id"]
    wait_for(lambda: listener_status(client, li["id"]) == "ACTIVE")
    lb = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
    assert lb["listeners"] == [{"id": li["id"]}]
    assert client.get(f"{LISTENERS}/{li['id']}/stats").json() == {
        "stats": {
            "bytes_in": 0,
            "bytes_out": 0,
            "active_connections": 0,
            "total_connections": 0,
            "request_errors": 0,
        }
    }


def test_terminated_https_needs_a_certificate_and_gets_tls_defaults(
    client: TestClient, lb_id: str
) -> None:
    response = post_listener(client, lb_id, protocol="TERMINATED_HTTPS", protocol_port=443)
    assert response.status_code == 400
    assert "must be provided for TERMINATED_HTTPS protocol listeners" in fault(response)
    li = make_listener(
        client,
        lb_id,
        protocol="TERMINATED_HTTPS",
        protocol_port=443,
        default_tls_container_ref=CERT,
        hsts_max_age=3600,
        hsts_preload=True,
    )
    assert li["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert li["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert li["tls_ciphers"].startswith("TLS_AES_128_GCM_SHA256:")
    assert (li["hsts_max_age"], li["hsts_preload"], li["hsts_include_subdomains"]) == (
        3600,
        True,
        False,
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"default_tls_container_ref": CERT}, "not allowed on HTTP protocol listeners"),
        (
            {
                "protocol": "TERMINATED_HTTPS",
                "default_tls_container_ref": CERT,
                "client_authentication": "MANDATORY",
            },
            "requires a client CA container reference",
        ),
        ({"insert_headers": {"X-Forwarded-Host": "true"}}, "not a valid option for insert_headers"),
        ({"insert_headers": {"X-SSL-Client-CN": "true"}}, "HTTP protocol listener"),
        ({"protocol": "TCP", "insert_headers": {"X-Forwarded-For": "true"}}, "TCP protocol"),
        ({"protocol": "UDP", "default_tls_container_ref": CERT}, "does not support TLS"),
        ({"allowed_cidrs": ["2001:db8::/64"]}, "IP version incompatible with all VIPs"),
        ({"hsts_max_age": 10}, "only be used for listeners using the TERMINATED_HTTPS"),
        ({"hsts_preload": True}, "only make sense if hsts_max_age is set"),
        ({"tls_versions": ["TLSv9"]}, "Invalid TLS versions: TLSv9"),
        ({"tls_versions": []}, "Empty TLS version list"),
        ({"tls_ciphers": "AES;rm -rf"}, "Invalid characters in cipher string"),
        ({"alpn_protocols": ["spdy/3"]}, "alpn_protocols"),
        ({"protocol": "FTP"}, "protocol"),
        ({"protocol_port": 0}, "protocol_port"),
        ({"connection_limit": -2}, "connection_limit"),
        ({"timeout_client_data": 24 * 24 * 3600 * 1000 + 1}, "timeout_client_data"),
        ({"name": "evil\r\nname"}, "control characters"),
        ({"bogus": 1}, "Unknown attribute"),
        ({"default_pool_id": "not-a-uuid"}, "default_pool_id"),
    ],
)
def test_invalid_bodies_are_400_with_octavia_words(
    client: TestClient, lb_id: str, fields: dict[str, Any], expected: str
) -> None:
    response = post_listener(client, lb_id, **fields)
    assert response.status_code == 400, response.text
    assert expected in fault(response)


def test_allowed_cidrs_are_normalized_and_shown(client: TestClient, lb_id: str) -> None:
    li = make_listener(client, lb_id, allowed_cidrs=["10.0.0.7/24", "10.0.0.0/24", "192.0.2.1/32"])
    assert li["allowed_cidrs"] == ["10.0.0.0/24", "192.0.2.1/32"]


def test_port_is_unique_per_transport_on_a_load_balancer(client: TestClient, lb_id: str) -> None:
    make_listener(client, lb_id, protocol="HTTP", protocol_port=80)
    response = post_listener(client, lb_id, protocol="TCP", protocol_port=80)
    assert response.status_code == 409
    assert fault(response) == (
        "Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80"
    )
    # UDP does not share TCP's port space; another load balancer has its own ports.
    make_listener(client, lb_id, protocol="UDP", protocol_port=80)
    other = create_lb(client)
    make_listener(client, other, protocol="HTTP", protocol_port=80)


def test_missing_load_balancer_is_404(client: TestClient) -> None:
    response = post_listener(client, "0b7f7a3b-3b25-4c4e-9f1e-0f0e0e0e0e0f")
    assert response.status_code == 404
    assert "Load Balancer 0b7f7a3b-3b25-4c4e-9f1e-0f0e0e0e0e0f not found" in fault(response)
    assert client.get(f"{LISTENERS}/0b7f7a3b-3b25-4c4e-9f1e-0f0e0e0e0e0f").status_code == 404


def test_update_changes_fields_and_null_restores_defaults(client: TestClient, lb_id: str) -> None:
    li = make_listener(client, lb_id, connection_limit=100, timeout_client_data=1000)
    wait_for(lambda: listener_status(client, li["id"]) == "ACTIVE")
    response = client.put(
        f"{LISTENERS}/{li['id']}",
        json={
            "listener": {
                "name": "renamed",
                "connection_limit": None,
                "timeout_client_data": None,
                "insert_headers": {"X-Forwarded-For": "true"},
                "tags": ["x", "y"],
            }
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()["listener"]
    assert body["name"] == "renamed"
    assert body["connection_limit"] == -1
    assert body["timeout_client_data"] == 50000
    assert body["insert_headers"] == {"X-Forwarded-For": "true"}
    assert body["tags"] == ["x", "y"]
    assert body["provisioning_status"] == "PENDING_UPDATE"
    wait_for(lambda: listener_status(client, li["id"]) == "ACTIVE")
    bad = client.put(f"{LISTENERS}/{li['id']}", json={"listener": {"hsts_max_age": 5}})
    assert bad.status_code == 400
    bad = client.put(f"{LISTENERS}/{li['id']}", json={"listener": {"protocol": "TCP"}})
    assert bad.status_code == 400


def test_default_pool_must_be_on_the_same_lb_and_speak_a_compatible_protocol(
    client: TestClient, lb_id: str
) -> None:
    def pool(lb: str, protocol: str) -> str:
        body = {"loadbalancer_id": lb, "protocol": protocol, "lb_algorithm": "ROUND_ROBIN"}
        response = client.post("/v2/lbaas/pools", json={"pool": body})
        assert response.status_code == 201, response.text
        return str(response.json()["pool"]["id"])

    tcp_pool = pool(lb_id, "TCP")
    response = post_listener(client, lb_id, default_pool_id=tcp_pool)
    assert response.status_code == 400
    assert fault(response) == (
        "Validation failure: The pool protocol 'TCP' is invalid while the listener protocol "
        "is 'HTTP'."
    )
    foreign = pool(create_lb(client), "HTTP")
    response = post_listener(client, lb_id, default_pool_id=foreign)
    assert response.status_code == 404
    http_pool = pool(lb_id, "HTTP")
    li = make_listener(client, lb_id, default_pool_id=http_pool)
    assert li["default_pool_id"] == http_pool
    cleared = client.put(f"{LISTENERS}/{li['id']}", json={"listener": {"default_pool_id": None}})
    assert cleared.json()["listener"]["default_pool_id"] is None
    response = post_listener(
        client, lb_id, protocol="PROMETHEUS", protocol_port=9100, default_pool_id=http_pool
    )
    assert response.status_code == 400
    assert "PROMETHEUS listeners cannot have child objects" in fault(response)


def test_delete_marks_pending_delete_then_the_listener_is_gone(
    client: TestClient, lb_id: str
) -> None:
    li = make_listener(client, lb_id)
    wait_lb_active(client, lb_id)
    assert client.delete(f"{LISTENERS}/{li['id']}").status_code == 204
    wait_for(lambda: client.get(f"{LISTENERS}/{li['id']}").status_code == 404)
    assert client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]["listeners"] == []


def test_update_listener_while_lb_pending_is_coalesced(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(), with_reconciler=False)
    lb = create_lb(client)
    converge(client)
    first = make_listener(client, lb, protocol_port=80)
    second = make_listener(client, lb, protocol_port=81)
    converge(client)
    r1 = client.put(f"{LISTENERS}/{first['id']}", json={"listener": {"name": "one"}})
    r2 = client.put(f"{LISTENERS}/{second['id']}", json={"listener": {"name": "two"}})
    assert (r1.status_code, r2.status_code) == (200, 200)
    lb_body = client.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"]
    assert lb_body["provisioning_status"] == "PENDING_UPDATE"
    converge(client)
    assert listener_status(client, first["id"]) == "ACTIVE"
    assert listener_status(client, second["id"]) == "ACTIVE"
    lb_body = client.get(f"/v2/lbaas/loadbalancers/{lb}").json()["loadbalancer"]
    assert lb_body["provisioning_status"] == "ACTIVE"


def test_update_listener_while_lb_pending_conflicts_when_strict(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(strict_pending_lock=True), with_reconciler=False)
    lb = create_lb(client)
    response = post_listener(client, lb)
    assert response.status_code == 409
    assert fault(response) == f"Load Balancer {lb} is immutable and cannot be updated."
    converge(client)
    first = make_listener(client, lb, protocol_port=80)
    response = post_listener(client, lb, protocol_port=81)
    assert response.status_code == 409
    converge(client)
    second = make_listener(client, lb, protocol_port=81)
    converge(client)
    assert (
        client.put(f"{LISTENERS}/{first['id']}", json={"listener": {"name": "a"}}).status_code
        == 200
    )
    r2 = client.put(f"{LISTENERS}/{second['id']}", json={"listener": {"name": "b"}})
    assert r2.status_code == 409
    assert client.delete(f"{LISTENERS}/{second['id']}").status_code == 409


def test_deleting_listener_refuses_further_changes(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(), with_reconciler=False)
    lb = create_lb(client)
    li = make_listener(client, lb)
    converge(client)
    assert client.delete(f"{LISTENERS}/{li['id']}").status_code == 204
    response = client.put(f"{LISTENERS}/{li['id']}", json={"listener": {"name": "x"}})
    assert response.status_code == 409
    assert fault(response) == f"Listener {li['id']} is immutable and cannot be updated."
    assert client.delete(f"{LISTENERS}/{li['id']}").status_code == 409


def test_listener_quota_is_enforced(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(default_quota_listener=1))
    lb = create_lb(client)
    make_listener(client, lb, protocol_port=80)
    response = post_listener(client, lb, protocol_port=81)
    assert response.status_code == 403
    assert fault(response) == "Quota has been met for resources: Listener"


def test_other_projects_listeners_are_hidden_and_forbidden(client: TestClient) -> None:
    a = {"X-Project-Id": "project-a", "X-Roles": "member"}
    b = {"X-Project-Id": "project-b", "X-Roles": "member"}
    lb = create_lb(client, headers=a)
    body = {"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80}
    assert client.post(LISTENERS, json={"listener": body}, headers=b).status_code == 403
    created = client.post(LISTENERS, json={"listener": body}, headers=a)
    assert created.status_code == 201
    li = created.json()["listener"]["id"]
    assert client.get(f"{LISTENERS}/{li}", headers=b).status_code == 403
    assert client.put(f"{LISTENERS}/{li}", json={"listener": {}}, headers=b).status_code == 403
    assert client.delete(f"{LISTENERS}/{li}", headers=b).status_code == 403
    assert client.get(f"{LISTENERS}/{li}/stats", headers=b).status_code == 403
    assert client.get(LISTENERS, headers=b).json()["listeners"] == []
    assert [x["id"] for x in client.get(LISTENERS, headers=a).json()["listeners"]] == [li]


def test_list_filters_sorts_and_pages(
    database_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    client = client_factory(settings_factory(database_url))
    lb = create_lb(client)
    ids = [make_listener(client, lb, protocol_port=p, name=f"l{p}")["id"] for p in (80, 81, 82)]
    other = create_lb(client)
    make_listener(client, other, protocol_port=80)
    mine = client.get(LISTENERS, params={"loadbalancer_id": lb, "sort": "protocol_port:desc"})
    assert [x["id"] for x in mine.json()["listeners"]] == ids[::-1]
    page = client.get(LISTENERS, params={"loadbalancer_id": lb, "limit": 2, "sort": "name"}).json()
    assert [x["id"] for x in page["listeners"]] == ids[:2]
    assert page["listeners_links"][0]["rel"] == "next"
    only = client.get(LISTENERS, params={"protocol_port": 81, "fields": "id,name"}).json()
    assert only["listeners"] == [{"id": ids[1], "name": "l81"}]
    assert client.get(LISTENERS, params={"bogus": 1}).status_code == 400
