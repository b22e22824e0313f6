"""Failover on the ``netns`` driver (root): the VIP moves to a new amphora namespace.

A client namespace on the VIP's network reaches the load balancer; the test kills the whole
amphora (agent, haproxy master and workers) and takes its VIP link down, as a dead machine
would. The replacement answers from another MAC address, which the client learns from the
gratuitous ARP sent when the VIP is plugged, not after its ARP cache expires.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.db.models import Amphora
from portico.drivers.compute import netns_names as names
from portico.drivers.compute.netns import NetnsCompute
from portico.settings import Settings, SubnetSetting
from tests.conftest import wait_for, wait_lb_status
from tests.support.amphorae import kill_amphora, reap_amphorae
from tests.support.netns import bridge_of, ip, leftovers, peer, require_netns

pytestmark = pytest.mark.xdist_group("netns")
CIDR, VIP = "10.215.0.0/24", "10.215.0.10"


@pytest.fixture
def stack(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> Iterator[tuple[TestClient, SubnetSetting]]:
    require_netns()
    net = SubnetSetting(
        id=str(uuid.uuid4()), name="failover-net", network_id=str(uuid.uuid4()), cidr=CIDR
    )
    mgmt = "172.31.247.0/24"
    settings = settings_factory(
        default_provider_driver="amphora",
        compute_driver="netns",
        subnets=[net],
        netns_mgmt_bridge=f"ptcmf{uuid.uuid4().hex[:6]}",
        netns_mgmt_cidr=mgmt,
        # Amphorae send to the management bridge's first address, which exists only once
        # the first amphora boots: the health service listens on every address.
        health_bind_host="0.0.0.0",
        heartbeat_timeout=1.0,
        amphora_boot_timeout=30.0,
    )
    try:
        yield client_factory(settings), net
    finally:
        driver = NetnsCompute(settings)
        for amphora_id in asyncio.run(driver.instances()):
            asyncio.run(driver.delete(amphora_id, graceful=False))
        reap_amphorae(tmp_path)


def _amphorae(client: TestClient, lb_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(
        "/v2/octavia/amphorae", params={"loadbalancer_id": lb_id}
    ).json()["amphorae"]
    return found


def test_a_dead_amphora_namespace_is_replaced_and_the_vip_answers_again(
    stack: tuple[TestClient, SubnetSetting], tmp_path: Path
) -> None:
    client, net = stack
    before = leftovers()
    with (
        peer(bridge_of(net.network_id), "10.215.0.101/24") as member,
        peer(bridge_of(net.network_id), "10.215.0.1/24") as user,
    ):
        member.serve("m1", 8000)
        body = {
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
                            {"address": member.ip, "protocol_port": 8000, "subnet_id": net.id}
                        ],
                    },
                }
            ],
        }
        created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
        assert created.status_code == 201, created.text
        lb_id = created.json()["loadbalancer"]["id"]
        wait_lb_status(client, lb_id, timeout=60)
        url = f"http://{VIP}/"
        assert user.get(url) == "m1"
        [old] = _amphorae(client, lb_id)
        db = client.app.state.portico.db  # type: ignore[attr-defined]

        def heard() -> bool:
            # Heard at least once, so it is watched (a never-heard amphora is not).
            with db.reading() as session:
                return session.get(Amphora, old["id"]).last_heartbeat_at is not None

        wait_for(heard, timeout=10)

        assert kill_amphora(tmp_path, old["id"])
        namespace = names.namespace(old["id"])
        vip_link = names.network_ifname(names.network_key(net.network_id, CIDR))
        ip("-n", namespace, "link", "set", vip_link, "down")
        assert user.get(url, seconds=0.5) is None

        def replaced() -> dict[str, Any] | None:
            lb = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
            amphorae = _amphorae(client, lb_id)
            if lb["provisioning_status"] == "ACTIVE" and [a["id"] for a in amphorae] != [old["id"]]:
                return amphorae[0] if len(amphorae) == 1 else None
            return None

        new = wait_for(replaced, timeout=60)
        assert new["id"] != old["id"]
        # The client's ARP cache held the old MAC; the gratuitous ARP moved it at once.
        assert wait_for(lambda: user.get(url, seconds=0.5) == "m1", timeout=5)
        assert namespace not in ip("netns", "list")

        deleted = client.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
        assert deleted.status_code == 204
        wait_for(
            lambda: client.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 404, timeout=30
        )
    assert leftovers() == before
