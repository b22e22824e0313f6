"""Agent API versions against real agents: 1.2 and 1.1 beside 1.0, and agents of older images.

A current agent serves every 1.0 route under /1.0, /1.1 and /1.2, the settings (1.1) under
/1.1 and /1.2, and adds ``/1.2/vrrp/handover``; the controller's client negotiates through
``GET /`` and makes a call only when the agent has it. An agent of an image that serves only
1.0 (``compute_images``) is still driven fully (configuration, runtime changes, stats), and
refuses the settings and the handover cleanly; one serving 1.1 refuses the handover.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from portico.agent.config import AgentConfig
from portico.drivers.agent_client import StaleGeneration, VersionUnsupported
from portico.drivers.compute.base import (
    AmphoraRequest,
    BootFiles,
    HeartbeatSetup,
    ImageUnavailable,
)
from portico.drivers.compute.local import LocalCompute
from portico.settings import ImageSetting, Settings
from portico.wire.agent_api import AgentSettings, ServerOp, VrrpHandover
from portico.wire.log_forwarding import LogForwarding
from tests.conftest import wait_for
from tests.support.agent import AgentHandle, haproxy_config
from tests.support.amphorae import get_through
from tests.support.backends import Backend, backends
from tests.support.processes import free_port

IMAGES = {
    "v2": ImageSetting(agent_version="2.0.0"),
    "v11": ImageSetting(agent_version="1.1.0", api_versions=["1.1", "1.0"]),
    "v1": ImageSetting(agent_version="1.0.0", api_versions=["1.0"]),
}


@pytest.fixture
def two() -> Iterator[list[Backend]]:
    with backends(2) as servers:
        yield servers


class Udp:
    """A heartbeat target: a UDP socket on loopback counting the datagrams it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.target = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def drain(self) -> int:
        count = 0
        while True:
            try:
                self.sock.recv(65536)
            except BlockingIOError:
                return count
            count += 1


@pytest.fixture
def booted(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., AgentHandle]]:
    handles: list[AgentHandle] = []

    def boot(**kwargs: Any) -> AgentHandle:
        handle = AgentHandle.boot(settings_factory(compute_images=IMAGES), **kwargs)
        handles.append(handle)
        return handle

    yield boot
    for handle in handles:
        handle.close()


def _raw(agent: AgentHandle, path: str) -> int:
    """The status of a GET the client's own methods never make (a path of another version)."""
    pool = agent.client._pool(agent.amphora_id)
    url = f"https://{agent.endpoint}{path}"
    response = agent.run(pool.get(url, extensions={"sni_hostname": agent.amphora_id}))
    return response.status_code


def test_a_current_agent_serves_earlier_routes_under_every_version_and_the_client_picks_1_2(
    booted: Callable[..., AgentHandle],
) -> None:
    agent = booted(image="v2")
    served = agent.run(agent.client.versions(agent.endpoint, agent.amphora_id))
    assert served == ["1.2", "1.1", "1.0"]
    assert agent.run(agent.client.negotiate(agent.endpoint, agent.amphora_id)) == "1.2"
    info = agent.run(agent.client.info(agent.endpoint, agent.amphora_id))
    assert (info.api_version, info.agent_version) == ("1.2", "2.0.0")
    assert _raw(agent, "/1.0/haproxy") == _raw(agent, "/1.1/haproxy") == 200
    assert _raw(agent, "/1.2/haproxy") == 200
    assert _raw(agent, "/1.1/settings") == _raw(agent, "/1.2/settings") == 200
    # The settings are still read (over 1.1) from an agent whose newest version is 1.2.
    assert agent.run(agent.client.settings(agent.endpoint, agent.amphora_id)) is not None
    # The handover exists (under 1.2 only): this agent has no VRRP configured to hand over.
    handover = VrrpHandover(drain_seconds=0)
    with pytest.raises(StaleGeneration, match="no VRRP configuration is applied"):
        agent.run(agent.client.handover(agent.endpoint, agent.amphora_id, handover))


def test_an_agent_serving_1_1_refuses_the_handover_cleanly(
    booted: Callable[..., AgentHandle],
) -> None:
    agent = booted(image="v11")
    assert agent.run(agent.client.negotiate(agent.endpoint, agent.amphora_id)) == "1.1"
    assert agent.run(agent.client.settings(agent.endpoint, agent.amphora_id)) is not None
    handover = VrrpHandover(drain_seconds=0)
    with pytest.raises(VersionUnsupported, match=r"speaks agent API 1\.1; a handover needs 1\.2"):
        agent.run(agent.client.handover(agent.endpoint, agent.amphora_id, handover))
    assert _raw(agent, "/1.2/haproxy") == 404


