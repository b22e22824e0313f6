"""Tenancy: a project never sees or changes another project's objects, for every resource.

Two projects (A and B, both ``member`` under noauth headers) each build a full tree: load
balancer, listener, pools, member, health monitor, L7 policy and rule. Then B tries every
verb on every one of A's objects: GET, PUT and DELETE answer 403 (as Octavia does: the
object exists, the caller may not touch it); creating children under A's load balancer,
listener, pool or policy answers 403 and creates nothing; A's objects never appear in B's
lists, and naming A's project in a list filter is refused. An admin sees both trees. The
admin-only catalogue (flavor and availability-zone profiles, flavors, zones) and amphora
APIs refuse a member.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico import bootstrap
from tests.conftest import LOCAL_SUBNET, make_settings, wait_for

A = {"X-Project-Id": "project-a", "X-Roles": "member"}
B = {"X-Project-Id": "project-b", "X-Roles": "member"}
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin"}
API = "/v2/lbaas"

Tree = dict[str, str]


@dataclass(frozen=True)
class Resource:
    """How to reach one resource type of a tree, and what B tries against A's."""

    name: str
    key: str  # body key of one object
    plural: str  # body key of a list
    item: Callable[[Tree], str]
    collection: Callable[[Tree], str]
    # B's attempt to create one under A's parents: (path, body)
    create: Callable[[Tree], tuple[str, dict[str, Any]]]
    update: dict[str, Any]
    nested: bool = False  # listed under a parent (members, rules) rather than top level


