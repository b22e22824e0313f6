"""Availability zone profiles and zones: shapes, name keys, validation, conflicts, policies,
and load balancer create against them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import LOCAL_SUBNET, create_lb

AZP = "/v2/lbaas/availabilityzoneprofiles"
AZ = "/v2/lbaas/availabilityzones"
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin"}
MEMBER = {"X-Project-Id": "project-a", "X-Roles": "member"}


def make_profile(client: TestClient, data: Any = None, provider: str = "noop") -> httpx.Response:
    raw = data if isinstance(data, str) else json.dumps(data or {"compute_zone": "nova"})
    body = {
        "availability_zone_profile": {
            "name": "azp",
            "provider_name": provider,
            "availability_zone_data": raw,
        }
    }
    return client.post(AZP, json=body, headers=ADMIN)


def profile_id(client: TestClient) -> str:
    response = make_profile(client)
    assert response.status_code == 201, response.text
    return str(response.json()["availability_zone_profile"]["id"])


def make_zone(
    client: TestClient, azp_id: str, name: str = "zone-1", **fields: Any
) -> httpx.Response:
    body = {"availability_zone": {"name": name, "availability_zone_profile_id": azp_id, **fields}}
    return client.post(AZ, json=body, headers=ADMIN)


def zone(client: TestClient, azp_id: str, name: str = "zone-1", **fields: Any) -> str:
    response = make_zone(client, azp_id, name, **fields)
    assert response.status_code == 201, response.text
    return name


def test_profile_create_show_list_update_delete(client: TestClient) -> None:
    created = make_profile(client)
    assert created.status_code == 201
    profile = created.json()["availability_zone_profile"]
    assert set(profile) == {"id", "name", "provider_name", "availability_zone_data"}
    assert json.loads(profile["availability_zone_data"]) == {"compute_zone": "nova"}
    path = f"{AZP}/{profile['id']}"
    assert client.get(path, headers=ADMIN).json() == {"availability_zone_profile": profile}
    listed = client.get(AZP, headers=ADMIN).json()
    assert listed == {
        "availability_zone_profiles": [profile],
        "availability_zone_profile_links": [],
    }
    data = {"availability_zone_profile": {"availability_zone_data": '{"compute_zone": "z2"}'}}
    updated = client.put(path, json=data, headers=ADMIN).json()["availability_zone_profile"]
    assert updated["availability_zone_data"] == '{"compute_zone": "z2"}'
    assert client.delete(path, headers=ADMIN).status_code == 204
    gone = client.get(path, headers=ADMIN)
    assert gone.status_code == 404
    assert gone.json()["faultstring"] == f"Availability Zone Profile {profile['id']} not found."


@pytest.mark.parametrize("raw", ["nope", "[]", "1"])
def test_profile_data_must_be_a_json_object(client: TestClient, raw: str) -> None:
    response = make_profile(client, raw)
    assert response.status_code == 400
    assert response.json()["faultstring"] == (
        f"{raw} is not a valid option for availability_zone_data"
    )


def test_profile_data_keys_and_values_are_the_providers_to_judge(client: TestClient) -> None:
    unknown = make_profile(client, {"volume_zone": "v"})
    assert unknown.status_code == 501
    assert unknown.json()["faultstring"] == (
        "Provider 'noop' does not support a requested option: Additional properties are not "
        "allowed ('volume_zone' was unexpected)"
    )
    assert make_profile(client, {"compute_zone": ""}).status_code == 501
    assert make_profile(client, {"compute_zone": 3}).status_code == 501
    assert make_profile(client, {}, provider="octavia").status_code == 400


def test_profiles_are_admin_only(client: TestClient) -> None:
    path = f"{AZP}/{profile_id(client)}"
    assert client.get(AZP, headers=MEMBER).status_code == 403
    assert client.get(path, headers=MEMBER).status_code == 403
    body = {"availability_zone_profile": {}}
    assert client.put(path, json=body, headers=MEMBER).status_code == 403
    assert client.delete(path, headers=MEMBER).status_code == 403


def test_zone_is_keyed_by_name(client: TestClient) -> None:
    azp_id = profile_id(client)
    created = make_zone(client, azp_id, description="first floor")
    assert created.status_code == 201
    shown = client.get(f"{AZ}/zone-1", headers=MEMBER).json()["availability_zone"]
    assert shown == {
        "name": "zone-1",
        "description": "first floor",
        "enabled": True,
        "availability_zone_profile_id": azp_id,
    }
    missing = client.get(f"{AZ}/zone-9", headers=MEMBER)
    assert missing.status_code == 404
    assert missing.json()["faultstring"] == "Availability Zone zone-9 not found."


def test_zone_names_are_unique(client: TestClient) -> None:
    azp_id = profile_id(client)
    zone(client, azp_id)
    again = make_zone(client, azp_id)
    assert again.status_code == 409
    assert again.json()["faultstring"] == "A availability zone of zone-1 already exists."


def test_zone_needs_an_existing_profile(client: TestClient) -> None:
    response = make_zone(client, "2f9d1c36-4b61-4c43-8a4e-8f7d1d1b2c3e")
    assert response.status_code == 400
    assert response.json()["faultstring"] == (
        "Validation failure: Invalid availability_zone_profile_id."
    )


def test_zone_update_changes_description_and_enabled_only(client: TestClient) -> None:
    zone(client, profile_id(client))
    path = f"{AZ}/zone-1"
    changes = {"description": "moved", "enabled": False}
    body = client.put(path, json={"availability_zone": changes}, headers=ADMIN)
    assert body.status_code == 200
    assert {k: body.json()["availability_zone"][k] for k in changes} == changes
    renamed = client.put(path, json={"availability_zone": {"name": "zone-2"}}, headers=ADMIN)
    assert renamed.status_code == 400
    null = client.put(path, json={"availability_zone": {"enabled": None}}, headers=ADMIN)
    assert null.status_code == 400


def test_members_read_zones_but_only_admins_write(client: TestClient) -> None:
    azp_id = profile_id(client)
    zone(client, azp_id)
    listed = client.get(AZ, headers=MEMBER).json()
    assert [z["name"] for z in listed["availability_zones"]] == ["zone-1"]
    assert listed["availability_zones_links"] == []
    body = {"availability_zone": {"name": "z", "availability_zone_profile_id": azp_id}}
    assert client.post(AZ, json=body, headers=MEMBER).status_code == 403
    put = {"availability_zone": {"enabled": False}}
    assert client.put(f"{AZ}/zone-1", json=put, headers=MEMBER).status_code == 403
    assert client.delete(f"{AZ}/zone-1", headers=MEMBER).status_code == 403


def test_zone_list_pages_by_name(client: TestClient) -> None:
    azp_id = profile_id(client)
    for name in ("c", "a", "b"):
        zone(client, azp_id, name)
    first = client.get(AZ, params={"limit": 2}, headers=ADMIN).json()
    assert [z["name"] for z in first["availability_zones"]] == ["a", "b"]
    assert [link["rel"] for link in first["availability_zones_links"]] == ["next"]
    assert "marker=b" in first["availability_zones_links"][0]["href"]
    rest = client.get(AZ, params={"limit": 2, "marker": "b"}, headers=ADMIN).json()
    assert [z["name"] for z in rest["availability_zones"]] == ["c"]
    unknown = client.get(AZ, params={"marker": "nope"}, headers=ADMIN)
    assert unknown.status_code == 400


def test_zone_and_profile_in_use_cannot_be_deleted(client: TestClient) -> None:
    azp_id = profile_id(client)
    zone(client, azp_id)
    in_use = client.delete(f"{AZP}/{azp_id}", headers=ADMIN)
    assert in_use.status_code == 409
    assert in_use.json()["faultstring"] == (
        f"Availability Zone Profile {azp_id} is in use and cannot be modified."
    )
    create_lb(client, headers=MEMBER, availability_zone="zone-1")
    zone_in_use = client.delete(f"{AZ}/zone-1", headers=ADMIN)
    assert zone_in_use.status_code == 409
    assert zone_in_use.json()["faultstring"] == (
        "Availability Zone zone-1 is in use and cannot be modified."
    )


def test_unused_zone_deletes(client: TestClient) -> None:
    zone(client, profile_id(client))
    assert client.delete(f"{AZ}/zone-1", headers=ADMIN).status_code == 204
    assert client.get(f"{AZ}/zone-1", headers=ADMIN).status_code == 404


def _create_lb(client: TestClient, **fields: Any) -> httpx.Response:
    body = {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, **fields}}
    return client.post("/v2/lbaas/loadbalancers", json=body, headers=MEMBER)


def test_load_balancer_in_an_unknown_zone_is_400(client: TestClient) -> None:
    response = _create_lb(client, availability_zone="atlantis")
    assert response.status_code == 400
    assert response.json()["faultstring"] == "Validation failure: Invalid availability zone."


def test_load_balancer_in_a_disabled_zone_is_400(client: TestClient) -> None:
    zone(client, profile_id(client), enabled=False)
    response = _create_lb(client, availability_zone="zone-1")
    assert response.status_code == 400
    assert response.json()["faultstring"] == (
        "The selected availability_zone is not allowed in this deployment: zone-1"
    )


def test_load_balancer_in_an_enabled_zone_records_it(client: TestClient) -> None:
    zone(client, profile_id(client))
    lb_id = create_lb(client, headers=MEMBER, availability_zone="zone-1")
    shown = client.get(f"/v2/lbaas/loadbalancers/{lb_id}", headers=MEMBER).json()
    assert shown["loadbalancer"]["availability_zone"] == "zone-1"
