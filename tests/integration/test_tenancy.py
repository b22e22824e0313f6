"""Tenancy: a project never sees or changes another project's objects, for every resource.

Two projects (A and B, both ``member`` under noauth headers) each build a full tree: load
balancer, listener, pools, member, health monitor, L7 policy and rule. Then B tries every
verb on every one of A's objects: GET, PUT and DELETE answer 403 (as Octavia does: the
object exists, the caller may not touch it); creating children under A's load balancer,
listener, pool or policy answers 403 and creates nothing; A's objects never appear in B's
lists, and naming A's project in a list filter is refused. An admin sees both trees. The
admin-only catalogue (flavor and availability-zone profiles, flavors, zones) and amphora
APIs refuse a member. Resources whose API is not mounted are skipped, so the matrix grows
as the API does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

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


def mounted(client: TestClient, path: str) -> bool:
    routes = client.app.routes  # type: ignore[attr-defined]
    return any(isinstance(r, Route) and r.path == path for r in routes)


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

    if mounted(client, f"{API}/listeners"):
        listener = {"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": port}
        add("listener", f"{API}/listeners", {"listener": listener})
    if mounted(client, f"{API}/pools"):
        pool: dict[str, Any] = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
        parent = (
            {"listener_id": tree["listener"]} if "listener" in tree else {"loadbalancer_id": lb}
        )
        add("pool", f"{API}/pools", {"pool": pool | parent})
        add("pool2", f"{API}/pools", {"pool": pool | {"loadbalancer_id": lb}})
    if "pool" in tree and mounted(client, f"{API}/pools/{{pool_id}}/members"):
        member = {"address": "127.0.0.10", "protocol_port": port}
        add("member", f"{API}/pools/{tree['pool']}/members", {"member": member})
    if "pool" in tree and mounted(client, f"{API}/healthmonitors"):
        hm = {"pool_id": tree["pool"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}
        add("healthmonitor", f"{API}/healthmonitors", {"healthmonitor": hm})
    if "listener" in tree and mounted(client, f"{API}/l7policies"):
        policy = {"listener_id": tree["listener"], "action": "REJECT"}
        add("l7policy", f"{API}/l7policies", {"l7policy": policy})
    if "l7policy" in tree and mounted(client, f"{API}/l7policies/{{l7policy_id}}/rules"):
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


def need(world: World, resource: Resource) -> None:
    if resource.name not in world.a:
        pytest.skip(f"the {resource.name} API is not mounted yet")


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


# -- the matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("resource", BY_NAME)
def test_owner_sees_own_object(world: World, resource: Resource) -> None:
    need(world, resource)
    assert world.client.get(resource.item(world.a), headers=A).status_code == 200


@pytest.mark.parametrize("resource", BY_NAME)
def test_other_project_cannot_read(world: World, resource: Resource) -> None:
    need(world, resource)
    response = world.client.get(resource.item(world.a), headers=B)
    assert response.status_code == 403, response.text
    assert "project-a" not in response.text


@pytest.mark.parametrize("resource", BY_NAME)
def test_other_project_cannot_update(world: World, resource: Resource) -> None:
    need(world, resource)
    body = {resource.key: resource.update}
    response = world.client.put(resource.item(world.a), json=body, headers=B)
    assert response.status_code == 403, response.text
    assert_intact(world, resource)


@pytest.mark.parametrize("resource", BY_NAME)
def test_other_project_cannot_delete(world: World, resource: Resource) -> None:
    need(world, resource)
    response = world.client.delete(resource.item(world.a), headers=B)
    assert response.status_code == 403, response.text
    assert_intact(world, resource)


@pytest.mark.parametrize("resource", BY_NAME)
def test_other_project_cannot_create_under_anothers_parent(
    world: World, resource: Resource
) -> None:
    need(world, resource)
    before = ids(world.client.get(resource.collection(world.a), headers=ADMIN), resource.plural)
    path, body = resource.create(world.a)
    response = world.client.post(path, json=body, headers=B)
    assert response.status_code == 403, response.text
    after = ids(world.client.get(resource.collection(world.a), headers=ADMIN), resource.plural)
    assert after == before


@pytest.mark.parametrize("resource", BY_NAME)
def test_lists_show_only_own_project(world: World, resource: Resource) -> None:
    need(world, resource)
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


@pytest.mark.parametrize(
    "resource", [pytest.param(r, id=r.name) for r in RESOURCES if not r.nested]
)
@pytest.mark.parametrize("query", ["project_id=project-a", "tenant_id=project-a"])
def test_list_filter_naming_another_project_is_refused(
    world: World, resource: Resource, query: str
) -> None:
    need(world, resource)
    response = world.client.get(f"{resource.collection(world.a)}?{query}", headers=B)
    # Octavia checks the named project against the caller's roles: 403.
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("resource", BY_NAME)
def test_list_filter_naming_own_project_works(world: World, resource: Resource) -> None:
    need(world, resource)
    if resource.nested:
        pytest.skip("listed under a parent; project filters are for top-level lists")
    path = f"{resource.collection(world.b)}?project_id=project-b"
    assert world.b[resource.name] in ids(world.client.get(path, headers=B), resource.plural)


@pytest.mark.parametrize("resource", BY_NAME)
def test_admin_sees_every_project(world: World, resource: Resource) -> None:
    need(world, resource)
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
    if "listener" not in world.a:
        pytest.skip("the listener API is not mounted yet")
    path = f"{API}/listeners/{world.a['listener']}/stats"
    assert world.client.get(path, headers=A).status_code == 200
    assert world.client.get(path, headers=B).status_code == 403


def test_batch_member_update_on_anothers_pool_is_refused(world: World) -> None:
    if "member" not in world.a:
        pytest.skip("the member API is not mounted yet")
    path = f"{API}/pools/{world.a['pool']}/members"
    body = {"members": [{"address": "127.0.0.98", "protocol_port": 9998}]}
    assert world.client.put(path, json=body, headers=B).status_code == 403
    members = ids(world.client.get(path, headers=ADMIN), "members")
    assert members == {world.a["member"]}


def test_pool_and_listener_of_another_project_cannot_be_referenced(world: World) -> None:
    """B may not attach its objects to A's: a listener's default pool, a pool's listener."""
    client = world.client
    if "pool" not in world.a:
        pytest.skip("the pool API is not mounted yet")
    body = {"listener": {"default_pool_id": world.a["pool2"]}}
    response = client.put(f"{API}/listeners/{world.b['listener']}", json=body, headers=B)
    assert response.status_code in (400, 403, 404), response.text
    listener = client.get(f"{API}/listeners/{world.b['listener']}", headers=B).json()
    assert listener["listener"]["default_pool_id"] != world.a["pool2"]
    pool = {"listener_id": world.a["listener"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    response = client.post(f"{API}/pools", json={"pool": pool}, headers=B)
    assert response.status_code == 403, response.text