RESOURCES = [
    Resource(
        "loadbalancer",
        "loadbalancer",
        "loadbalancers",
        item=lambda t: f"{API}/loadbalancers/{t['loadbalancer']}",
        collection=lambda t: f"{API}/loadbalancers",
        create=lambda t: (
            f"{API}/loadbalancers",
            {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, "project_id": "project-a"}},
        ),
        update={"name": "hijacked"},
    ),
    Resource(
        "listener",
        "listener",
        "listeners",
        item=lambda t: f"{API}/listeners/{t['listener']}",
        collection=lambda t: f"{API}/listeners",
        create=lambda t: (
            f"{API}/listeners",
            {
                "listener": {
                    "loadbalancer_id": t["loadbalancer"],
                    "protocol": "HTTP",
                    "protocol_port": 8081,
                }
            },
        ),
        update={"name": "hijacked"},
    ),
    Resource(
        "pool",
        "pool",
        "pools",
        item=lambda t: f"{API}/pools/{t['pool']}",
        collection=lambda t: f"{API}/pools",
        create=lambda t: (
            f"{API}/pools",
            {
                "pool": {
                    "loadbalancer_id": t["loadbalancer"],
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                }
            },
        ),
        update={"name": "hijacked"},
    ),
    Resource(
        "member",
        "member",
        "members",
        item=lambda t: f"{API}/pools/{t['pool']}/members/{t['member']}",
        collection=lambda t: f"{API}/pools/{t['pool']}/members",
        create=lambda t: (
            f"{API}/pools/{t['pool']}/members",
            {"member": {"address": "127.0.0.99", "protocol_port": 9999}},
        ),
        update={"name": "hijacked"},
        nested=True,
    ),
    Resource(
        "healthmonitor",
        "healthmonitor",
        "healthmonitors",
        item=lambda t: f"{API}/healthmonitors/{t['healthmonitor']}",
        collection=lambda t: f"{API}/healthmonitors",
        create=lambda t: (
            f"{API}/healthmonitors",
            {
                "healthmonitor": {
                    "pool_id": t["pool2"],
                    "type": "HTTP",
                    "delay": 5,
                    "timeout": 3,
                    "max_retries": 3,
                }
            },
        ),
        update={"name": "hijacked"},
    ),
    Resource(
        "l7policy",
        "l7policy",
        "l7policies",
        item=lambda t: f"{API}/l7policies/{t['l7policy']}",
        collection=lambda t: f"{API}/l7policies",
        create=lambda t: (
            f"{API}/l7policies",
            {"l7policy": {"listener_id": t["listener"], "action": "REJECT"}},
        ),
        update={"name": "hijacked"},
    ),
    Resource(
        "l7rule",
        "rule",
        "rules",
        item=lambda t: f"{API}/l7policies/{t['l7policy']}/rules/{t['l7rule']}",
        collection=lambda t: f"{API}/l7policies/{t['l7policy']}/rules",
        create=lambda t: (
            f"{API}/l7policies/{t['l7policy']}/rules",
            {"rule": {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/stolen"}},
        ),
        update={"value": "/hijacked"},
        nested=True,
    ),
]


# -- building the two trees ----------------------------------------------------------------


def wait_active(client: TestClient, lb_id: str) -> None:
    def active() -> bool:
        body = client.get(f"{API}/loadbalancers/{lb_id}", headers=ADMIN).json()
        return bool(body["loadbalancer"]["provisioning_status"] == "ACTIVE")

    wait_for(active)


def post(client: TestClient, headers: dict[str, str], path: str, body: dict[str, Any]) -> str:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    (value,) = response.json().values()
    return str(value["id"])


def build_tree(client: TestClient, headers: dict[str, str], port: int) -> Tree:
    """Every resource type the API offers, owned by the project of ``headers``."""
    tree: Tree = {}
    lb = post(
        client, headers, f"{API}/loadbalancers", {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET}}
    )
    tree["loadbalancer"] = lb
    wait_active(client, lb)

    def add(name: str, path: str, body: dict[str, Any]) -> None:
        tree[name] = post(client, headers, path, body)
        wait_active(client, lb)

    listener = {"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": port}
    add("listener", f"{API}/listeners", {"listener": listener})
    pool: dict[str, Any] = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    add("pool", f"{API}/pools", {"pool": pool | {"listener_id": tree["listener"]}})
    add("pool2", f"{API}/pools", {"pool": pool | {"loadbalancer_id": lb}})
    member = {"address": "127.0.0.10", "protocol_port": port}
    add("member", f"{API}/pools/{tree['pool']}/members", {"member": member})
    hm = {"pool_id": tree["pool"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}
    add("healthmonitor", f"{API}/healthmonitors", {"healthmonitor": hm})
    policy = {"listener_id": tree["listener"], "action": "REJECT"}
    add("l7policy", f"{API}/l7policies", {"l7policy": policy})
    rule = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a"}
    add("l7rule", f"{API}/l7policies/{tree['l7policy']}/rules", {"rule": rule})
    return tree


@dataclass(frozen=True)
class World:
    client: TestClient
    a: Tree
    b: Tree


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One API and database for the module: both trees are built once, then only read
    (every write in these tests is expected to be refused, and each test checks that)."""
    tmp: Path = tmp_path_factory.mktemp("tenancy")
    settings = make_settings(f"sqlite:///{tmp / 'portico.sqlite3'}", tmp)
    bootstrap.upgrade_database(settings)
    client = TestClient(
        bootstrap.build_app(settings, with_reconciler=True), raise_server_exceptions=False
    )
    with client:
        yield World(client=client, a=build_tree(client, A, 80), b=build_tree(client, B, 81))


def ids(response: Any, plural: str) -> set[str]:
    assert response.status_code == 200, response.text
    return {obj["id"] for obj in response.json()[plural]}


def assert_intact(world: World, resource: Resource) -> None:
    """A's object is still there, unchanged, and not being deleted."""
    response = world.client.get(resource.item(world.a), headers=A)
    assert response.status_code == 200, response.text
    body = response.json()[resource.key]
    assert body.get("name") != "hijacked"
    assert body.get("value") != "/hijacked"
    assert body.get("provisioning_status") != "PENDING_DELETE"


BY_NAME = [pytest.param(r, id=r.name) for r in RESOURCES]
TOP_LEVEL = [pytest.param(r, id=r.name) for r in RESOURCES if not r.nested]


# -- the matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("resource", BY_NAME)
def test_owner_sees_own_object(world: World, resource: Resource) -> None:
    assert world.client.get(resource.item(world.a), headers=A).status_code == 200


@pytest.mark.parametrize("resource", BY_NAME)
def test_other_project_cannot_read(world: World, resource: Resource) -> None:
    response = world.client.get(resource.item(world.a), headers=B)
    assert response.status_code == 403, response.text
    assert "project-a" not in response.text


@pytest.mark.parametrize("resource", BY_NAME)
def test_other_project_cannot_update(world: World, resource: Resource) -> None:
    body = {resource.key: resource.update}
    response = world.client.put(resource.item(world.a), json=body, headers=B)
    assert response.status_code == 403, response.text
    assert_intact(world, resource)


@pytest.mark.parametrize("resource", BY_NAME)
def test_other_project_cannot_delete(world: World, resource: Resource) -> None:
    response = world.client.delete(resource.item(world.a), headers=B)
    assert response.status_code == 403, response.text
    assert_intact(world, resource)


@pytest.mark.parametrize("resource", BY_NAME)
def test_other_project_cannot_create_under_anothers_parent(
    world: World, resource: Resource
) -> None:
    before = ids(world.client.get(resource.collection(world.a), headers=ADMIN), resource.plural)
    path, body = resource.create(world.a)
    response = world.client.post(path, json=body, headers=B)
    assert response.status_code == 403, response.text
    after = ids(world.client.get(resource.collection(world.a), headers=ADMIN), resource.plural)
    assert after == before


@pytest.mark.parametrize("resource", BY_NAME)
def test_lists_show_only_own_project(world: World, resource: Resource) -> None:
    client = world.client
    if resource.nested:
        # The parent is A's: listing its children is reading A's object.
        response = client.get(resource.collection(world.a), headers=B)
        assert response.status_code == 403, response.text
        own = ids(client.get(resource.collection(world.b), headers=B), resource.plural)
    else:
        own = ids(client.get(resource.collection(world.b), headers=B), resource.plural)
    assert world.b[resource.name] in own
    assert world.a[resource.name] not in own


@pytest.mark.parametrize("resource", TOP_LEVEL)
def test_list_filter_naming_another_project_is_refused(world: World, resource: Resource) -> None:
    response = world.client.get(f"{resource.collection(world.a)}?project_id=project-a", headers=B)
    # Octavia checks the named project against the caller's roles: 403.
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("resource", TOP_LEVEL)
@pytest.mark.parametrize("field", ["tenant_id", "project_id"])
@pytest.mark.parametrize("project", ["project-a", "project-b"])
def test_no_list_filter_reveals_another_project(
    world: World, resource: Resource, field: str, project: str
) -> None:
    """Whatever a filter names (refused, invalid or accepted), A's objects stay hidden."""
    path = f"{resource.collection(world.a)}?{field}={project}"
    response = world.client.get(path, headers=B)
    assert response.status_code in (200, 400, 403), response.text
    assert world.a[resource.name] not in response.text


@pytest.mark.parametrize("resource", TOP_LEVEL)
def test_list_filter_naming_own_project_works(world: World, resource: Resource) -> None:
    path = f"{resource.collection(world.b)}?project_id=project-b"
    assert world.b[resource.name] in ids(world.client.get(path, headers=B), resource.plural)


@pytest.mark.parametrize("resource", BY_NAME)
def test_admin_sees_every_project(world: World, resource: Resource) -> None:
    client = world.client
    assert client.get(resource.item(world.a), headers=ADMIN).status_code == 200
    assert client.get(resource.item(world.b), headers=ADMIN).status_code == 200
    if resource.nested:
        seen = ids(client.get(resource.collection(world.a), headers=ADMIN), resource.plural)
        seen |= ids(client.get(resource.collection(world.b), headers=ADMIN), resource.plural)
    else:
        seen = ids(client.get(resource.collection(world.a), headers=ADMIN), resource.plural)
        only_a = f"{resource.collection(world.a)}?project_id=project-a"
        filtered = ids(client.get(only_a, headers=ADMIN), resource.plural)
        assert world.a[resource.name] in filtered
        assert world.b[resource.name] not in filtered
    assert {world.a[resource.name], world.b[resource.name]} <= seen


# -- load balancer sub-resources -----------------------------------------------------------


@pytest.mark.parametrize("suffix", ["status", "stats"])
def test_other_project_cannot_read_load_balancer_status_or_stats(world: World, suffix: str) -> None:
    path = f"{API}/loadbalancers/{world.a['loadbalancer']}/{suffix}"
    assert world.client.get(path, headers=A).status_code == 200
    assert world.client.get(path, headers=B).status_code == 403


def test_cascade_delete_of_anothers_load_balancer_is_refused(world: World) -> None:
    path = f"{API}/loadbalancers/{world.a['loadbalancer']}?cascade=true"
    assert world.client.delete(path, headers=B).status_code == 403
    assert_intact(world, RESOURCES[0])


def test_failover_is_admin_only_even_for_the_owner(world: World) -> None:
    path = f"{API}/loadbalancers/{world.a['loadbalancer']}/failover"
    assert world.client.put(path, headers=B).status_code == 403
    assert world.client.put(path, headers=A).status_code == 403


def test_listener_stats_of_another_project_are_refused(world: World) -> None:
    path = f"{API}/listeners/{world.a['listener']}/stats"
    assert world.client.get(path, headers=A).status_code == 200
    assert world.client.get(path, headers=B).status_code == 403


def test_batch_member_update_on_anothers_pool_is_refused(world: World) -> None:
    path = f"{API}/pools/{world.a['pool']}/members"
    body = {"members": [{"address": "127.0.0.98", "protocol_port": 9998}]}
    assert world.client.put(path, json=body, headers=B).status_code == 403
    members = ids(world.client.get(path, headers=ADMIN), "members")
    assert members == {world.a["member"]}


def refused(response: Any) -> None:
    """Refused without creating or changing anything (Octavia answers 400, 403 or 404)."""
    assert response.status_code in (400, 403, 404), response.text


def b_object_count(world: World) -> int:
    paths = ("loadbalancers", "listeners", "pools", "l7policies")
    return sum(len(world.client.get(f"{API}/{p}", headers=B).json()[p]) for p in paths)


def test_another_projects_objects_cannot_be_referenced(world: World) -> None:
    """B may not attach its objects to A's: default pools, redirect pools, listeners."""
    client, a, b = world.client, world.a, world.b
    before = b_object_count(world)
    pool_body = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}

    body: dict[str, Any] = {"listener": {"default_pool_id": a["pool2"]}}
    refused(client.put(f"{API}/listeners/{b['listener']}", json=body, headers=B))
    listener = {"loadbalancer_id": b["loadbalancer"], "protocol": "HTTP", "protocol_port": 9001}
    body = {"listener": listener | {"default_pool_id": a["pool2"]}}
    refused(client.post(f"{API}/listeners", json=body, headers=B))
    policy = {"action": "REDIRECT_TO_POOL", "redirect_pool_id": a["pool2"]}
    body = {"l7policy": policy | {"listener_id": b["listener"]}}
    refused(client.post(f"{API}/l7policies", json=body, headers=B))
    refused(client.put(f"{API}/l7policies/{b['l7policy']}", json={"l7policy": policy}, headers=B))
    body = {
        "pool": pool_body | {"loadbalancer_id": b["loadbalancer"], "listener_id": a["listener"]}
    }
    refused(client.post(f"{API}/pools", json=body, headers=B))
    body = {
        "pool": pool_body | {"loadbalancer_id": a["loadbalancer"], "listener_id": b["listener"]}
    }
    refused(client.post(f"{API}/pools", json=body, headers=B))
    graph = {"protocol": "HTTP", "protocol_port": 80, "default_pool_id": a["pool2"]}
    body = {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, "listeners": [graph]}}
    refused(client.post(f"{API}/loadbalancers", json=body, headers=B))

    assert b_object_count(world) == before
    shown = client.get(f"{API}/listeners/{b['listener']}", headers=B).json()["listener"]
    assert shown["default_pool_id"] != a["pool2"]
    shown = client.get(f"{API}/l7policies/{b['l7policy']}", headers=B).json()["l7policy"]
    assert shown["redirect_pool_id"] != a["pool2"]


