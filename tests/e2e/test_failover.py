"""Failover with real amphorae and traffic: a dead or frozen amphora is replaced in seconds.

Each test runs an in-process portico (API, reconciler, health service) on the local compute
driver with quick heartbeats, real haproxy and real HTTP backends, and a bounded load through
the VIP. It breaks an amphora the way it breaks in life and asserts that traffic comes back
through a new amphora, that the statuses and events tell what happened, and that the dead
amphora was failed over exactly once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from portico import bootstrap
from portico.db.models import Event
from portico.drivers.compute.processes import pid_alive
from portico.services.heartbeats import load_secret
from portico.settings import Settings
from portico.wire.heartbeat import Heartbeat, derive_key, encode
from tests.conftest import wait_for, wait_lb_status
from tests.e2e.conftest import AmphoraRig
from tests.support.amphorae import amphora_processes, get_through, kill_amphora
from tests.support.backends import Backend
from tests.support.dataplane import build_lb, http_listener
from tests.support.load import Load

AMPS = "/v2/octavia/amphorae"
FAILOVER = {"heartbeat_timeout": 1.0, "failover_threshold": "10"}


@pytest.fixture
def failover_client(
    amphora_rig: AmphoraRig, request: pytest.FixtureRequest
) -> tuple[TestClient, Settings]:
    """Quick heartbeats and failover; a test may add settings through ``indirect``."""
    return amphora_rig(**FAILOVER, **getattr(request, "param", {}))


def _lb(client: TestClient, servers: list[Backend]) -> dict[str, Any]:
    return build_lb(client, [http_listener(8080, servers)])


def _amphorae(client: TestClient, lb_id: str | None = None) -> list[dict[str, Any]]:
    params = {"loadbalancer_id": lb_id} if lb_id else {}
    amphorae: list[dict[str, Any]] = client.get(AMPS, params=params).json()["amphorae"]
    return amphorae


def _events(settings: Settings, amphora_id: str) -> list[str]:
    db = bootstrap.build_database(settings)
    try:
        with db.reading() as session:
            rows = session.scalars(
                select(Event.kind).where(Event.amphora_id == amphora_id).order_by(Event.created_at)
            )
            return list(rows)
    finally:
        db.dispose()


def _replaced(
    client: TestClient, lb_id: str, old: str, *, meanwhile: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Wait until the load balancer runs on one amphora that is not ``old``, and is ACTIVE.

    ``meanwhile`` runs before every look.
    """

    def done() -> dict[str, Any] | None:
        if meanwhile is not None:
            meanwhile()
        lb = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
        amphorae = _amphorae(client, lb_id)
        if lb["provisioning_status"] != "ACTIVE" or [a["id"] for a in amphorae] == [old]:
            return None
        if len(amphorae) != 1 or amphorae[0]["status"] != "ALLOCATED":
            return None
        return amphorae[0]

    found: dict[str, Any] = wait_for(done, timeout=30)
    return found


def _answers(url: str) -> bool:
    with contextlib.suppress(Exception):
        return get_through(url, timeout=1.0).status_code == 200
    return False


def _outage_then_recovery(load: Load, url: str) -> None:
    wait_for(lambda: _answers(url), timeout=30)
    # Traffic flows again through the VIP for the load's own clients too.
    ok_before = load.result.ok
    wait_for(lambda: load.result.ok > ok_before + 20, timeout=10)


def test_a_killed_amphora_is_replaced_and_traffic_returns(
    failover_client: tuple[TestClient, Settings], servers: list[Backend], tmp_path: Path
) -> None:
    client, settings = failover_client
    lb = _lb(client, servers)
    url = f"http://{lb['vip_address']}:8080/"
    [old] = _amphorae(client, lb["id"])
    with Load(lb["vip_address"], 8080, keepalive=2, fresh=2, rate=40, seconds=40) as load:
        wait_for(lambda: load.result.ok > 20, timeout=10)
        killed = kill_amphora(tmp_path, old["id"])
        assert len(killed) >= 3  # agent, master, at least one worker
        wait_for(lambda: not _answers(url), timeout=5)  # the outage is real
        new = _replaced(client, lb["id"], old["id"])
        _outage_then_recovery(load, url)
    result = load.result
    assert result.failed > 0 and result.ok > 40
    assert new["id"] != old["id"]
    assert old["id"] not in {a["id"] for a in _amphorae(client)}
    assert _events(settings, old["id"]) == [
        "amphora_stale",
        "failover_started",
        "failover_finished",
    ]
    lb_now = wait_lb_status(client, lb["id"])
    wait_for(
        lambda: (
            client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"][
                "operating_status"
            ]
            == "ONLINE"
        ),
        timeout=10,
    )
    assert lb_now["vip_address"] == lb["vip_address"]
    assert not any(pid_alive(pid) for pid in killed)


