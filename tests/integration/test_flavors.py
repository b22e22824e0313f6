"""Flavor profiles and flavors: Octavia's shapes, metadata validation, conflicts, policies, and
what a load balancer create makes of a flavor."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from portico.db.models import LoadBalancer
from tests.conftest import LOCAL_SUBNET, create_lb

FP = "/v2/lbaas/flavorprofiles"
F = "/v2/lbaas/flavors"
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin"}
MEMBER = {"X-Project-Id": "project-a", "X-Roles": "member"}


def make_profile(
    client: TestClient, data: Any = None, *, provider: str = "noop", name: str = "fp"
) -> httpx.Response:
    raw = data if isinstance(data, str) else json.dumps(data or {})
    body = {"flavorprofile": {"name": name, "provider_name": provider, "flavor_data": raw}}
    return client.post(FP, json=body, headers=ADMIN)


def profile_id(client: TestClient, data: Any = None) -> str:
    response = make_profile(client, data)
    assert response.status_code == 201, response.text
    return str(response.json()["flavorprofile"]["id"])


def make_flavor(client: TestClient, fp_id: str, **fields: Any) -> httpx.Response:
    body = {"flavor": {"name": "gold", "flavor_profile_id": fp_id, **fields}}
    return client.post(F, json=body, headers=ADMIN)


def flavor_id(client: TestClient, fp_id: str, **fields: Any) -> str:
    response = make_flavor(client, fp_id, **fields)
    assert response.status_code == 201, response.text
    return str(response.json()["flavor"]["id"])


def test_profile_create_show_list_update_delete(client: TestClient) -> None:
    data = '{"loadbalancer_topology": "ACTIVE_STANDBY"}'
    created = make_profile(client, data)
    assert created.status_code == 201
    profile = created.json()["flavorprofile"]
    assert set(profile) == {"id", "name", "provider_name", "flavor_data"}
    assert (profile["name"], profile["provider_name"], profile["flavor_data"]) == (
        "fp",
        "noop",
        data,
    )
    path = f"{FP}/{profile['id']}"
    assert client.get(path, headers=ADMIN).json() == {"flavorprofile": profile}
    listed = client.get(FP, headers=ADMIN).json()
    assert listed == {"flavorprofiles": [profile], "flavorprofile_links": []}
    renamed = client.put(path, json={"flavorprofile": {"name": "fp2"}}, headers=ADMIN)
    assert renamed.status_code == 200 and renamed.json()["flavorprofile"]["name"] == "fp2"
    assert client.delete(path, headers=ADMIN).status_code == 204
    gone = client.get(path, headers=ADMIN)
    assert gone.status_code == 404
    assert gone.json()["faultstring"] == f"Flavor Profile {profile['id']} not found."


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"text"', "null", "{"])
def test_profile_data_that_is_not_a_json_object_is_400(client: TestClient, raw: str) -> None:
    response = make_profile(client, raw)
    assert response.status_code == 400
    assert response.json()["faultstring"] == f"{raw} is not a valid option for flavor_data"


def test_deeply_nested_profile_data_is_400_not_a_crash(client: TestClient) -> None:
    raw = "[" * 2000 + "]" * 2000  # within the 4096 characters, past Python's stack
    assert make_profile(client, raw).status_code == 400


def test_profile_data_with_keys_the_provider_lacks_is_501(client: TestClient) -> None:
    response = make_profile(client, {"amp_image_tag": "x", "compute_flavor": "y"})
    assert response.status_code == 501
    assert response.json()["faultstring"] == (
        "Provider 'noop' does not support a requested option: Additional properties are not "
        "allowed ('amp_image_tag', 'compute_flavor' were unexpected)"
    )


def test_profile_data_with_a_value_the_provider_refuses_is_501(client: TestClient) -> None:
    response = make_profile(client, {"loadbalancer_topology": "ACTIVE_ACTIVE"})
    assert response.status_code == 501
    assert "loadbalancer_topology 'ACTIVE_ACTIVE'" in response.json()["faultstring"]


def test_profile_for_a_provider_not_enabled_is_400(client: TestClient) -> None:
    response = make_profile(client, {}, provider="ovn")
    assert response.status_code == 400
    assert response.json()["faultstring"] == "Provider 'ovn' is not enabled."


def test_profile_update_validates_and_refuses_null(client: TestClient) -> None:
    path = f"{FP}/{profile_id(client)}"
    bad = client.put(path, json={"flavorprofile": {"flavor_data": '{"x": 1}'}}, headers=ADMIN)
    assert bad.status_code == 501
    null = client.put(path, json={"flavorprofile": {"name": None}}, headers=ADMIN)
    assert null.status_code == 400
    assert null.json()["faultstring"] == "None is not a valid option for name"


def test_profiles_are_admin_only(client: TestClient) -> None:
    path = f"{FP}/{profile_id(client)}"
    assert client.get(FP, headers=MEMBER).status_code == 403
    assert client.get(path, headers=MEMBER).status_code == 403
    body = {"flavorprofile": {"name": "x", "provider_name": "noop", "flavor_data": "{}"}}
    assert client.post(FP, json=body, headers=MEMBER).status_code == 403
    assert client.put(path, json={"flavorprofile": {}}, headers=MEMBER).status_code == 403
    assert client.delete(path, headers=MEMBER).status_code == 403


def test_flavor_create_shows_octavia_defaults(client: TestClient) -> None:
    fp_id = profile_id(client)
    response = make_flavor(client, fp_id)
    assert response.status_code == 201
    flavor = response.json()["flavor"]
    assert set(flavor) == {"id", "name", "description", "enabled", "flavor_profile_id"}
    assert (flavor["description"], flavor["enabled"]) == ("", True)
    assert flavor["flavor_profile_id"] == fp_id


def test_flavor_names_are_unique(client: TestClient) -> None:
    fp_id = profile_id(client)
    flavor_id(client, fp_id)
    again = make_flavor(client, fp_id)
    assert again.status_code == 409
    assert again.json()["faultstring"] == "A flavor of gold already exists."
    other = flavor_id(client, fp_id, name="silver")
    clash = client.put(f"{F}/{other}", json={"flavor": {"name": "gold"}}, headers=ADMIN)
    assert clash.status_code == 409


def test_flavor_needs_an_existing_profile(client: TestClient) -> None:
    missing = make_flavor(client, "7d9a3a4e-3f35-4d0c-9b8e-5b6f1f2c0a11")
    assert missing.status_code == 400
    assert missing.json()["faultstring"] == "Validation failure: Invalid flavor_profile_id."
    assert make_flavor(client, "bogus").status_code == 400
    no_profile = client.post(F, json={"flavor": {"name": "x"}}, headers=ADMIN)
    assert no_profile.status_code == 400


def test_members_read_flavors_but_only_admins_write(client: TestClient) -> None:
    fid = flavor_id(client, profile_id(client), description="fast")
    listed = client.get(F, headers=MEMBER).json()
    assert [f["id"] for f in listed["flavors"]] == [fid] and listed["flavors_links"] == []
    shown = client.get(f"{F}/{fid}", headers=MEMBER).json()["flavor"]
    assert shown["description"] == "fast"
    body = {"flavor": {"name": "x", "flavor_profile_id": shown["flavor_profile_id"]}}
    assert client.post(F, json=body, headers=MEMBER).status_code == 403
    assert client.put(f"{F}/{fid}", json={"flavor": {}}, headers=MEMBER).status_code == 403
    assert client.delete(f"{F}/{fid}", headers=MEMBER).status_code == 403


def test_flavor_update_changes_name_description_enabled_but_not_profile(
    client: TestClient,
) -> None:
    fid = flavor_id(client, profile_id(client))
    path = f"{F}/{fid}"
    changes = {"name": "platinum", "description": "d", "enabled": False}
    updated = client.put(path, json={"flavor": changes}, headers=ADMIN).json()["flavor"]
    assert {k: updated[k] for k in changes} == changes
    other_profile = profile_id(client)
    refused = client.put(path, json={"flavor": {"flavor_profile_id": other_profile}}, headers=ADMIN)
    assert refused.status_code == 400
    unchanged = client.put(path, json={"flavor": {}}, headers=ADMIN).json()["flavor"]
    assert unchanged["name"] == "platinum"


def test_flavor_list_filters_sorts_and_pages(client: TestClient) -> None:
    fp_id = profile_id(client)
    ids = {name: flavor_id(client, fp_id, name=name) for name in ("a", "b", "c")}
    client.put(f"{F}/{ids['b']}", json={"flavor": {"enabled": False}}, headers=ADMIN)
    enabled = client.get(F, params={"enabled": "false"}, headers=ADMIN).json()["flavors"]
    assert [f["name"] for f in enabled] == ["b"]
    desc = client.get(F, params={"sort": "name:desc"}, headers=ADMIN).json()["flavors"]
    assert [f["name"] for f in desc] == ["c", "b", "a"]
    first = client.get(F, params={"sort": "name", "limit": 2}, headers=ADMIN).json()
    assert [f["name"] for f in first["flavors"]] == ["a", "b"]
    marker = first["flavors"][-1]["id"]
    rest = client.get(F, params={"sort": "name", "limit": 2, "marker": marker}, headers=ADMIN)
    assert [f["name"] for f in rest.json()["flavors"]] == ["c"]


def test_deleted_flavor_is_gone(client: TestClient) -> None:
    fid = flavor_id(client, profile_id(client))
    assert client.delete(f"{F}/{fid}", headers=ADMIN).status_code == 204
    gone = client.delete(f"{F}/{fid}", headers=ADMIN)
    assert gone.status_code == 404
    assert gone.json()["faultstring"] == f"Flavor {fid} not found."


def test_profile_in_use_by_a_flavor_keeps_its_data(client: TestClient) -> None:
    fp_id = profile_id(client)
    flavor_id(client, fp_id)
    path = f"{FP}/{fp_id}"
    deleted = client.delete(path, headers=ADMIN)
    assert deleted.status_code == 409
    assert (
        deleted.json()["faultstring"] == f"Flavor profile {fp_id} is in use and cannot be modified."
    )
    data = {"flavorprofile": {"flavor_data": '{"loadbalancer_topology": "SINGLE"}'}}
    assert client.put(path, json=data, headers=ADMIN).status_code == 409
    renamed = client.put(path, json={"flavorprofile": {"name": "still-ok"}}, headers=ADMIN)
    assert renamed.status_code == 200


def test_load_balancer_takes_provider_and_topology_from_its_flavor(client: TestClient) -> None:
    fp_id = profile_id(client, {"loadbalancer_topology": "ACTIVE_STANDBY"})
    fid = flavor_id(client, fp_id)
    lb_id = create_lb(client, headers=MEMBER, flavor_id=fid)
    shown = client.get(f"/v2/lbaas/loadbalancers/{lb_id}", headers=MEMBER).json()
    assert shown["loadbalancer"]["flavor_id"] == fid
    assert shown["loadbalancer"]["provider"] == "noop"
    with client.app.state.portico.db.reading() as session:  # type: ignore[attr-defined]
        topology = session.scalar(select(LoadBalancer.topology).where(LoadBalancer.id == lb_id))
    assert topology == "ACTIVE_STANDBY"
    in_use = client.delete(f"{F}/{fid}", headers=ADMIN)
    assert in_use.status_code == 409
    assert in_use.json()["faultstring"] == f"Flavor {fid} is in use and cannot be modified."


def _create_lb(client: TestClient, **fields: Any) -> httpx.Response:
    body = {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, **fields}}
    return client.post("/v2/lbaas/loadbalancers", json=body, headers=MEMBER)


def test_load_balancer_with_a_disabled_flavor_is_400(client: TestClient) -> None:
    fid = flavor_id(client, profile_id(client), enabled=False)
    response = _create_lb(client, flavor_id=fid)
    assert response.status_code == 400
    assert response.json()["faultstring"] == (
        f"The selected flavor is not allowed in this deployment: {fid}"
    )


def test_load_balancer_with_an_unknown_flavor_is_400(client: TestClient) -> None:
    response = _create_lb(client, flavor_id="0d8b1f5e-5a43-4b5e-9d8e-21f0c3a8d1aa")
    assert response.status_code == 400
    assert response.json()["faultstring"] == "Validation failure: Invalid flavor_id."


def test_load_balancer_provider_must_match_its_flavor(client: TestClient) -> None:
    fid = flavor_id(client, profile_id(client))
    response = _create_lb(client, flavor_id=fid, provider="amphora")
    assert response.status_code == 400
    assert response.json()["faultstring"] == (
        f"Flavor '{fid}' is not compatible with provider 'amphora'"
    )
    assert _create_lb(client, flavor_id=fid, provider="noop").status_code == 201