@pytest.mark.parametrize(
    ("collection", "field", "parent"),
    [
        ("listeners", "loadbalancer_id", "loadbalancer"),
        ("pools", "loadbalancer_id", "loadbalancer"),
        ("healthmonitors", "pool_id", "pool"),
        ("l7policies", "listener_id", "listener"),
        ("loadbalancers", "id", "loadbalancer"),
        ("listeners", "id", "listener"),
        ("pools", "id", "pool"),
    ],
)
def test_filtering_by_another_projects_ids_finds_nothing(
    world: World, collection: str, field: str, parent: str
) -> None:
    response = world.client.get(f"{API}/{collection}?{field}={world.a[parent]}", headers=B)
    assert response.status_code == 200, response.text
    assert response.json()[collection] == []


# -- quotas --------------------------------------------------------------------------------

QUOTAS = f"{API}/quotas"


@pytest.fixture(scope="module")
def quotas(world: World) -> World:
    """An admin gives A and B limits of their own (A: 50 load balancers, B: 60)."""
    for project, limit in (("project-a", 50), ("project-b", 60)):
        body = {"quota": {"load_balancer": limit}}
        response = world.client.put(f"{QUOTAS}/{project}", json=body, headers=ADMIN)
        assert response.status_code == 202, response.text
    return world


