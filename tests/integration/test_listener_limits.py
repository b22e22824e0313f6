"""The listener's DDoS limits through the API: off (null) unless named, set on create,
changed and unset (null) on update, stored on SQLite and PostgreSQL, refused with Octavia's
400 body when out of bounds, of the wrong type, or meaningless for the protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, create_lb, wait_for, wait_lb_active

LISTENERS = "/v2/lbaas/listeners"
FIELDS = (
    "connection_rate_limit",
    "request_rate_limit",
    "max_request_header_size",
    "max_request_body_size",
)
ALL = dict(zip(FIELDS, (50, 100, 8192, 10 * 2**30), strict=True))


@pytest.fixture
def api(
    client_factory: Callable[[Settings], TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> TestClient:
    return client_factory(settings_factory(database_url))


def _post(api: TestClient, lb_id: str, port: int, **fields: Any) -> Any:
    body = {"loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": port, **fields}
    return api.post(LISTENERS, json={"listener": body})


def _settled(api: TestClient, listener_id: str) -> dict[str, Any]:
    def active() -> dict[str, Any] | None:
        li: dict[str, Any] = api.get(f"{LISTENERS}/{listener_id}").json()["listener"]
        return li if li["provisioning_status"] == "ACTIVE" else None

    result: dict[str, Any] = wait_for(active)
    return result


def _fault(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["faultcode"] == "Client" and body["debuginfo"] is None, body
    return str(body["faultstring"])


def test_limits_are_off_unless_named_then_set_changed_and_unset(api: TestClient) -> None:
    lb_id = create_lb(api)
    wait_lb_active(api, lb_id)
    plain = _post(api, lb_id, 80)
    assert plain.status_code == 201, plain.text
    assert {name: plain.json()["listener"][name] for name in FIELDS} == dict.fromkeys(FIELDS)

    created = _post(api, lb_id, 81, **ALL)
    assert created.status_code == 201, created.text
    listener_id = created.json()["listener"]["id"]
    shown = _settled(api, listener_id)
    assert {name: shown[name] for name in FIELDS} == ALL  # a body size past 2**31 is kept

    listed = api.get(LISTENERS, params={"request_rate_limit": 100}).json()["listeners"]
    assert [li["id"] for li in listed] == [listener_id]

    wait_lb_active(api, lb_id)
    update = {"request_rate_limit": 7, "max_request_header_size": None}
    changed = api.put(f"{LISTENERS}/{listener_id}", json={"listener": update})
    assert changed.status_code == 200, changed.text
    after = _settled(api, listener_id)
    assert {name: after[name] for name in FIELDS} == {
        **ALL,
        "request_rate_limit": 7,
        "max_request_header_size": None,
    }

    wait_lb_active(api, lb_id)
    unset = api.put(f"{LISTENERS}/{listener_id}", json={"listener": dict.fromkeys(FIELDS)})
    assert unset.status_code == 200, unset.text
    assert {name: _settled(api, listener_id)[name] for name in FIELDS} == dict.fromkeys(FIELDS)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"connection_rate_limit": 0}, "connection_rate_limit"),
        ({"connection_rate_limit": 1_000_001}, "connection_rate_limit"),
        ({"request_rate_limit": -5}, "request_rate_limit"),
        ({"request_rate_limit": "10"}, "request_rate_limit"),
        ({"request_rate_limit": True}, "request_rate_limit"),
        ({"request_rate_limit": 2.5}, "request_rate_limit"),
        ({"max_request_header_size": 63}, "max_request_header_size"),
        ({"max_request_header_size": 15_361}, "max_request_header_size"),
        ({"max_request_body_size": -1}, "max_request_body_size"),
        ({"max_request_body_size": 2**40 + 1}, "max_request_body_size"),
        ({"protocol": "TCP", "request_rate_limit": 10}, "request_rate_limit is only supported"),
        ({"protocol": "HTTPS", "max_request_body_size": 10}, "not on HTTPS listeners"),
        ({"protocol": "TCP", "max_request_header_size": 1024}, "max_request_header_size"),
        ({"protocol": "UDP", "connection_rate_limit": 10}, "not supported on UDP listeners"),
    ],
)
def test_bad_limits_are_refused_on_create(
    client: TestClient, fields: dict[str, Any], expected: str
) -> None:
    lb_id = create_lb(client)
    wait_lb_active(client, lb_id)
    assert expected in _fault(_post(client, lb_id, 80, **fields))
    assert client.get(LISTENERS).json()["listeners"] == []


def test_a_tcp_listener_takes_a_connection_rate_but_no_http_limit_on_update(
    client: TestClient,
) -> None:
    lb_id = create_lb(client)
    wait_lb_active(client, lb_id)
    created = _post(client, lb_id, 5432, protocol="TCP", connection_rate_limit=20)
    assert created.status_code == 201, created.text
    listener_id = created.json()["listener"]["id"]
    _settled(client, listener_id)
    wait_lb_active(client, lb_id)
    refused = client.put(
        f"{LISTENERS}/{listener_id}", json={"listener": {"max_request_body_size": 100}}
    )
    assert "max_request_body_size is only supported" in _fault(refused)
    bad = client.put(f"{LISTENERS}/{listener_id}", json={"listener": {"connection_rate_limit": 0}})
    assert "connection_rate_limit" in _fault(bad)
    assert _settled(client, listener_id)["connection_rate_limit"] == 20


def test_a_full_graph_create_carries_the_limits(client: TestClient) -> None:
    listener = {"name": "web", "protocol": "HTTP", "protocol_port": 80, **ALL}
    body = {"vip_subnet_id": LOCAL_SUBNET, "listeners": [listener]}
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert created.status_code == 201, created.text
    shown = created.json()["loadbalancer"]["listeners"][0]
    assert {name: shown[name] for name in FIELDS} == ALL
    tcp = {"name": "db", "protocol": "TCP", "protocol_port": 5432, "request_rate_limit": 5}
    refused = client.post(
        "/v2/lbaas/loadbalancers",
        json={"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, "listeners": [tcp]}},
    )
    assert "request_rate_limit is only supported" in _fault(refused)
