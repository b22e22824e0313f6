"""L7 rules through the API: Octavia's validation per rule type, whole-rule updates, limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.db.models import Listener
from portico.settings import Settings
from tests.conftest import converge, create_lb, wait_lb_active
from tests.support.l7 import POLICIES, active_listener, add_listener, create_policy


def rules_url(policy_id: str) -> str:
    return f"{POLICIES}/{policy_id}/rules"


def new_rule(client: TestClient, policy_id: str, **fields: Any) -> dict[str, Any]:
    body = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api", **fields}
    response = client.post(rules_url(policy_id), json={"rule": body})
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()["rule"]
    return rule


@pytest.fixture
def policy(client: TestClient) -> dict[str, Any]:
    lb_id, listener_id = active_listener(client)
    created = create_policy(client, listener_id)
    wait_lb_active(client, lb_id)
    return created


def test_create_answers_pending_and_the_policy_lists_the_rule(
    client: TestClient, policy: dict[str, Any]
) -> None:
    rule = new_rule(client, policy["id"], invert=True, tags=["t"])
    assert rule["provisioning_status"] == "PENDING_CREATE"
    assert rule["operating_status"] == "OFFLINE"
    assert (rule["type"], rule["compare_type"], rule["value"]) == ("PATH", "STARTS_WITH", "/api")
    assert (rule["key"], rule["invert"], rule["admin_state_up"]) == (None, True, True)
    assert rule["tags"] == ["t"]
    shown = client.get(f"{POLICIES}/{policy['id']}").json()["l7policy"]
    assert shown["rules"] == [{"id": rule["id"]}]
    wait_lb_active(client, policy_lb(client, policy))
    got = client.get(f"{rules_url(policy['id'])}/{rule['id']}").json()["rule"]
    assert got["provisioning_status"] == "ACTIVE"


def policy_lb(client: TestClient, policy: dict[str, Any]) -> str:
    with client.app.state.portico.db.reading() as session:  # type: ignore[attr-defined]
        return str(session.get(Listener, policy["listener_id"]).load_balancer_id)


@pytest.mark.parametrize(
    ("fields", "fault"),
    [
        (
            {"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"},
            "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key",
        ),
        (
            {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "a b", "value": "x"},
            "Error parsing L7Rule: Invalid characters in key",
        ),
        (
            {"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "c", "value": "a;b"},
            "Error parsing L7Rule: Invalid characters in cookie value",
        ),
        (
            {"type": "FILE_TYPE", "compare_type": "CONTAINS", "value": "jpg"},
            "Error parsing L7Rule: Invalid L7 Rule: invalid comparison type for rule type",
        ),
        (
            {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "False"},
            "Error parsing L7Rule: Invalid L7 Rule: L7rule value False is not a boolean True "
            "string.",
        ),
        (
            {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "x"},
            "Error parsing L7Rule: Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT needs a int "
            "value, which is >= 0",
        ),
        (
            {"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "key": "9x", "value": "v"},
            "Error parsing L7Rule: Invalid L7 Rule: Invalid L7rule distinguished name field.",
        ),
    ],
)
def test_inconsistent_rules_are_400_with_octavias_words(
    client: TestClient, policy: dict[str, Any], fields: dict[str, str], fault: str
) -> None:
    response = client.post(rules_url(policy["id"]), json={"rule": fields})
    assert response.status_code == 400
    assert response.json()["faultstring"] == fault


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "PATH", "compare_type": "REGEX", "value": "(unclosed"},
        {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a\r\nX-Injected: 1"},
        {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "a\x00b"},
        {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X\n", "value": "v"},
        {"type": "PATH", "compare_type": "EQUAL_TO", "value": ""},
        {"type": "PATH", "compare_type": "EQUAL_TO", "value": "x" * 256},
        {"type": "PATH", "compare_type": "LIKE", "value": "/a"},
        {"type": "URL", "compare_type": "EQUAL_TO", "value": "/a"},
        {"type": "PATH", "value": "/a"},
        {"type": "PATH", "compare_type": "EQUAL_TO", "value": 5},
    ],
)
def test_bad_rules_are_400_never_500(
    client: TestClient, policy: dict[str, Any], fields: dict[str, Any]
) -> None:
    response = client.post(rules_url(policy["id"]), json={"rule": fields})
    assert response.status_code == 400, response.text
    assert response.json()["faultcode"] == "Client"


def test_valid_rules_of_every_type_are_accepted(client: TestClient, policy: dict[str, Any]) -> None:
    for fields in (
        {"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".example.com"},
        {"type": "FILE_TYPE", "compare_type": "REGEX", "value": "jpe?g"},
        {"type": "HEADER", "compare_type": "CONTAINS", "key": "User-Agent", "value": "curl"},
        {"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "session", "value": "abc"},
        {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "True"},
        {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"},
        {"type": "SSL_DN_FIELD", "compare_type": "STARTS_WITH", "key": "CN", "value": "www"},
    ):
        new_rule(client, policy["id"], **fields)
    listed = client.get(rules_url(policy["id"])).json()
    assert len(listed["rules"]) == 7
    assert listed["rules_links"] == []


def test_update_is_validated_on_the_whole_resulting_rule(
    client: TestClient, policy: dict[str, Any]
) -> None:
    rule = new_rule(client, policy["id"])
    url = f"{rules_url(policy['id'])}/{rule['id']}"
    keyless = client.put(url, json={"rule": {"type": "HEADER"}})
    assert keyless.status_code == 400
    assert keyless.json()["faultstring"].endswith("L7 rule type requires a key")
    header = client.put(url, json={"rule": {"type": "HEADER", "key": "X-A", "invert": None}})
    assert header.status_code == 200
    body = header.json()["rule"]
    assert (body["type"], body["key"], body["value"], body["invert"]) == (
        "HEADER",
        "X-A",
        "/api",
        False,
    )
    regex = client.put(url, json={"rule": {"compare_type": "REGEX", "value": "^/v[0-9]+"}})
    assert regex.json()["rule"]["compare_type"] == "REGEX"


def test_a_rule_is_only_found_under_its_own_policy(client: TestClient) -> None:
    _, listener_id = active_listener(client)
    first = create_policy(client, listener_id)
    second = create_policy(client, listener_id)
    rule = new_rule(client, first["id"])
    wrong = client.get(f"{rules_url(second['id'])}/{rule['id']}")
    assert wrong.status_code == 404
    assert wrong.json()["faultstring"] == f"L7Rule {rule['id']} not found."
    unknown = "0b0b0b0b-0000-4000-8000-000000000000"
    missing = client.get(rules_url(unknown))
    assert missing.status_code == 404
    assert missing.json()["faultstring"] == f"L7Policy {unknown} not found."
    assert client.post(rules_url(unknown), json={"rule": {}}).status_code in (400, 404)


def test_delete_marks_pending_then_the_rule_is_gone(
    client: TestClient, policy: dict[str, Any]
) -> None:
    rule = new_rule(client, policy["id"])
    wait_lb_active(client, policy_lb(client, policy))
    url = f"{rules_url(policy['id'])}/{rule['id']}"
    assert client.delete(url).status_code == 204
    wait_lb_active(client, policy_lb(client, policy))
    assert client.get(url).status_code == 404
    assert client.get(f"{POLICIES}/{policy['id']}").json()["l7policy"]["rules"] == []


def test_fifty_rules_per_policy_at_most(client: TestClient) -> None:
    _, listener_id = active_listener(client)
    rules = [{"type": "PATH", "compare_type": "EQUAL_TO", "value": f"/{i}"} for i in range(50)]
    full = create_policy(client, listener_id, rules=rules)
    over = client.post(
        rules_url(full["id"]),
        json={"rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x"}},
    )
    assert over.status_code == 409
    assert over.json()["faultstring"] == f"Too many rules on L7 policy {full['id']}"
    too_many = client.post(
        POLICIES,
        json={
            "l7policy": {
                "listener_id": listener_id,
                "action": "REJECT",
                "rules": [*rules, rules[0]],
            }
        },
    )
    assert too_many.status_code == 409


def test_quota_limits_rules_per_project(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(default_quota_l7rule=2))
    _, listener_id = active_listener(client)
    rule = {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a"}
    over = client.post(
        POLICIES,
        json={"l7policy": {"listener_id": listener_id, "action": "REJECT", "rules": [rule] * 3}},
    )
    assert over.status_code == 403
    assert over.json()["faultstring"] == "Quota has been met for resources: L7Rule"
    policy = create_policy(client, listener_id, rules=[rule, rule])
    third = client.post(rules_url(policy["id"]), json={"rule": rule})
    assert third.status_code == 403


def test_another_projects_rules_are_forbidden(client: TestClient) -> None:
    alice = {"X-Project-Id": "alice", "X-Roles": "member"}
    bob = {"X-Project-Id": "bob", "X-Roles": "member"}
    _, listener_id = active_listener(client, headers=alice)
    policy = create_policy(client, listener_id, headers=alice)
    rule = {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a"}
    assert client.get(rules_url(policy["id"]), headers=bob).status_code == 403
    assert client.post(rules_url(policy["id"]), json={"rule": rule}, headers=bob).status_code == 403
    assert (
        client.post(rules_url(policy["id"]), json={"rule": rule}, headers=alice).status_code == 201
    )


def test_rule_changes_on_a_pending_policy_are_coalesced_unless_strict(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    for strict in (False, True):
        client = client_factory(settings_factory(strict_pending_lock=strict), with_reconciler=False)
        lb_id = create_lb(client)
        converge(client)
        listener_id = add_listener(client, lb_id)
        converge(client)
        policy = create_policy(client, listener_id)
        rule = {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a"}
        response = client.post(rules_url(policy["id"]), json={"rule": rule})
        if strict:
            assert response.status_code == 409
            continue
        assert response.status_code == 201
        converge(client)
        listed = client.get(rules_url(policy["id"])).json()["rules"]
        assert [r["provisioning_status"] for r in listed] == ["ACTIVE"]