def a_quota_is_unchanged(world: World) -> None:
    response = world.client.get(f"{QUOTAS}/project-a", headers=ADMIN)
    assert response.json()["quota"]["load_balancer"] == 50


@pytest.mark.parametrize("suffix", ["", "/default"])
def test_other_project_cannot_read_a_projects_quota(quotas: World, suffix: str) -> None:
    assert quotas.client.get(f"{QUOTAS}/project-a{suffix}", headers=A).status_code == 200
    assert quotas.client.get(f"{QUOTAS}/project-a{suffix}", headers=B).status_code == 403


def test_other_project_cannot_change_or_reset_a_projects_quota(quotas: World) -> None:
    client = quotas.client
    body = {"quota": {"load_balancer": -1}}
    assert client.put(f"{QUOTAS}/project-a", json=body, headers=B).status_code == 403
    assert client.delete(f"{QUOTAS}/project-a", headers=B).status_code == 403
    a_quota_is_unchanged(quotas)


def test_member_cannot_raise_own_quota(quotas: World) -> None:
    body = {"quota": {"load_balancer": -1}}
    assert quotas.client.put(f"{QUOTAS}/project-a", json=body, headers=A).status_code == 403
    assert quotas.client.delete(f"{QUOTAS}/project-a", headers=A).status_code == 403
    a_quota_is_unchanged(quotas)