def test_an_agent_serving_only_1_0_is_driven_fully_and_refuses_settings_cleanly(
    booted: Callable[..., AgentHandle], two: list[Backend]
) -> None:
    agent = booted(image="v1")
    assert agent.run(agent.client.versions(agent.endpoint, agent.amphora_id)) == ["1.0"]
    assert agent.run(agent.client.negotiate(agent.endpoint, agent.amphora_id)) == "1.0"
    info = agent.run(agent.client.info(agent.endpoint, agent.amphora_id))
    assert (info.api_version, info.agent_version) == ("1.0", "1.0.0")
    port = free_port()
    servers = {b.name: b.port for b in two}
    assert agent.push(1, haproxy_config(port=port, servers=servers)).action == "started"
    url = f"http://127.0.0.1:{port}/"
    assert wait_for(lambda: get_through(url).status_code == 200)
    drained = haproxy_config(port=port, servers=servers, options={two[0].name: "disabled"})
    ops = [ServerOp(op="state", backend="pool1:fe1", server=two[0].name, state="maint")]
    assert agent.runtime(2, drained, ops).action == "unchanged"  # made live, no reload
    assert {get_through(url).text for _ in range(6)} == {two[1].name}
    stats = agent.run(agent.client.stats(agent.endpoint, agent.amphora_id))
    assert {row.name for row in stats.rows if row.kind == "server"} == set(servers)
    with pytest.raises(VersionUnsupported, match=r"speaks agent API 1\.0; its settings need 1\.1"):
        agent.run(agent.client.settings(agent.endpoint, agent.amphora_id))
    assert _raw(agent, "/1.1/settings") == 404
    assert _raw(agent, "/1.1/haproxy") == 404


def test_pushed_settings_move_heartbeats_at_once_and_are_kept_for_the_next_start(
    booted: Callable[..., AgentHandle],
) -> None:
    old, new = Udp(), Udp()
    setup = HeartbeatSetup(targets=(old.target,), key=os.urandom(32), interval=0.05)
    agent = booted(image="v2", heartbeat=setup)
    assert wait_for(lambda: old.drain() > 0)
    moved = AgentSettings(heartbeat_targets=[new.target], heartbeat_interval=0.05)
    answer = agent.run(agent.client.settings(agent.endpoint, agent.amphora_id, moved))
    assert answer.heartbeat_targets == moved.heartbeat_targets
    assert answer.heartbeat_interval == moved.heartbeat_interval
    assert answer.log_forwarding == LogForwarding()  # not in the push: as it booted
    assert wait_for(lambda: new.drain() > 0)
    old.drain()  # a beat sent while the push was applied
    seen = [0]

    def ten_more() -> bool:
        seen[0] += new.drain()
        return seen[0] >= 10

    # Ten beats reach the new target while the old one hears none.
    assert wait_for(ten_more, timeout=10)
    assert old.drain() == 0
    # Kept in the file the agent starts from (a restarted agent loads it as it is).
    path = agent.directory / "agent.json"
    assert json.loads(path.read_text())["heartbeat_targets"] == [new.target]
    assert AgentConfig.load(path).heartbeat_targets == [new.target]
    assert path.stat().st_mode & 0o077 == 0  # it holds the heartbeat key


def test_bad_settings_are_refused_with_a_400(booted: Callable[..., AgentHandle]) -> None:
    agent = booted(image="v2")
    pool = agent.client._pool(agent.amphora_id)
    url = f"https://{agent.endpoint}/1.1/settings"
    for body in (
        {"heartbeat_targets": ["no port"], "heartbeat_interval": 1},
        {"heartbeat_targets": [], "heartbeat_interval": 0},
        {"heartbeat_targets": []},
    ):
        response: httpx.Response = agent.run(
            pool.put(url, json=body, extensions={"sni_hostname": agent.amphora_id})
        )
        assert response.status_code == 400, body


def test_an_image_not_offered_fails_to_boot_and_leaves_nothing_behind(
    settings_factory: Callable[..., Settings],
) -> None:
    compute = LocalCompute(settings_factory(compute_images=IMAGES))
    missing = AmphoraRequest(
        amphora_id="0c8e8a58-7d35-4a67-9d8e-2f7d7c1c0a11",
        boot_files=BootFiles(b"", b"", b""),
        image="v3",
    )
    with pytest.raises(ImageUnavailable, match="v3"):
        asyncio.run(compute.create(missing))
    assert not (compute.root / missing.amphora_id).exists()
