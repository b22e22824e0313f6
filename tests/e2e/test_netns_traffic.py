"""Full stack on the ``netns`` compute driver: load balancers whose amphorae are namespaces.

Through the API and the reconciler, two tenants get a load balancer each on their own
network; both networks use the same private subnet and even the same VIP address, as
tenants' networks may. Each tenant's client namespace reaches its own load balancer only,
traffic is balanced across members running in backend namespaces, and deleting the load
balancers leaves no amphora namespace, link or process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from portico.db.models import Amphora
from portico.drivers.compute.netns import NetnsCompute
from portico.settings import Settings, SubnetSetting
from tests.conftest import wait_for, wait_lb_status
from tests.support.amphorae import amphora_pids, reap_amphorae
from tests.support.netns import Peer, bridge_of, leftovers, peer, require_netns

pytestmark = pytest.mark.xdist_group("netns")
CIDR, VIP = "10.213.0.0/24", "10.213.0.10"
MEMBERS_CIDR = "10.214.0.0/24"
TENANT_A = {"X-Project-Id": "tenant-a", "X-Roles": "member"}
TENANT_B = {"X-Project-Id": "tenant-b", "X-Roles": "member"}


def subnet(name: str, cidr: str = CIDR) -> SubnetSetting:
    return SubnetSetting(id=str(uuid.uuid4()), name=name, network_id=str(uuid.uuid4()), cidr=cidr)


MEMBERS_NET = subnet("members-net", MEMBERS_CIDR)


@pytest.fixture
def stack(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> Iterator[tuple[TestClient, SubnetSetting, SubnetSetting]]:
    require_netns()
    a, b = subnet("tenant-a-net"), subnet("tenant-b-net")
    settings = settings_factory(
        default_provider_driver="amphora",
        compute_driver="netns",
        subnets=[a, b, MEMBERS_NET],
        netns_mgmt_bridge=f"ptcme{uuid.uuid4().hex[:6]}",
        netns_mgmt_cidr="172.31.249.0/24",
        amphora_boot_timeout=30.0,
    )
    try:
        yield client_factory(settings), a, b
    finally:
        # The safety net when the test failed before deleting its load balancers.
        driver = NetnsCompute(settings)
        for amphora_id in asyncio.run(driver.instances()):
            asyncio.run(driver.delete(amphora_id))
        reap_amphorae(tmp_path)


def create(
    client: TestClient,
    headers: dict[str, str],
    net: SubnetSetting,
    *members: Peer,
    member_net: SubnetSetting | None = None,
) -> str:
    body: dict[str, Any] = {
        "vip_subnet_id": net.id,
        "vip_address": VIP,
        "listeners": [
            {
                "protocol": "HTTP",
                "protocol_port": 80,
                "default_pool": {
                    "name": "web",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [
                        {
                            "address": m.ip,
                            "protocol_port": 8000,
                            "subnet_id": (member_net or net).id,
                        }
                        for m in members
                    ],
                },
            }
        ],
    }
    response = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["loadbalancer"]["id"])


def test_tenants_on_overlapping_subnets_reach_only_their_own_balanced_members(
    stack: tuple[TestClient, SubnetSetting, SubnetSetting], tmp_path: Path
) -> None:
    client, net_a, net_b = stack
    before = leftovers()
    with (
        peer(bridge_of(net_a.network_id), "10.213.0.101/24") as a1,
        peer(bridge_of(net_a.network_id), "10.213.0.102/24") as a2,
        peer(bridge_of(net_a.network_id), "10.213.0.1/24") as client_a,
        peer(bridge_of(net_b.network_id), "10.213.0.101/24") as b1,
        peer(bridge_of(net_b.network_id), "10.213.0.1/24") as client_b,
    ):
        for member, name in ((a1, "a1"), (a2, "a2"), (b1, "b1")):
            member.serve(name, 8000)
        lb_a = create(client, TENANT_A, net_a, a1, a2)
        lb_b = create(client, TENANT_B, net_b, b1)
        for lb_id in (lb_a, lb_b):
            assert wait_lb_status(client, lb_id, timeout=60)["operating_status"] == "ONLINE"

        url = f"http://{VIP}/"
        seen_a = Counter(client_a.get(url) for _ in range(10))
        assert seen_a == {"a1": 5, "a2": 5}
        # Same subnet, same VIP, another network: tenant B only ever sees its own.
        assert Counter(client_b.get(url) for _ in range(4)) == {"b1": 4}
        # And tenant B's hosts cannot reach tenant A's members behind the load balancer.
        assert client_b.get("http://10.213.0.102:8000/", seconds=0.5) is None

        assert len(client.get("/v2/octavia/amphorae").json()["amphorae"]) == 2
        assert amphora_pids(tmp_path)
        for lb_id in (lb_a, lb_b):
            deleted = client.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
            assert deleted.status_code == 204

        def gone() -> bool:
            paths = (f"/v2/lbaas/loadbalancers/{lb_id}" for lb_id in (lb_a, lb_b))
            return all(client.get(path).status_code == 404 for path in paths)

        wait_for(gone, timeout=30)
        assert amphora_pids(tmp_path) == []
        assert client_a.get(url, seconds=0.5) is None
    assert leftovers() == before
    assert list((tmp_path / "amphorae").iterdir()) == []


def test_members_on_another_subnet_are_reached_through_a_leg_the_provider_plugs(
    stack: tuple[TestClient, SubnetSetting, SubnetSetting], tmp_path: Path
) -> None:
    client, net_a, _ = stack
    before = leftovers()
    with (
        peer(bridge_of(MEMBERS_NET.network_id), "10.214.0.101/24") as m1,
        peer(bridge_of(MEMBERS_NET.network_id), "10.214.0.102/24") as m2,
        peer(bridge_of(net_a.network_id), "10.213.0.1/24") as client_a,
    ):
        m1.serve("m1", 8000)
        m2.serve("m2", 8000)
        lb_id = create(client, TENANT_A, net_a, m1, m2, member_net=MEMBERS_NET)
        wait_lb_status(client, lb_id, timeout=60)
        # The client's network has no route to 10.214.0.0/24: only the amphora's leg does.
        assert client_a.get("http://10.214.0.101:8000/", seconds=0.5) is None
        assert Counter(client_a.get(f"http://{VIP}/") for _ in range(6)) == {"m1": 3, "m2": 3}

        db = client.app.state.portico.db  # type: ignore[attr-defined]
        with db.reading() as session:
            legs = session.scalars(
                select(Amphora.network_legs).where(Amphora.load_balancer_id == lb_id)
            )
            (only,) = list(legs)
        assert list(only) == [MEMBERS_NET.id]
        assert ipaddress.ip_address(only[MEMBERS_NET.id]) in ipaddress.ip_network(MEMBERS_CIDR)

        deleted = client.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
        assert deleted.status_code == 204
        wait_for(
            lambda: client.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 404, timeout=30
        )
        assert amphora_pids(tmp_path) == []
    assert leftovers() == before