@pytest.mark.parametrize(
    "failover_client", [{"spares_pool_size": 1, "spares_interval": 0.2}], indirect=True
)
def test_spares_serve_new_load_balancers_and_failovers_and_the_pool_refills(
    failover_client: tuple[TestClient, Settings], servers: list[Backend], tmp_path: Path
) -> None:
    client, settings = failover_client

    def ready_spare() -> str | None:
        spares = [a for a in _amphorae(client) if a["status"] == "READY"]
        assert len(spares) <= 1
        return spares[0]["id"] if spares else None

    first_spare = wait_for(ready_spare, timeout=30)
    assert _amphorae(client)[0]["loadbalancer_id"] is None
    lb = _lb(client, servers)
    [serving] = _amphorae(client, lb["id"])
    assert serving["id"] == first_spare  # the create took the spare: no boot on its path
    second_spare = wait_for(ready_spare, timeout=30)
    assert second_spare != first_spare

    url = f"http://{lb['vip_address']}:8080/"
    assert _answers(url)
    kill_amphora(tmp_path, serving["id"])
    new = _replaced(client, lb["id"], serving["id"])
    assert new["id"] == second_spare
    wait_for(lambda: _answers(url), timeout=10)
    third = wait_for(ready_spare, timeout=30)
    assert third not in (first_spare, second_spare)
    assert _events(settings, serving["id"]).count("failover_started") == 1


def test_a_frozen_agent_is_failed_over_and_stopped(
    failover_client: tuple[TestClient, Settings], servers: list[Backend], tmp_path: Path
) -> None:
    """SIGSTOP: no heartbeats, though haproxy still serves; it is replaced, then killed."""
    client, settings = failover_client
    lb = _lb(client, servers)
    url = f"http://{lb['vip_address']}:8080/"
    [old] = _amphorae(client, lb["id"])
    [agent] = amphora_processes(tmp_path, old["id"])["agent"]
    os.kill(agent, signal.SIGSTOP)
    try:
        with Load(lb["vip_address"], 8080, keepalive=2, fresh=2, rate=40, seconds=40) as load:
            new = _replaced(client, lb["id"], old["id"])
            wait_for(lambda: not pid_alive(agent), timeout=10)
            _outage_then_recovery(load, url)
        assert new["id"] != old["id"]
        assert _events(settings, old["id"]).count("failover_started") == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(agent, signal.SIGCONT)


def test_forged_and_replayed_heartbeats_do_not_keep_a_dead_amphora_alive(
    failover_client: tuple[TestClient, Settings], servers: list[Backend], tmp_path: Path
) -> None:
    client, settings = failover_client
    lb = _lb(client, servers)
    [old] = _amphorae(client, lb["id"])
    amphora_id = uuid.UUID(old["id"])
    secret = load_secret(settings)
    lie = Heartbeat(amphora_id=old["id"], generation=1)
    # Forgeries (wrong key) and replays (valid key, old sequence), sent all along until the
    # failover: they would keep the amphora looking alive if anything but the HMAC and the
    # sequence number were trusted.
    datagrams = (
        encode(lie, key=derive_key(b"not the secret", amphora_id), sequence=2**62)[0],
        encode(lie, key=derive_key(secret, amphora_id), sequence=1)[0],
    )
    kill_amphora(tmp_path, old["id"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:

        def lie_about_it() -> None:
            for datagram in datagrams:
                sender.sendto(datagram, ("127.0.0.1", settings.health_bind_port))

        new = _replaced(client, lb["id"], old["id"], meanwhile=lie_about_it)
    receiver = client.app.state.heartbeats  # type: ignore[attr-defined]
    assert receiver.rejected["signature"] > 10 and receiver.rejected["replay"] > 10
    assert new["id"] != old["id"]
    assert _events(settings, old["id"]).count("failover_started") == 1


def test_a_killed_haproxy_is_restarted_by_its_agent_without_a_failover(
    failover_client: tuple[TestClient, Settings], servers: list[Backend], tmp_path: Path
) -> None:
    client, settings = failover_client
    lb = _lb(client, servers)
    url = f"http://{lb['vip_address']}:8080/"
    [amphora] = _amphorae(client, lb["id"])
    processes = amphora_processes(tmp_path, amphora["id"])
    [master] = processes["master"]
    with Load(lb["vip_address"], 8080, keepalive=2, fresh=2, rate=40, seconds=40) as load:
        wait_for(lambda: load.result.ok > 20, timeout=10)
        for pid in [master, *processes["workers"]]:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: amphora_processes(tmp_path, amphora["id"])["master"] not in ([], [master]))
        _outage_then_recovery(load, url)
        # Heartbeats kept coming from the agent all along: for two timeouts after the
        # kill, the amphora stays the same one and nothing is failed over.
        until = time.monotonic() + 2 * settings.heartbeat_timeout
        while time.monotonic() < until:
            assert [a["id"] for a in _amphorae(client, lb["id"])] == [amphora["id"]]
            assert _events(settings, amphora["id"]) == []