def test_quota_list_shows_only_own_project(quotas: World) -> None:
    client = quotas.client
    response = client.get(QUOTAS, headers=B)
    assert response.status_code == 200, response.text
    listed = {q["project_id"] for q in response.json()["quotas"]}
    assert "project-b" in listed
    assert "project-a" not in listed
    assert client.get(f"{QUOTAS}?project_id=project-a", headers=B).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(ADMIN, id="admin"),
        pytest.param({"X-Project-Id": "ops", "X-Roles": "load-balancer_quota_admin"}, id="qa"),
        pytest.param(
            {"X-Project-Id": "ops", "X-Roles": "load-balancer_global_observer"}, id="observer"
        ),
    ],
)
def test_global_quota_readers_see_every_projects_quota(
    quotas: World, headers: dict[str, str]
) -> None:
    response = quotas.client.get(QUOTAS, headers=headers)
    assert response.status_code == 200, response.text
    assert {"project-a", "project-b"} <= {q["project_id"] for q in response.json()["quotas"]}
    assert quotas.client.get(f"{QUOTAS}/project-a", headers=headers).status_code == 200


# -- the admin-only catalogue and amphorae ---------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """An admin-made object of each catalogue type: collection path -> (key, id)."""

    client: TestClient
    objects: dict[str, tuple[str, str]]


def create_as_admin(client: TestClient, path: str, key: str, body: dict[str, Any]) -> str:
    response = client.post(path, json={key: body}, headers=ADMIN)
    assert response.status_code == 201, response.text
    obj = response.json()[key]
    return str(obj.get("id") or obj["name"])


