"""Members through the API: Octavia's fields, defaults, codes, batch update and pending rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from portico.db.models import Flavor, FlavorProfile, Listener, Pool
from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, converge, create_lb, wait_for, wait_lb_active
from tests.integration.member_support import add_listener, db_of, make_pool, row

FLAVOR = "6a1f3c2e-0b5d-4f7a-9c8e-1d2b3a4c5e6f"
PROFILE = "7b2e4d3f-1c6e-4a8b-8d9f-2e3c4b5d6f70"


def members_url(pool_id: str) -> str:
    return f"/v2/lbaas/pools/{pool_id}/members"


def ready_pool(client: TestClient, protocol: str = "HTTP") -> tuple[str, str]:
    lb_id = create_lb(client)
    wait_lb_active(client, lb_id)
    pool_id = make_pool(client, lb_id, protocol)
    wait_lb_active(client, lb_id)
    return lb_id, pool_id


def add(client: TestClient, pool_id: str, **fields: Any) -> Any:
    body = {"address": "192.0.2.10", "protocol_port": 80, **fields}
    return client.post(members_url(pool_id), json={"member": body})


def member_active(client: TestClient, pool_id: str, member_id: str) -> bool:
    body = client.get(f"{members_url(pool_id)}/{member_id}").json()
    return bool(body["member"]["provisioning_status"] == "ACTIVE")


def test_create_member_answers_octavia_fields_then_goes_active(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = client_factory(settings_factory(database_url))
    lb_id, pool_id = ready_pool(client)
    response = add(client, pool_id, name="web-1", tags=["t"], monitor_port=8080)
    assert response.status_code == 201, response.text
    member = response.json()["member"]
    assert member["provisioning_status"] == "PENDING_CREATE"
    assert member["operating_status"] == "NO_MONITOR"
    assert member["weight"] == 1 and member["backup"] is False and member["admin_state_up"]
    assert member["vnic_type"] == "normal"
    assert member["monitor_port"] == 8080 and member["monitor_address"] is None
    assert member["project_id"] == member["tenant_id"] == "default-project"
    assert member["tags"] == ["t"]
    assert set(member) >= {"id", "subnet_id", "created_at", "updated_at", "address"}
    wait_for(lambda: member_active(client, pool_id, member["id"]))
    wait_lb_active(client, lb_id)
    assert client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"][
        "provisioning_status"
    ] == ("ACTIVE")


def test_member_of_a_monitored_pool_starts_offline(client: TestClient) -> None:
    lb_id, pool_id = ready_pool(client)
    hm = {"pool_id": pool_id, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}
    assert client.post("/v2/lbaas/healthmonitors", json={"healthmonitor": hm}).status_code == 201
    wait_lb_active(client, lb_id)
    member = add(client, pool_id).json()["member"]
    assert member["operating_status"] == "OFFLINE"


def test_duplicate_member_address_port_is_409(client: TestClient) -> None:
    _, pool_id = ready_pool(client)
    assert add(client, pool_id).status_code == 201
    response = add(client, pool_id)
    assert response.status_code == 409
    assert response.json()["faultstring"] == (
        "Another member on this pool is already using ip 192.0.2.10 on protocol_port 80"
    )
    assert add(client, pool_id, protocol_port=81).status_code == 201


def test_invalid_member_input_is_400_never_500(client: TestClient) -> None:
    _, pool_id = ready_pool(client)
    cases: list[dict[str, Any]] = [
        {"address": "169.254.169.254"},
        {"address": "not-an-ip"},
        {"weight": 257},
        {"weight": -1},
        {"protocol_port": 0},
        {"monitor_port": 70000},
        {"subnet_id": "11111111-2222-3333-4444-555555555555"},
        {"subnet_id": "nope"},
        {"request_sriov": True},
        {"name": "a\nb"},
        {"unknown": 1},
        {"tags": ["x" * 256]},
    ]
    for fields in cases:
        response = add(client, pool_id, **fields)
        assert response.status_code == 400, (fields, response.text)
        assert response.json()["faultcode"] == "Client"
    assert add(client, pool_id, address="169.254.169.254").json()["faultstring"] == (
        "169.254.169.254 is not a valid option for member address"
    )
    assert add(client, pool_id, subnet_id=LOCAL_SUBNET).status_code == 201


def test_member_on_unknown_pool_is_404(client: TestClient) -> None:
    missing = "11111111-2222-3333-4444-555555555555"
    response = add(client, missing)
    assert response.status_code == 404
    assert response.json()["faultstring"] == f"Pool {missing} not found."
    assert client.get(members_url(missing)).status_code == 404


def test_update_member_and_null_resets_weight_and_backup(client: TestClient) -> None:
    _, pool_id = ready_pool(client)
    member_id = add(client, pool_id, weight=10, backup=True).json()["member"]["id"]
    url = f"{members_url(pool_id)}/{member_id}"
    wait_for(lambda: member_active(client, pool_id, member_id))
    response = client.put(url, json={"member": {"name": "renamed", "weight": 0, "tags": ["x"]}})
    assert response.status_code == 200, response.text
    updated = response.json()["member"]
    assert updated["provisioning_status"] == "PENDING_UPDATE"
    assert (updated["name"], updated["weight"], updated["tags"]) == ("renamed", 0, ["x"])
    reset = client.put(url, json={"member": {"weight": None, "backup": None}}).json()["member"]
    assert (reset["weight"], reset["backup"]) == (1, False)
    assert client.put(url, json={"member": {"address": "192.0.2.99"}}).status_code == 400
    wait_for(lambda: member_active(client, pool_id, member_id))


def test_member_change_marks_pool_and_its_listeners_pending_update(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(), with_reconciler=False)
    lb_id = create_lb(client)
    converge(client)
    pool_id = make_pool(client, lb_id)
    listener_id = add_listener(client, lb_id, pool_id)
    converge(client)
    assert add(client, pool_id).status_code == 201
    assert row(client, Pool, pool_id).provisioning_status == "PENDING_UPDATE"
    assert row(client, Listener, listener_id).provisioning_status == "PENDING_UPDATE"
    converge(client)
    assert row(client, Pool, pool_id).provisioning_status == "ACTIVE"
    assert row(client, Listener, listener_id).provisioning_status == "ACTIVE"


def test_delete_member_marks_it_then_it_is_gone(client: TestClient) -> None:
    lb_id, pool_id = ready_pool(client)
    member_id = add(client, pool_id).json()["member"]["id"]
    wait_lb_active(client, lb_id)
    url = f"{members_url(pool_id)}/{member_id}"
    assert client.delete(url).status_code == 204
    wait_for(lambda: client.get(url).status_code == 404)
    assert client.get(url).json()["faultstring"] == f"Member {member_id} not found."


def test_member_is_only_found_under_its_own_pool(client: TestClient) -> None:
    lb_id, pool_a = ready_pool(client)
    pool_b = make_pool(client, lb_id)
    wait_lb_active(client, lb_id)
    member_id = add(client, pool_a).json()["member"]["id"]
    assert client.get(f"{members_url(pool_b)}/{member_id}").status_code == 404
    assert client.put(f"{members_url(pool_b)}/{member_id}", json={"member": {}}).status_code == 404
    assert client.delete(f"{members_url(pool_b)}/{member_id}").status_code == 404


def test_list_members_filters_sorts_and_pages(client: TestClient) -> None:
    lb_id, pool_id = ready_pool(client)
    for port in (82, 80, 81):
        assert add(client, pool_id, protocol_port=port, weight=port - 79).status_code == 201
    wait_lb_active(client, lb_id)
    url = members_url(pool_id)
    listed = client.get(f"{url}?sort=protocol_port:desc").json()["members"]
    assert [m["protocol_port"] for m in listed] == [82, 81, 80]
    assert [m["weight"] for m in client.get(f"{url}?protocol_port=81").json()["members"]] == [2]
    page = client.get(f"{url}?limit=2&sort=protocol_port").json()
    assert [m["protocol_port"] for m in page["members"]] == [80, 81]
    assert page["members_links"][0]["rel"] == "next"
    only = client.get(f"{url}?fields=id&fields=address").json()["members"][0]
    assert set(only) == {"id", "address"}
    assert client.get(f"{url}?bogus=1").status_code == 400


def test_member_of_another_project_is_403(client: TestClient) -> None:
    _, pool_id = ready_pool(client)
    member_id = add(client, pool_id).json()["member"]["id"]
    other = {"X-Project-Id": "other", "X-Roles": "member"}
    url = f"{members_url(pool_id)}/{member_id}"
    assert client.get(url, headers=other).status_code == 403
    assert client.get(members_url(pool_id), headers=other).status_code == 403
    assert client.put(url, json={"member": {"weight": 3}}, headers=other).status_code == 403
    body = {"address": "192.0.2.77", "protocol_port": 80}
    assert (
        client.post(members_url(pool_id), json={"member": body}, headers=other).status_code == 403
    )


def test_member_quota_is_enforced(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(default_quota_member=1))
    _, pool_id = ready_pool(client)
    assert add(client, pool_id).status_code == 201
    response = add(client, pool_id, protocol_port=81)
    assert response.status_code == 403
    assert response.json()["faultstring"] == "Quota has been met for resources: Member"


def test_sriov_member_needs_a_flavor_that_allows_it(client: TestClient) -> None:
    with db_of(client).writing() as session:
        data = json.dumps({"allow_member_sriov": True})
        session.add(FlavorProfile(id=PROFILE, name="p", provider_name="noop", flavor_data=data))
        session.flush()
        session.add(Flavor(id=FLAVOR, name="sriov", enabled=True, flavor_profile_id=PROFILE))
    lb_id = create_lb(client, flavor_id=FLAVOR)
    wait_lb_active(client, lb_id)
    pool_id = make_pool(client, lb_id)
    member = add(client, pool_id, request_sriov=True).json()["member"]
    assert member["vnic_type"] == "direct"
    _, plain_pool = ready_pool(client)
    refused = add(client, plain_pool, request_sriov=True)
    assert refused.status_code == 400
    assert refused.json()["faultstring"] == (
        "The load balancer flavor does not allow SR-IOV member ports."
    )
