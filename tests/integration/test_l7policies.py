"""L7 policies through the API: Octavia's fields, defaults, positions, errors and locking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import converge, create_lb, wait_for, wait_lb_active
from tests.support.l7 import POLICIES, active_listener, add_listener, add_pool, create_policy

LBS = "/v2/lbaas/loadbalancers"


def positions(client: TestClient, listener_id: str) -> list[tuple[str, int]]:
    body = client.get(POLICIES, params={"listener_id": listener_id, "sort": "position"}).json()
    return [(p["name"], p["position"]) for p in body["l7policies"]]


def test_create_answers_pending_with_octavia_defaults_then_goes_active(client: TestClient) -> None:
    lb_id, listener_id = active_listener(client)
    policy = create_policy(client, listener_id)
    assert policy["provisioning_status"] == "PENDING_CREATE"
    assert policy["operating_status"] == "OFFLINE"
    assert policy["position"] == 1
    assert policy["rules"] == []
    assert (policy["name"], policy["description"]) == ("", "")
    assert policy["redirect_http_code"] is None
    assert policy["admin_state_up"] is True
    assert set(policy) >= {"project_id", "tags", "created_at", "updated_at", "redirect_prefix"}
    wait_lb_active(client, lb_id)
    shown = client.get(f"{POLICIES}/{policy['id']}").json()["l7policy"]
    assert shown["provisioning_status"] == "ACTIVE"


def test_url_and_prefix_redirects_default_to_302_and_keep_a_given_code(client: TestClient) -> None:
    _, listener_id = active_listener(client)
    url = create_policy(
        client, listener_id, action="REDIRECT_TO_URL", redirect_url="https://example.com/x"
    )
    assert (url["redirect_url"], url["redirect_http_code"]) == ("https://example.com/x", 302)
    prefix = create_policy(
        client,
        listener_id,
        action="REDIRECT_PREFIX",
        redirect_prefix="https://example.com",
        redirect_http_code=308,
    )
    assert (prefix["redirect_prefix"], prefix["redirect_http_code"]) == ("https://example.com", 308)


def test_positions_shift_on_insert_and_move_and_close_up_after_delete(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = client_factory(settings_factory(database_url))
    lb_id, listener_id = active_listener(client)
    ids = {n: create_policy(client, listener_id, name=n)["id"] for n in "abc"}
    ids["d"] = create_policy(client, listener_id, name="d", position=1)["id"]
    ids["e"] = create_policy(client, listener_id, name="e", position=99)["id"]
    assert positions(client, listener_id) == [("d", 1), ("a", 2), ("b", 3), ("c", 4), ("e", 5)]

    moved = client.put(f"{POLICIES}/{ids['c']}", json={"l7policy": {"position": 1}})
    assert moved.status_code == 200 and moved.json()["l7policy"]["position"] == 1
    assert positions(client, listener_id) == [("c", 1), ("d", 2), ("a", 3), ("b", 4), ("e", 5)]

    assert client.delete(f"{POLICIES}/{ids['a']}").status_code == 204
    wait_lb_active(client, lb_id)
    assert client.get(f"{POLICIES}/{ids['a']}").status_code == 404
    assert positions(client, listener_id) == [("c", 1), ("d", 2), ("b", 3), ("e", 4)]


def test_redirect_to_pool_needs_a_compatible_pool_of_the_same_load_balancer(
    client: TestClient,
) -> None:
    lb_id, listener_id = active_listener(client)
    other_lb = create_lb(client)
    wait_lb_active(client, other_lb)
    foreign = add_pool(client, other_lb)
    https_pool = add_pool(client, lb_id, protocol="HTTPS")
    good = add_pool(client, lb_id)

    def post(**fields: Any) -> Any:
        body = {"listener_id": listener_id, "action": "REDIRECT_TO_POOL", **fields}
        return client.post(POLICIES, json={"l7policy": body})

    missing = post()
    assert missing.status_code == 400
    assert missing.json()["faultstring"] == (
        "Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None"
    )
    assert post(redirect_pool_id=foreign).json()["faultstring"] == f"Pool {foreign} not found."
    assert post(redirect_pool_id=foreign).status_code == 404
    wrong = post(redirect_pool_id=https_pool)
    assert wrong.status_code == 400
    assert (
        "pool protocol 'HTTPS' is invalid while the listener protocol is 'HTTP'"
        in (wrong.json()["faultstring"])
    )
    ok = post(redirect_pool_id=good, redirect_http_code=301)
    assert ok.status_code == 201
    assert ok.json()["l7policy"]["redirect_pool_id"] == good
    assert ok.json()["l7policy"]["redirect_http_code"] is None


def test_bad_input_is_400_with_a_fault_never_500(client: TestClient) -> None:
    _, listener_id = active_listener(client)
    cases: list[dict[str, Any]] = [
        {"action": "REDIRECT_TO_URL", "redirect_url": "ftp://example.com"},
        {"action": "REDIRECT_TO_URL", "redirect_url": "http://example.com/\r\nX: 1"},
        {"action": "REDIRECT_TO_URL", "redirect_url": "not a url"},
        {
            "action": "REDIRECT_TO_URL",
            "redirect_url": "http://example.com",
            "redirect_http_code": 304,
        },
        {"action": "REDIRECT_PREFIX"},
        {"action": "REJECT", "position": 0},
        {"action": "REJECT", "position": 2147483648},
        {"action": "REJECT", "name": "bad\nname"},
        {"action": "REJECT", "tags": ["ok", "bad\x00"]},
        {"action": "DROP"},
        {"action": "REJECT", "unknown": 1},
        {"name": "no action"},
        {"action": "REDIRECT_TO_URL", "redirect_url": "http://a", "redirect_pool_id": "nope"},
    ]
    for fields in cases:
        response = client.post(POLICIES, json={"l7policy": {"listener_id": listener_id, **fields}})
        assert response.status_code == 400, (fields, response.text)
        assert response.json()["faultcode"] == "Client"
    missing = client.post(POLICIES, json={"l7policy": {"action": "REJECT"}})
    assert missing.status_code == 400
    unknown = "0b0b0b0b-0000-4000-8000-000000000000"
    gone = client.post(POLICIES, json={"l7policy": {"listener_id": unknown, "action": "REJECT"}})
    assert gone.status_code == 404
    assert gone.json()["faultstring"] == f"Listener {unknown} not found."


def test_only_http_listeners_take_policies(client: TestClient) -> None:
    lb_id, tcp = active_listener(client, protocol="TCP")
    refused = client.post(POLICIES, json={"l7policy": {"listener_id": tcp, "action": "REJECT"}})
    assert refused.status_code == 501
    assert refused.json()["faultstring"] == (
        "Provider 'noop' does not support a requested option: "
        "TCP protocol listeners do not support L7 policies"
    )
    prometheus = add_listener(client, lb_id, protocol="PROMETHEUS", port=9100)
    body = {"l7policy": {"listener_id": prometheus, "action": "REJECT"}}
    refused = client.post(POLICIES, json=body)
    assert refused.status_code == 400
    assert refused.json()["faultstring"] == (
        "Protocol PROMETHEUS listeners cannot have child objects."
    )
    terminated = add_listener(client, lb_id, protocol="TERMINATED_HTTPS", port=443)
    create_policy(client, terminated)


def test_update_switches_the_action_and_clears_the_other_targets(client: TestClient) -> None:
    lb_id, listener_id = active_listener(client)
    pool = add_pool(client, lb_id)
    policy = create_policy(
        client, listener_id, action="REDIRECT_TO_URL", redirect_url="http://example.com"
    )
    wait_lb_active(client, lb_id)
    url = f"{POLICIES}/{policy['id']}"
    to_pool = client.put(url, json={"l7policy": {"redirect_pool_id": pool}}).json()["l7policy"]
    assert to_pool["action"] == "REDIRECT_TO_POOL"
    assert (to_pool["redirect_url"], to_pool["redirect_http_code"]) == (None, None)
    assert to_pool["provisioning_status"] == "PENDING_UPDATE"
    rejected = client.put(url, json={"l7policy": {"action": "REJECT", "name": "r"}})
    assert rejected.json()["l7policy"]["redirect_pool_id"] is None
    assert rejected.json()["l7policy"]["action"] == "REJECT"
    assert rejected.json()["l7policy"]["name"] == "r"
    empty = client.put(url, json={"l7policy": {}})
    assert empty.status_code == 400
    assert empty.json()["faultstring"] == "Invalid L7 Policy arguments: Invalid update options"
    half = client.put(url, json={"l7policy": {"action": "REDIRECT_PREFIX"}})
    assert half.json()["faultstring"] == (
        "Invalid L7 Policy arguments: redirect_prefix must not be None"
    )


def test_rules_given_with_the_policy_are_created_with_it(client: TestClient) -> None:
    lb_id, listener_id = active_listener(client)
    rules = [
        {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"},
        {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Env", "value": "prod"},
    ]
    policy = create_policy(client, listener_id, rules=rules)
    assert len(policy["rules"]) == 2 and set(policy["rules"][0]) == {"id"}
    wait_lb_active(client, lb_id)
    listed = client.get(f"{POLICIES}/{policy['id']}/rules").json()["rules"]
    assert {r["value"] for r in listed} == {"/api", "prod"}
    assert {r["provisioning_status"] for r in listed} == {"ACTIVE"}
    bad = client.post(
        POLICIES,
        json={
            "l7policy": {
                "listener_id": listener_id,
                "action": "REJECT",
                "rules": [{"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"}],
            }
        },
    )
    assert bad.status_code == 400
    assert bad.json()["faultstring"] == (
        "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key"
    )


def test_create_while_lb_pending_is_coalesced_unless_strict(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    for strict in (False, True):
        client = client_factory(settings_factory(strict_pending_lock=strict), with_reconciler=False)
        lb_id = create_lb(client)
        converge(client)
        listener_id = add_listener(client, lb_id)
        converge(client)
        assert client.put(f"{LBS}/{lb_id}", json={"loadbalancer": {"name": "n"}}).status_code == 200
        body = {"l7policy": {"listener_id": listener_id, "action": "REJECT"}}
        response = client.post(POLICIES, json=body)
        if strict:
            assert response.status_code == 409
            assert response.json()["faultstring"] == (
                f"Load Balancer {lb_id} is immutable and cannot be updated."
            )
            continue
        assert response.status_code == 201
        lb = client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]
        assert lb["provisioning_status"] == "PENDING_UPDATE"
        converge(client)
        policy = client.get(f"{POLICIES}/{response.json()['l7policy']['id']}").json()
        assert policy["l7policy"]["provisioning_status"] == "ACTIVE"


def test_another_projects_policy_is_forbidden(client: TestClient) -> None:
    alice = {"X-Project-Id": "alice", "X-Roles": "member"}
    bob = {"X-Project-Id": "bob", "X-Roles": "member"}
    _, listener_id = active_listener(client, headers=alice)
    policy = create_policy(client, listener_id, headers=alice)
    assert policy["project_id"] == "alice"
    assert client.get(f"{POLICIES}/{policy['id']}", headers=alice).status_code == 200
    forbidden = client.get(f"{POLICIES}/{policy['id']}", headers=bob)
    assert forbidden.status_code == 403
    assert client.get(POLICIES, headers=bob).json()["l7policies"] == []
    body = {"l7policy": {"listener_id": listener_id, "action": "REJECT"}}
    assert client.post(POLICIES, json=body, headers=bob).status_code == 403
    assert client.delete(f"{POLICIES}/{policy['id']}", headers=bob).status_code == 403


def test_quota_limits_policies_per_project(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(default_quota_l7policy=1))
    _, listener_id = active_listener(client)
    create_policy(client, listener_id)
    over = client.post(
        POLICIES, json={"l7policy": {"listener_id": listener_id, "action": "REJECT"}}
    )
    assert over.status_code == 403
    assert over.json()["faultstring"] == "Quota has been met for resources: L7Policy"


def test_list_filters_fields_and_tags(client: TestClient) -> None:
    lb_id, listener_id = active_listener(client)
    other = add_listener(client, lb_id, port=8080)
    create_policy(client, listener_id, name="one", tags=["blue"])
    create_policy(client, other, name="two")
    body = client.get(POLICIES, params={"listener_id": other, "fields": "name,position"}).json()
    assert body["l7policies"] == [{"name": "two", "position": 1}]
    tagged = client.get(POLICIES, params={"tags": "blue"}).json()["l7policies"]
    assert [p["name"] for p in tagged] == ["one"]
    assert "l7policies_links" in body
    assert client.get(POLICIES, params={"bogus": "1"}).status_code == 400


def test_delete_marks_pending_and_a_second_delete_conflicts(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(), with_reconciler=False)
    lb_id = create_lb(client)
    converge(client)
    listener_id = add_listener(client, lb_id)
    policy = create_policy(client, listener_id)
    converge(client)
    assert client.delete(f"{POLICIES}/{policy['id']}").status_code == 204
    shown = client.get(f"{POLICIES}/{policy['id']}").json()["l7policy"]
    assert shown["provisioning_status"] == "PENDING_DELETE"
    again = client.delete(f"{POLICIES}/{policy['id']}")
    assert again.status_code == 409
    converge(client)
    wait_for(lambda: client.get(f"{POLICIES}/{policy['id']}").status_code == 404)