@pytest.fixture(scope="module")
def catalogue(world: World) -> Catalogue:
    client = world.client
    objects: dict[str, tuple[str, str]] = {}
    body = {"name": "fp", "provider_name": "noop", "flavor_data": "{}"}
    fp = create_as_admin(client, f"{API}/flavorprofiles", "flavorprofile", body)
    objects["flavorprofiles"] = ("flavorprofile", fp)
    body = {"name": "small", "flavor_profile_id": fp}
    objects["flavors"] = ("flavor", create_as_admin(client, f"{API}/flavors", "flavor", body))
    key = "availability_zone_profile"
    body = {"name": "azp", "provider_name": "noop", "availability_zone_data": "{}"}
    azp = create_as_admin(client, f"{API}/availabilityzoneprofiles", key, body)
    objects["availabilityzoneprofiles"] = (key, azp)
    body = {"name": "zone-1", "availability_zone_profile_id": azp}
    az = create_as_admin(client, f"{API}/availabilityzones", "availability_zone", body)
    objects["availabilityzones"] = ("availability_zone", az)
    return Catalogue(client=client, objects=objects)


# Collection -> whether a member may read it (Octavia: flavors and zones are readable by
# anyone with a role in their project, profiles only by admins).
CATALOGUE = {
    "flavorprofiles": False,
    "flavors": True,
    "availabilityzoneprofiles": False,
    "availabilityzones": True,
}
CREATE_BODIES: dict[str, dict[str, Any]] = {
    "flavorprofiles": {"name": "x", "provider_name": "noop", "flavor_data": "{}"},
    "flavors": {"name": "x", "flavor_profile_id": "00000000-0000-0000-0000-000000000001"},
    "availabilityzoneprofiles": {
        "name": "x",
        "provider_name": "noop",
        "availability_zone_data": "{}",
    },
    "availabilityzones": {
        "name": "x",
        "availability_zone_profile_id": "00000000-0000-0000-0000-000000000001",
    },
}


@pytest.mark.parametrize("collection", list(CATALOGUE))
@pytest.mark.parametrize("headers", [pytest.param(A, id="member"), pytest.param(B, id="other")])
def test_catalogue_is_admin_only_to_change(
    catalogue: Catalogue, collection: str, headers: dict[str, str]
) -> None:
    client = catalogue.client
    key, object_id = catalogue.objects[collection]
    path = f"{API}/{collection}"
    before = client.get(path, headers=ADMIN).json()
    response = client.post(path, json={key: CREATE_BODIES[collection]}, headers=headers)
    assert response.status_code == 403, response.text
    # Zones are addressed by their name, which cannot change; profiles have no description.
    field = "name" if collection.endswith("profiles") else "description"
    update = {key: {field: "hijacked"}}
    assert client.put(f"{path}/{object_id}", json=update, headers=headers).status_code == 403
    assert client.delete(f"{path}/{object_id}", headers=headers).status_code == 403
    assert client.get(path, headers=ADMIN).json() == before


@pytest.mark.parametrize("collection", list(CATALOGUE))
def test_catalogue_reads_follow_octavia(catalogue: Catalogue, collection: str) -> None:
    client = catalogue.client
    _key, object_id = catalogue.objects[collection]
    expected = 200 if CATALOGUE[collection] else 403
    assert client.get(f"{API}/{collection}", headers=B).status_code == expected
    assert client.get(f"{API}/{collection}/{object_id}", headers=B).status_code == expected
    assert client.get(f"{API}/{collection}/{object_id}", headers=ADMIN).status_code == 200


def test_amphorae_are_admin_only(world: World) -> None:
    client = world.client
    assert client.get("/v2/octavia/amphorae", headers=ADMIN).status_code == 200
    assert client.get("/v2/octavia/amphorae", headers=A).status_code == 403
    query = f"/v2/octavia/amphorae?loadbalancer_id={world.a['loadbalancer']}"
    assert client.get(query, headers=A).status_code == 403
    # Octavia looks an amphora up before checking policy: an unknown id is 404 for anyone.
    unknown = "/v2/octavia/amphorae/00000000-0000-0000-0000-000000000001"
    for suffix in ("", "/stats", "/failover", "/config"):
        method = client.get if suffix in ("", "/stats") else client.put
        assert method(f"{unknown}{suffix}", headers=A).status_code in (403, 404, 405)


@pytest.mark.parametrize("capability", ["flavor_capabilities", "availability_zone_capabilities"])
def test_provider_capabilities_are_admin_only(world: World, capability: str) -> None:
    path = f"{API}/providers/noop/{capability}"
    assert world.client.get(path, headers=A).status_code == 403
    assert world.client.get(path, headers=ADMIN).status_code == 200
