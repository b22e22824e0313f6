"""Quota API: Octavia's shapes (both spellings), codes, policies, and enforcement at create."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, create_lb, wait_lb_active

Q = "/v2/lbaas/quotas"
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin"}
QUOTA_ADMIN = {"X-Project-Id": "ops", "X-Roles": "load-balancer_quota_admin"}
GLOBAL_OBSERVER = {"X-Project-Id": "audit", "X-Roles": "load-balancer_global_observer"}
MEMBER_A = {"X-Project-Id": "project-a", "X-Roles": "member"}
OBSERVER_A = {"X-Project-Id": "project-a", "X-Roles": "load-balancer_observer"}
MEMBER_B = {"X-Project-Id": "project-b", "X-Roles": "member"}
FIELDS = {
    "loadbalancer",
    "load_balancer",
    "listener",
    "pool",
    "healthmonitor",
    "health_monitor",
    "member",
    "l7policy",
    "l7rule",
}

ClientFactory = Callable[..., TestClient]
SettingsFactory = Callable[..., Settings]


def put_quota(
    client: TestClient, project: str, headers: dict[str, str] = ADMIN, **values: Any
) -> httpx.Response:
    return client.put(f"{Q}/{project}", json={"quota": values}, headers=headers)


def test_update_answers_202_with_the_quota_in_force_under_both_spellings(
    client_factory: ClientFactory, settings_factory: SettingsFactory, database_url: str
) -> None:
    client = client_factory(settings_factory(database_url, default_quota_pool=7))
    response = put_quota(client, "project-a", loadbalancer=10, member=50, health_monitor=3)
    assert response.status_code == 202, response.text
    quota = response.json()["quota"]
    assert set(quota) == FIELDS | {"project_id"}
    assert quota["project_id"] == "project-a"
    assert quota["loadbalancer"] == quota["load_balancer"] == 10
    assert quota["healthmonitor"] == quota["health_monitor"] == 3
    assert quota["member"] == 50
    assert quota["pool"] == 7  # not set: the configured default
    assert quota["listener"] == -1
    shown = client.get(f"{Q}/project-a", headers=ADMIN).json()["quota"]
    assert shown == quota


def test_list_shows_stored_values_with_null_for_defaults(client: TestClient) -> None:
    put_quota(client, "project-a", load_balancer=5)
    put_quota(client, "project-b", l7rule=0)
    body = client.get(Q, headers=ADMIN).json()
    assert body["quotas_links"] == []
    by_project = {q["project_id"]: q for q in body["quotas"]}
    assert by_project["project-a"]["loadbalancer"] == 5
    assert by_project["project-a"]["listener"] is None
    assert by_project["project-b"]["l7rule"] == 0
    only_b = client.get(Q, params={"project_id": "project-b"}, headers=ADMIN).json()["quotas"]
    assert [q["project_id"] for q in only_b] == ["project-b"]


def test_list_pages_by_project_id(client: TestClient) -> None:
    for project in ("p1", "p2", "p3"):
        put_quota(client, project, pool=1)
    first = client.get(Q, params={"limit": 2}, headers=ADMIN).json()
    assert [q["project_id"] for q in first["quotas"]] == ["p1", "p2"]
    assert [link["rel"] for link in first["quotas_links"]] == ["next"]
    rest = client.get(Q, params={"limit": 2, "marker": "p2"}, headers=ADMIN).json()
    assert [q["project_id"] for q in rest["quotas"]] == ["p3"]


def test_null_returns_one_limit_to_the_default(client: TestClient) -> None:
    put_quota(client, "project-a", member=5, pool=5)
    quota = put_quota(client, "project-a", member=None).json()["quota"]
    assert quota["member"] == -1
    assert quota["pool"] == 5


def test_current_spelling_wins_when_both_are_sent(client: TestClient) -> None:
    quota = put_quota(client, "project-a", loadbalancer=4, load_balancer=9).json()["quota"]
    assert quota["loadbalancer"] == 4


def test_reset_answers_202_and_restores_defaults(client: TestClient) -> None:
    put_quota(client, "project-a", loadbalancer=1, l7policy=2)
    response = client.delete(f"{Q}/project-a", headers=ADMIN)
    assert response.status_code == 202
    assert response.content == b""
    quota = client.get(f"{Q}/project-a", headers=ADMIN).json()["quota"]
    assert {quota[name] for name in FIELDS} == {-1}


def test_reset_of_a_project_without_quota_is_404(client: TestClient) -> None:
    response = client.delete(f"{Q}/never-set", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["faultstring"] == "Quotas never-set not found."


@pytest.mark.parametrize("value", [-2, 2_000_000_001, "10", 1.5, True, [], {"x": 1}], ids=repr)
def test_out_of_range_or_non_integer_limits_are_400(client: TestClient, value: Any) -> None:
    response = put_quota(client, "project-a", listener=value)
    assert response.status_code == 400, response.text
    assert response.json()["faultcode"] == "Client"


def test_extreme_valid_limits_are_accepted(client: TestClient) -> None:
    quota = put_quota(client, "p", listener=2_000_000_000, pool=-1, member=0).json()["quota"]
    assert (quota["listener"], quota["pool"], quota["member"]) == (2_000_000_000, -1, 0)


def test_overlong_project_id_is_400_not_a_database_error(
    client_factory: ClientFactory, settings_factory: SettingsFactory, database_url: str
) -> None:
    client = client_factory(settings_factory(database_url))
    response = put_quota(client, "p" * 256, pool=1)
    assert response.status_code == 400
    assert put_quota(client, "p" * 255, pool=1).status_code == 202


def test_unknown_quota_attribute_is_400(client: TestClient) -> None:
    assert put_quota(client, "project-a", amphora=3).status_code == 400
    bare = client.put(f"{Q}/project-a", json={"load_balancer": 3}, headers=ADMIN)
    assert bare.status_code == 400


def test_defaults_follow_the_configuration(
    client_factory: ClientFactory, settings_factory: SettingsFactory
) -> None:
    client = client_factory(settings_factory(default_quota_member=100, default_quota_l7rule=0))
    put_quota(client, "project-a", member=1)
    defaults = client.get(f"{Q}/defaults", headers=MEMBER_A).json()["quota"]
    assert "project_id" not in defaults
    assert defaults["member"] == 100 and defaults["l7rule"] == 0
    project = client.get(f"{Q}/project-a/default", headers=MEMBER_A).json()["quota"]
    assert project["project_id"] == "project-a"
    assert project["member"] == 100  # the default, not the project's own 1


def test_member_may_not_write_quotas(client: TestClient) -> None:
    forbidden = put_quota(client, "project-a", MEMBER_A, loadbalancer=100)
    assert forbidden.status_code == 403
    assert forbidden.json()["faultstring"] == (
        "Policy does not allow this request to be performed."
    )
    put_quota(client, "project-a", loadbalancer=1)
    assert client.delete(f"{Q}/project-a", headers=MEMBER_A).status_code == 403


def test_quota_admin_writes_and_reads_any_project(client: TestClient) -> None:
    assert put_quota(client, "project-b", QUOTA_ADMIN, pool=3).status_code == 202
    assert client.get(f"{Q}/project-b", headers=QUOTA_ADMIN).json()["quota"]["pool"] == 3
    listed = client.get(Q, headers=QUOTA_ADMIN).json()["quotas"]
    assert [q["project_id"] for q in listed] == ["project-b"]
    assert client.delete(f"{Q}/project-b", headers=QUOTA_ADMIN).status_code == 202


def test_observers_read_their_own_quota_only(client: TestClient) -> None:
    put_quota(client, "project-a", pool=2)
    put_quota(client, "project-b", pool=3)
    own = client.get(f"{Q}/project-a", headers=OBSERVER_A)
    assert own.status_code == 200 and own.json()["quota"]["pool"] == 2
    assert client.get(f"{Q}/project-b", headers=OBSERVER_A).status_code == 403
    assert client.get(f"{Q}/project-b/default", headers=OBSERVER_A).status_code == 403
    assert put_quota(client, "project-a", OBSERVER_A, pool=9).status_code == 403
    listed = client.get(Q, headers=MEMBER_A).json()["quotas"]
    assert [q["project_id"] for q in listed] == ["project-a"]
    other = client.get(Q, params={"project_id": "project-b"}, headers=MEMBER_A)
    assert other.status_code == 403


def test_global_observer_lists_every_quota_but_cannot_write(client: TestClient) -> None:
    put_quota(client, "project-a", pool=2)
    put_quota(client, "project-b", pool=3)
    listed = client.get(Q, headers=GLOBAL_OBSERVER).json()["quotas"]
    assert {q["project_id"] for q in listed} == {"project-a", "project-b"}
    assert put_quota(client, "project-a", GLOBAL_OBSERVER, pool=1).status_code == 403


def test_v2_0_paths_serve_the_same_quotas(client: TestClient) -> None:
    put_quota(client, "project-a", pool=4)
    body = client.get("/v2.0/lbaas/quotas/project-a", headers=ADMIN).json()
    assert body["quota"]["pool"] == 4


def _create_lb(client: TestClient, headers: dict[str, str]) -> httpx.Response:
    body = {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET}}
    return client.post("/v2/lbaas/loadbalancers", json=body, headers=headers)


def test_load_balancer_quota_is_enforced_per_project(
    client_factory: ClientFactory, settings_factory: SettingsFactory, database_url: str
) -> None:
    client = client_factory(settings_factory(database_url))
    put_quota(client, "project-a", loadbalancer=1)
    create_lb(client, headers=MEMBER_A)
    refused = _create_lb(client, MEMBER_A)
    assert refused.status_code == 403
    assert refused.json()["faultstring"] == "Quota has been met for resources: LoadBalancer"
    # Another project is not limited by project-a's quota.
    assert _create_lb(client, MEMBER_B).status_code == 201
    # Raising the limit lets the next one through; -1 removes it.
    put_quota(client, "project-a", loadbalancer=2)
    assert _create_lb(client, MEMBER_A).status_code == 201
    assert _create_lb(client, MEMBER_A).status_code == 403
    put_quota(client, "project-a", loadbalancer=-1)
    assert _create_lb(client, MEMBER_A).status_code == 201


def test_zero_quota_refuses_the_first_load_balancer(client: TestClient) -> None:
    put_quota(client, "project-a", load_balancer=0)
    refused = _create_lb(client, MEMBER_A)
    assert refused.status_code == 403
    listed = client.get("/v2/lbaas/loadbalancers", headers=MEMBER_A).json()["loadbalancers"]
    assert listed == []


def test_configured_default_quota_applies_until_a_project_quota_is_set(
    client_factory: ClientFactory, settings_factory: SettingsFactory
) -> None:
    client = client_factory(settings_factory(default_quota_load_balancer=1))
    create_lb(client, headers=MEMBER_A)
    assert _create_lb(client, MEMBER_A).status_code == 403
    put_quota(client, "project-a", loadbalancer=3)
    assert _create_lb(client, MEMBER_A).status_code == 201
    client.delete(f"{Q}/project-a", headers=ADMIN)
    assert _create_lb(client, MEMBER_A).status_code == 403


@pytest.mark.parametrize(
    ("path", "key", "fields", "label"),
    [
        ("/v2/lbaas/listeners", "listener", {"protocol": "HTTP"}, "Listener"),
        ("/v2/lbaas/pools", "pool", {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}, "Pool"),
    ],
)
def test_listener_and_pool_quotas_are_enforced(
    client: TestClient, path: str, key: str, fields: dict[str, Any], label: str
) -> None:
    put_quota(client, "project-a", **{key: 1})
    lb_id = create_lb(client, headers=MEMBER_A)
    answers = []
    for port in (80, 81):
        body = {key: {**fields, "loadbalancer_id": lb_id}}
        if key == "listener":
            body[key]["protocol_port"] = port
        answers.append(client.post(path, json=body, headers=MEMBER_A))
        wait_lb_active(client, lb_id, headers=ADMIN)
    assert answers[0].status_code == 201, answers[0].text
    assert answers[1].status_code == 403
    assert answers[1].json()["faultstring"] == f"Quota has been met for resources: {label}"
