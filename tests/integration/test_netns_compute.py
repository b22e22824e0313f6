"""The ``netns`` compute driver: an amphora in its own namespace serves a real VIP, then goes
without a trace.

Driver-level, as the provider uses it: boot with certificates from the controller's CA,
reach the agent from the host over the management bridge, plug a VIP and a member network
(real veths on bridges the driver makes), push a configuration, and send requests from a
client namespace on the VIP's network. Delete leaves no namespace, link or process.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from portico.domain.errors import TransientError
from portico.drivers.agent_client import AgentClient
from portico.drivers.certs.pki import CertificateAuthority
from portico.drivers.compute.base import (
    AmphoraRequest,
    BootFiles,
    ComputeDriver,
    InstanceStatus,
    NetworkPlug,
)
from portico.drivers.compute.netns import NetnsCompute
from portico.drivers.compute.processes import pid_alive
from portico.settings import Settings
from portico.wire.agent_api import ConfigPush
from tests.conftest import wait_for
from tests.support.amphorae import amphora_pids, reap_amphorae
from tests.support.netns import bridge_of, leftovers, peer, require_netns

pytestmark = pytest.mark.xdist_group("netns")
T = TypeVar("T")
VIP_NET, VIP_CIDR, VIP = str(uuid.uuid4()), "10.213.0.0/24", "10.213.0.10"
MEMBER_NET, MEMBER_CIDR, MEMBER_LEG = str(uuid.uuid4()), "10.214.0.0/24", "10.214.0.5"
CONFIG = f"""global
    stats socket unix@run/stats.sock mode 600 level admin expose-fd listeners
    hard-stop-after 10s
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend direct
    bind {VIP}:80
    http-request return status 200 content-type text/plain string hello-from-the-vip
frontend proxied
    bind {VIP}:81
    default_backend members
backend members
    server m1 10.214.0.100:8000
"""


class Amphora:
    """One netns amphora and the controller's view of it, driven from a private loop."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.driver = NetnsCompute(settings)
        ca = CertificateAuthority(settings.data_dir / "pki")
        self.id = str(uuid.uuid4())
        issued = ca.issue(self.id, server=True)
        self.request = AmphoraRequest(
            amphora_id=self.id,
            boot_files=BootFiles(ca.ca_pem, issued.certificate_pem, issued.private_key_pem),
        )
        self.client = AgentClient(ca.controller_client(), timeout=20.0)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def answers(self, endpoint: str) -> bool:
        try:
            self.run(self.client.versions(endpoint, self.id, seconds=1.0))
        except TransientError:
            return False
        return True

    def close(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()


@pytest.fixture
def amphora(tmp_path: Path) -> Iterator[Amphora]:
    require_netns()
    settings = Settings(
        data_dir=tmp_path,
        netns_mgmt_bridge=f"ptcmt{uuid.uuid4().hex[:6]}",
        netns_mgmt_cidr="172.31.248.0/24",
    )
    item = Amphora(settings)
    try:
        yield item
    finally:
        # The safety net when the test failed before its own delete (idempotent otherwise).
        item.run(item.driver.delete(item.id))
        reap_amphorae(tmp_path)
        item.close()


def test_netns_driver_implements_the_compute_protocol(tmp_path: Path) -> None:
    assert isinstance(NetnsCompute(Settings(data_dir=tmp_path)), ComputeDriver)


def test_amphora_in_a_namespace_serves_its_vip_and_members_then_delete_leaves_nothing(
    amphora: Amphora, tmp_path: Path
) -> None:
    before = leftovers()
    driver = amphora.driver
    instance = amphora.run(driver.create(amphora.request))
    assert instance.agent_endpoint == "172.31.248.2:9443"
    # The agent answers from the host, over the management bridge, with its own identity.
    wait_for(lambda: amphora.answers(instance.agent_endpoint), timeout=20)
    assert amphora.run(driver.create(amphora.request)) == instance  # idempotent
    assert amphora.run(driver.status(amphora.id)) == InstanceStatus.RUNNING
    assert amphora.run(driver.instances()) == [amphora.id]

    vip = NetworkPlug(address=VIP, subnet_cidr=VIP_CIDR, network_id=VIP_NET)
    leg = NetworkPlug(address=MEMBER_LEG, subnet_cidr=MEMBER_CIDR, network_id=MEMBER_NET)
    for _ in range(2):  # plugging twice changes nothing
        amphora.run(driver.plug_vip(amphora.id, vip))
        amphora.run(driver.plug_network(amphora.id, leg))
    push = ConfigPush(generation=1, haproxy_cfg=CONFIG)
    amphora.run(amphora.client.push(instance.agent_endpoint, amphora.id, push))

    with (
        peer(bridge_of(VIP_NET), "10.213.0.1/24") as client,
        peer(bridge_of(MEMBER_NET), "10.214.0.100/24") as backend,
    ):
        backend.serve("member-1", 8000)
        assert client.get(f"http://{VIP}/") == "hello-from-the-vip"
        assert client.get(f"http://{VIP}:81/") == "member-1"
        # The member network is a separate bridge: its hosts do not see the VIP.
        assert backend.get(f"http://{VIP}/", seconds=0.5) is None

        amphora.run(driver.unplug_vip(amphora.id, vip))
        assert client.get(f"http://{VIP}/", seconds=0.5) is None
        amphora.run(driver.plug_vip(amphora.id, vip))
        wait_for(lambda: client.get(f"http://{VIP}/") == "hello-from-the-vip", timeout=10)

        pids = amphora_pids(tmp_path)
        assert pids
        amphora.run(driver.delete(amphora.id))
        assert not any(pid_alive(pid) for pid in pids)
        assert client.get(f"http://{VIP}/", seconds=0.5) is None
    assert amphora.run(driver.status(amphora.id)) == InstanceStatus.GONE
    assert amphora.run(driver.instances()) == []
    amphora.run(driver.delete(amphora.id))  # idempotent
    assert leftovers() == before
    assert not (tmp_path / "amphorae" / amphora.id).exists()
