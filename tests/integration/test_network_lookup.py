"""The Neutron and Keystone stand-ins that the clients' lookups rely on (``--vip-subnet-id``,
``--subnet-id``, the quota commands' project argument).

Their shapes are what openstacksdk and keystoneclient parse; the filters are what the
octaviaclient resolution sends (``?id=X`` then ``?name=X``). The real clients drive them end to
end in ``tests/compat``; these tests pin the details quickly and without subprocesses.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from portico import bootstrap
from portico.api.app import create_app
from portico.api.auth import NoAuth
from portico.api.context import ApiContext
from portico.settings import Settings, SubnetSetting
from tests.conftest import LOCAL_SUBNET

LOCAL_NETWORK = "5b7b4e1c-8a0b-4a59-b3f3-2c9d8f4e6a02"


def test_subnet_lookup_by_id_then_name_as_the_cli_sends_it(client: TestClient) -> None:
    by_id = client.get("/v2/subnets", params={"id": LOCAL_SUBNET}).json()["subnets"]
    by_name = client.get("/v2/subnets", params={"name": "local"}).json()["subnets"]
    assert by_id == by_name
    (subnet,) = by_id
    assert subnet["id"] == LOCAL_SUBNET
    assert subnet["network_id"] == LOCAL_NETWORK
    assert subnet["cidr"] == "127.64.0.0/10"
    assert subnet["ip_version"] == 4
    assert subnet["allocation_pools"] == [{"start": "127.64.0.1", "end": "127.127.255.254"}]
    assert client.get("/v2/subnets", params={"name": LOCAL_SUBNET}).json() == {"subnets": []}
    shown = client.get(f"/v2/subnets/{LOCAL_SUBNET}")
    assert shown.status_code == 200
    assert shown.json()["subnet"] == subnet


def test_network_groups_its_subnets_and_is_found_by_name(client: TestClient) -> None:
    (network,) = client.get("/v2/networks", params={"name": "local"}).json()["networks"]
    assert network["id"] == LOCAL_NETWORK
    assert network["subnets"] == [LOCAL_SUBNET]
    assert network["status"] == "ACTIVE"
    assert client.get(f"/v2/networks/{LOCAL_NETWORK}").json()["network"] == network


def test_unknown_items_are_neutron_404s_and_empty_kinds_list_nothing(client: TestClient) -> None:
    missing = client.get("/v2/subnets/nope")
    assert missing.status_code == 404
    assert missing.json()["NeutronError"]["type"] == "SubnetNotFound"
    for path, key in [
        ("/v2/ports", "ports"),
        ("/v2/qos/policies", "policies"),
        ("/v2/security-groups", "security_groups"),
    ]:
        assert client.get(path, params={"name": "x"}).json() == {key: []}
        assert client.get(f"{path}/x").status_code == 404


def test_filters_repeat_as_alternatives_and_fields_select(
    client_factory: Callable[[Settings], TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    other = SubnetSetting(
        id="0d7e4a2c-1111-4c55-9a35-7d1c0e7b0a09",
        name="v6",
        network_id=LOCAL_NETWORK,
        cidr="fd00:64::/64",
        ip_version=6,
    )
    client = client_factory(settings_factory(subnets=[SubnetSetting(), other]))
    both = client.get("/v2/subnets", params=[("name", "local"), ("name", "v6")]).json()
    assert [s["name"] for s in both["subnets"]] == ["local", "v6"]
    v6 = client.get("/v2/subnets", params={"ip_version": "6", "fields": ["id", "cidr"]}).json()
    assert v6 == {"subnets": [{"id": other.id, "cidr": "fd00:64::/64"}]}
    (network,) = client.get("/v2/networks").json()["networks"]
    assert network["subnets"] == [LOCAL_SUBNET, other.id]
    bad = client.get("/v2/subnets", params={"colour": "red"})
    assert bad.status_code == 400
    assert "colour" in bad.json()["NeutronError"]["message"]


def test_v2_roots_answer_like_octavia_and_lookups_do_not_shadow_lbaas(client: TestClient) -> None:
    for root in ("/v2", "/v2.0", "/v2/lbaas", "/v2.0/lbaas"):
        assert client.get(root).json() == "v2"
    assert client.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []
    assert client.get("/v2.0/subnets").status_code == 404


def test_lookups_are_served_only_under_noauth(settings_factory: Callable[..., Settings]) -> None:
    def lookup_status(settings: Settings) -> int:
        # The authenticator does not matter here: the lookups take no caller.
        ctx = ApiContext(
            settings=settings,
            db=bootstrap.build_database(settings),
            authenticator=NoAuth(settings),
            notify_change=lambda _lb_id: None,
        )
        try:
            return TestClient(create_app(ctx)).get("/v2/subnets").status_code
        finally:
            ctx.db.dispose()

    assert lookup_status(settings_factory()) == 200
    assert lookup_status(settings_factory(auth_strategy="keystone")) == 404


def test_every_project_exists_for_the_quota_commands_keystone_lookup(client: TestClient) -> None:
    # Under noauth a project is whatever name a request carries, so each lookup finds it.
    assert client.get("/projects/team-a").json()["project"]["id"] == "team-a"
    listed = client.get("/projects", params={"name": "team-b"}).json()["projects"]
    assert [(p["id"], p["name"]) for p in listed] == [("team-b", "team-b")]
