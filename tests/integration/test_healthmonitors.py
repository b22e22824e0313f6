"""Health monitors through the API: defaults per type, rules per pool protocol, one per pool,
codes and messages as Octavia's, and the pending rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.db.models import Pool
from portico.settings import Settings
from tests.conftest import converge, create_lb, wait_for, wait_lb_active
from tests.integration.member_support import lb_generations, make_pool, row

HMS = "/v2/lbaas/healthmonitors"


def ready_pool(client: TestClient, protocol: str = "HTTP") -> tuple[str, str]:
    lb_id = create_lb(client)
    wait_lb_active(client, lb_id)
    pool_id = make_pool(client, lb_id, protocol)
    wait_lb_active(client, lb_id)
    return lb_id, pool_id


def create(client: TestClient, pool: str, **fields: Any) -> Any:
    body = {"pool_id": pool, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}
    return client.post(HMS, json={"healthmonitor": {**body, **fields}})


def test_http_monitor_gets_defaults_and_goes_active(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = client_factory(settings_factory(database_url))
    lb_id, pool_id = ready_pool(client)
    response = create(client, pool_id, name="hm", tags=["a"])
    assert response.status_code == 201, response.text
    hm = response.json()["healthmonitor"]
    assert hm["provisioning_status"] == "PENDING_CREATE"
    assert hm["operating_status"] == "OFFLINE"
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == ("GET", "/", "200")
    assert hm["max_retries_down"] == 3
    assert hm["pools"] == [{"id": pool_id}]
    assert hm["http_version"] is None and hm["domain_name"] is None
    assert hm["project_id"] == hm["tenant_id"] == "default-project"
    assert hm["tags"] == ["a"] and hm["admin_state_up"] is True

    def active() -> bool:
        return bool(
            client.get(f"{HMS}/{hm['id']}").json()["healthmonitor"]["provisioning_status"]
            == "ACTIVE"
        )

    wait_for(active)
    wait_lb_active(client, lb_id)


def test_tcp_monitor_has_null_http_fields(client: TestClient) -> None:
    _, pool_id = ready_pool(client, "TCP")
    hm = create(client, pool_id, type="TCP").json()["healthmonitor"]
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == (None, None, None)


def test_second_monitor_on_a_pool_is_409(client: TestClient) -> None:
    _, pool_id = ready_pool(client)
    assert create(client, pool_id).status_code == 201
    response = create(client, pool_id, type="TCP")
    assert response.status_code == 409
    assert response.json()["faultstring"] == "This pool already has a health monitor"


@pytest.mark.parametrize(
    ("protocol", "fields", "message"),
    [
        ("UDP", {"type": "PING"}, "only a UDP-CONNECT/SCTP/TCP/HTTP health monitor"),
        ("HTTP", {"type": "UDP-CONNECT"}, "only supported for pools of type UDP/SCTP"),
        ("UDP", {"type": "UDP-CONNECT", "delay": 2, "timeout": 1}, "should be larger than 3"),
        ("HTTP", {"type": "TCP", "url_path": "/x"}, "url_path is not a valid option"),
        ("HTTP", {"domain_name": "example.com"}, "'http_version' must be specified"),
        ("HTTP", {"domain_name": "example.com", "http_version": 1.0}, "http_version 1.0"),
    ],
)
def test_monitor_rules_are_octavias(
    client: TestClient, protocol: str, fields: dict[str, Any], message: str
) -> None:
    _, pool_id = ready_pool(client, protocol)
    response = create(client, pool_id, **fields)
    assert response.status_code == 400, response.text
    assert message in response.json()["faultstring"]


def test_invalid_monitor_input_is_400_never_500(client: TestClient) -> None:
    _, pool_id = ready_pool(client)
    cases: list[dict[str, Any]] = [
        {"type": "BOGUS"},
        {"delay": -1},
        {"delay": 2**40},
        {"delay": None},
        {"max_retries": 0},
        {"max_retries": 11},
        {"max_retries_down": 11},
        {"http_method": "FETCH"},
        {"url_path": "no-slash"},
        {"url_path": "/a\r\nHost: x"},
        {"expected_codes": "2000"},
        {"expected_codes": "200," * 30 + "200"},
        {"http_version": 2.0},
        {"domain_name": "bad domain"},
        {"pool_id": "not-a-uuid"},
        {"extra": True},
    ]
    for fields in cases:
        response = create(client, pool_id, **fields)
        assert response.status_code == 400, (fields, response.text)
    missing = "11111111-2222-3333-4444-555555555555"
    assert create(client, missing).status_code == 404
    ok = create(client, pool_id, expected_codes="200-204", url_path="/health?full=1")
    assert ok.status_code == 201, ok.text


def test_update_monitor_checks_rules_against_stored_values(client: TestClient) -> None:
    lb_id, pool_id = ready_pool(client)
    hm_id = create(client, pool_id, url_path="/health").json()["healthmonitor"]["id"]
    wait_lb_active(client, lb_id)
    url = f"{HMS}/{hm_id}"
    # domain_name needs the stored http_version to be 1.1 (it is unset here).
    assert client.put(url, json={"healthmonitor": {"domain_name": "a.example"}}).status_code == 400
    assert client.put(url, json={"healthmonitor": {"delay": None}}).status_code == 400
    assert client.put(url, json={"healthmonitor": {"type": "TCP"}}).status_code == 400
    changes = {"delay": 10, "timeout": 9, "url_path": None, "http_version": 1.1, "name": "n"}
    response = client.put(url, json={"healthmonitor": changes})
    assert response.status_code == 200, response.text
    hm = response.json()["healthmonitor"]
    assert hm["provisioning_status"] == "PENDING_UPDATE"
    assert (hm["delay"], hm["timeout"], hm["url_path"], hm["http_version"]) == (10, 9, "/", 1.1)
    domain = client.put(url, json={"healthmonitor": {"domain_name": "example.com"}})
    assert domain.status_code == 200
    assert domain.json()["healthmonitor"]["domain_name"] == "example.com"
    wait_lb_active(client, lb_id)


def test_delete_monitor_frees_the_pool_for_another(client: TestClient) -> None:
    lb_id, pool_id = ready_pool(client)
    hm_id = create(client, pool_id).json()["healthmonitor"]["id"]
    wait_lb_active(client, lb_id)
    assert client.delete(f"{HMS}/{hm_id}").status_code == 204
    wait_for(lambda: client.get(f"{HMS}/{hm_id}").status_code == 404)
    assert client.get(f"{HMS}/{hm_id}").json()["faultstring"] == (
        f"Health Monitor {hm_id} not found."
    )
    assert create(client, pool_id, type="PING").status_code == 201


def test_list_monitors_is_scoped_filtered_and_paged(client: TestClient) -> None:
    lb_id = create_lb(client)
    wait_lb_active(client, lb_id)
    pools = [make_pool(client, lb_id) for _ in range(3)]
    wait_lb_active(client, lb_id)
    for i, pool_id in enumerate(pools):
        assert create(client, pool_id, delay=5 + i, name=f"hm{i}").status_code == 201
    listed = client.get(f"{HMS}?sort=delay:desc").json()["healthmonitors"]
    assert [h["delay"] for h in listed] == [7, 6, 5]
    assert [h["name"] for h in client.get(f"{HMS}?delay=6").json()["healthmonitors"]] == ["hm1"]
    page = client.get(f"{HMS}?limit=1").json()
    assert len(page["healthmonitors"]) == 1 and page["healthmonitors_links"][0]["rel"] == "next"
    other = {"X-Project-Id": "other", "X-Roles": "member"}
    assert client.get(HMS, headers=other).json()["healthmonitors"] == []
    assert client.get(f"{HMS}/{listed[0]['id']}", headers=other).status_code == 403


def test_monitor_quota_is_enforced(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(default_quota_health_monitor=0))
    _, pool_id = ready_pool(client)
    response = create(client, pool_id)
    assert response.status_code == 403
    assert response.json()["faultstring"] == "Quota has been met for resources: HealthMonitor"


@pytest.mark.parametrize("strict", [False, True])
def test_monitor_create_while_lb_pending(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    strict: bool,
) -> None:
    client = client_factory(settings_factory(strict_pending_lock=strict), with_reconciler=False)
    lb_id = create_lb(client)
    converge(client)
    pool_id = make_pool(client, lb_id)
    converge(client)
    rename = client.put(f"/v2/lbaas/loadbalancers/{lb_id}", json={"loadbalancer": {"name": "x"}})
    assert rename.status_code == 200
    response = create(client, pool_id)
    if strict:
        assert response.status_code == 409
        assert "is immutable and cannot be updated" in response.json()["faultstring"]
        return
    assert response.status_code == 201
    assert row(client, Pool, pool_id).provisioning_status == "PENDING_UPDATE"
    converge(client)
    generation, applied = lb_generations(client, lb_id)
    assert generation == applied
    hm_id = response.json()["healthmonitor"]["id"]
    assert client.get(f"{HMS}/{hm_id}").json()["healthmonitor"]["provisioning_status"] == "ACTIVE"
