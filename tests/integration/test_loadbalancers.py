"""Load balancers through the API: Octavia's fields, codes, errors, lists and transitions."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, converge, create_lb, wait_for, wait_lb_active

LBS = "/v2/lbaas/loadbalancers"


def test_version_discovery_lists_v2_versions_with_current_last(client: TestClient) -> None:
    versions = client.get("/").json()["versions"]
    assert versions[0]["id"] == "v2.0"
    assert versions[-1] == {
        "id": "v2.30",
        "status": "CURRENT",
        "updated": "2025-02-26T00:00:00Z",
        "links": [{"href": "http://testserver/v2", "rel": "self"}],
    }
    assert all(v["status"] == "SUPPORTED" for v in versions[:-1])


def test_create_answers_pending_then_converges_to_active(client: TestClient) -> None:
    response = client.post(
        LBS,
        json={"loadbalancer": {"name": "web", "vip_subnet_id": LOCAL_SUBNET, "tags": ["a"]}},
    )
    assert response.status_code == 201
    assert response.headers["x-openstack-request-id"].startswith("req-")
    lb = response.json()["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["operating_status"] == "OFFLINE"
    assert lb["provider"] == "noop"
    assert lb["project_id"] == lb["tenant_id"] == "default-project"
    assert lb["vip_subnet_id"] == LOCAL_SUBNET
    assert lb["vip_address"].startswith("127.")
    assert lb["listeners"] == [] and lb["pools"] == [] and lb["tags"] == ["a"]
    wait_lb_active(client, lb["id"])
    shown = client.get(f"/v2.0/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert shown["operating_status"] == "OFFLINE"
    assert shown["name"] == "web"


def test_create_without_any_vip_field_is_400_with_octavia_fault(client: TestClient) -> None:
    response = client.post(LBS, json={"loadbalancer": {"name": "x"}})
    assert response.status_code == 400
    body = response.json()
    assert body["faultcode"] == "Client"
    assert "VIP must contain one of" in body["faultstring"]
    assert body["debuginfo"] is None


def test_vip_address_outside_the_subnet_is_400(client: TestClient) -> None:
    body = {"vip_subnet_id": LOCAL_SUBNET, "vip_address": "10.1.2.3"}
    response = client.post(LBS, json={"loadbalancer": body})
    assert response.status_code == 400


def test_unknown_subnet_is_400(client: TestClient) -> None:
    body = {"vip_subnet_id": "11111111-2222-4333-8444-555555555555"}
    response = client.post(LBS, json={"loadbalancer": body})
    assert response.status_code == 400
    assert "Subnet 11111111-2222-4333-8444-555555555555 not found" in response.text


def test_unknown_attribute_and_bad_types_are_400(client: TestClient) -> None:
    unknown = client.post(LBS, json={"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, "x": 1}})
    assert unknown.status_code == 400
    assert "x" in unknown.json()["faultstring"]
    bad_uuid = client.post(LBS, json={"loadbalancer": {"vip_subnet_id": "nope"}})
    assert bad_uuid.status_code == 400
    control = client.post(
        LBS, json={"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, "name": "a\nb"}}
    )
    assert control.status_code == 400


def test_update_delete_and_gone(client: TestClient) -> None:
    lb_id = create_lb(client, name="one")
    wait_lb_active(client, lb_id)
    updated = client.put(f"{LBS}/{lb_id}", json={"loadbalancer": {"name": "two"}})
    assert updated.status_code == 200
    assert updated.json()["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"
    wait_lb_active(client, lb_id)
    assert client.delete(f"{LBS}/{lb_id}").status_code == 204
    wait_for(lambda: client.get(f"{LBS}/{lb_id}").status_code == 404)
    missing = client.get(f"{LBS}/{lb_id}").json()
    assert missing["faultstring"] == f"Load Balancer {lb_id} not found."


def test_pagination_links_walk_forward_and_back(client: TestClient) -> None:
    ids = [create_lb(client, name=f"lb{i}") for i in range(5)]
    first = client.get(LBS, params={"limit": 2}).json()
    assert [lb["id"] for lb in first["loadbalancers"]] == ids[:2]
    (nxt,) = first["loadbalancers_links"]
    assert nxt["rel"] == "next"
    second = client.get(nxt["href"]).json()
    assert [lb["id"] for lb in second["loadbalancers"]] == ids[2:4]
    rels = {link["rel"]: link["href"] for link in second["loadbalancers_links"]}
    assert set(rels) == {"next", "previous"}
    back = client.get(rels["previous"]).json()
    assert [lb["id"] for lb in back["loadbalancers"]] == ids[:2]
    last = client.get(rels["next"]).json()
    assert [lb["id"] for lb in last["loadbalancers"]] == ids[4:]
    assert [link["rel"] for link in last["loadbalancers_links"]] == ["previous"]


def test_sort_filter_and_fields(client: TestClient) -> None:
    for name in ("b", "c", "a"):
        create_lb(client, name=name)
    names = [
        lb["name"] for lb in client.get(LBS, params={"sort": "name:desc"}).json()["loadbalancers"]
    ]
    assert names == ["c", "b", "a"]
    by_key = client.get(LBS, params={"sort_key": "name", "sort_dir": "asc"}).json()
    assert [lb["name"] for lb in by_key["loadbalancers"]] == ["a", "b", "c"]
    only = client.get(LBS, params={"name": "b", "fields": "id,name"}).json()["loadbalancers"]
    assert len(only) == 1 and set(only[0]) == {"id", "name"}
    assert client.get(LBS, params={"sort": "name:sideways"}).status_code == 400
    assert client.get(LBS, params={"bogus": "1"}).status_code == 400


def test_tag_filters(client: TestClient) -> None:
    both = create_lb(client, tags=["red", "blue"])
    red = create_lb(client, tags=["red"])
    none = create_lb(client)

    def ids(**params: str) -> set[str]:
        return {lb["id"] for lb in client.get(LBS, params=params).json()["loadbalancers"]}

    assert ids(tags="red,blue") == {both}
    assert ids(**{"tags-any": "blue,red"}) == {both, red}
    assert ids(**{"not-tags": "red,blue"}) == {red, none}
    assert ids(**{"not-tags-any": "blue"}) == {red, none}


def test_stats_are_zero_before_any_traffic(client: TestClient) -> None:
    lb_id = create_lb(client)
    stats = client.get(f"{LBS}/{lb_id}/stats").json()["stats"]
    assert stats == {
        "bytes_in": 0,
        "bytes_out": 0,
        "active_connections": 0,
        "total_connections": 0,
        "request_errors": 0,
    }


def test_failover_is_admin_only_and_accepted(client: TestClient) -> None:
    lb_id = create_lb(client)
    wait_lb_active(client, lb_id)
    member = {"X-Roles": "member"}
    assert client.put(f"{LBS}/{lb_id}/failover", headers=member).status_code == 403
    assert client.put(f"{LBS}/{lb_id}/failover").status_code == 202
    wait_lb_active(client, lb_id)


def test_pending_delete_refuses_changes_in_both_modes(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    for strict in (False, True):
        client = client_factory(settings_factory(strict_pending_lock=strict), with_reconciler=False)
        lb_id = create_lb(client)
        if strict:
            # strict mode only deletes ACTIVE/ERROR load balancers: converge first.
            converge(client)
        assert client.delete(f"{LBS}/{lb_id}").status_code == 204
        update = client.put(f"{LBS}/{lb_id}", json={"loadbalancer": {"name": "x"}})
        assert update.status_code == 409
        assert "immutable" in update.json()["faultstring"]
        assert client.delete(f"{LBS}/{lb_id}").status_code == 409


def test_update_while_pending_is_coalesced_unless_strict(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    relaxed = client_factory(settings_factory(), with_reconciler=False)
    lb_id = create_lb(relaxed)
    assert relaxed.put(f"{LBS}/{lb_id}", json={"loadbalancer": {"name": "n"}}).status_code == 200
    again = relaxed.put(f"{LBS}/{lb_id}", json={"loadbalancer": {"description": "d"}})
    assert again.status_code == 200
    assert again.json()["loadbalancer"]["provisioning_status"] == "PENDING_CREATE"

    strict = client_factory(settings_factory(strict_pending_lock=True), with_reconciler=False)
    lb2 = create_lb(strict)
    refused = strict.put(f"{LBS}/{lb2}", json={"loadbalancer": {"name": "n"}})
    assert refused.status_code == 409
    assert (
        refused.json()["faultstring"] == f"Load Balancer {lb2} is immutable and cannot be updated."
    )


def test_unset_name_and_description_read_as_empty_strings(client: TestClient) -> None:
    # Octavia renders a missing name or description as "", never null.
    lb_id = create_lb(client)
    lb = client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]
    assert (lb["name"], lb["description"]) == ("", "")
