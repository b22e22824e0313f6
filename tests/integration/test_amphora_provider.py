"""The amphora provider after a controller restart: adopt, finish, never duplicate.

A restarted controller is a new ``AmphoraProvider`` (empty caches, new connection pools) over
the same database and data directory, while the amphorae (agent processes in their own
sessions) keep running. These tests drive the provider directly with real agents and
haproxy from the local compute driver, and look at rows and processes, not at calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portico import bootstrap
from portico.db.engine import Database
from portico.domain.constants import AmphoraStatus
from portico.drivers.providers.base import LoadBalancerSnapshot
from portico.orchestrator.provider import AmphoraProvider
from portico.services import amphora_records as records
from portico.services import reconcile
from portico.settings import Settings
from tests.conftest import wait_for
from tests.support.amphorae import amphora_pids, get_through, reap_amphorae
from tests.support.backends import Backend, backends
from tests.support.dataplane import create_graph, http_listener


@pytest.fixture
def api(client_factory: object, amphora_settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """The API alone (no reconciler): the tests play the controller themselves."""
    try:
        yield client_factory(amphora_settings, with_reconciler=False)  # type: ignore[operator]
    finally:
        reap_amphorae(tmp_path)


@pytest.fixture
def servers() -> Iterator[list[Backend]]:
    with backends(1) as started:
        yield started


def _db(api: TestClient) -> Database:
    database: Database = api.app.state.portico.db  # type: ignore[attr-defined]
    return database


def _snapshot(db: Database, lb_id: str) -> LoadBalancerSnapshot:
    with db.reading() as session:
        snap = reconcile.snapshot(session, lb_id)
    assert snap is not None
    return snap


def _controller(settings: Settings, db: Database) -> AmphoraProvider:
    """A fresh provider, as a restarted controller builds it."""
    provider = bootstrap.build_providers(settings, db)["amphora"]
    assert isinstance(provider, AmphoraProvider)
    return provider


def _live(db: Database, lb_id: str) -> list[records.AmphoraRecord]:
    with db.reading() as session:
        return records.for_load_balancer(session, lb_id)


async def _apply(provider: AmphoraProvider, snap: LoadBalancerSnapshot) -> None:
    try:
        await provider.apply(snap)
    finally:
        await provider.aclose()


def _vip(api: TestClient, lb_id: str, port: int) -> str:
    lb = api.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
    return f"http://{lb['vip_address']}:{port}/"


def test_a_restarted_controller_adopts_the_running_amphora(
    api: TestClient, amphora_settings: Settings, servers: list[Backend], tmp_path: Path
) -> None:
    db = _db(api)
    lb_id = create_graph(api, [http_listener(8081, servers)])
    asyncio.run(_apply(_controller(amphora_settings, db), _snapshot(db, lb_id)))
    [first] = _live(db, lb_id)
    pids = sorted(amphora_pids(tmp_path))
    assert get_through(_vip(api, lb_id, 8081)).text == "b0"

    # A new controller (empty caches) converges the same generation again: same amphora,
    # same processes, the agent answers "unchanged" by hash.
    asyncio.run(_apply(_controller(amphora_settings, db), _snapshot(db, lb_id)))
    assert [a.id for a in _live(db, lb_id)] == [first.id]
    assert sorted(amphora_pids(tmp_path)) == pids
    assert get_through(_vip(api, lb_id, 8081)).text == "b0"


def test_a_booting_row_whose_agent_runs_is_finished_not_duplicated(
    api: TestClient, amphora_settings: Settings, servers: list[Backend], tmp_path: Path
) -> None:
    """The controller died between starting the agent and recording it."""
    db = _db(api)
    lb_id = create_graph(api, [http_listener(8082, servers)])
    dead = _controller(amphora_settings, db)

    async def half_boot() -> str:
        amphora_id = "0b5c7d0e-1111-4222-8333-444455556666"
        with db.writing() as session:
            records.create(
                session, amphora_id=amphora_id, lb_id=lb_id, compute_driver="local", image=None
            )
        with db.reading() as session:
            row = records.get(session, amphora_id)
        assert row is not None
        await dead.fleet.create_instance(row)
        return amphora_id

    amphora_id = asyncio.run(half_boot())
    [agent_pid] = amphora_pids(tmp_path)

    asyncio.run(_apply(_controller(amphora_settings, db), _snapshot(db, lb_id)))
    [amphora] = _live(db, lb_id)
    assert (amphora.id, amphora.status) == (amphora_id, AmphoraStatus.ALLOCATED)
    assert agent_pid in amphora_pids(tmp_path)
    assert len(amphora_pids(tmp_path)) == 2  # that agent and its haproxy, nothing more
    assert get_through(_vip(api, lb_id, 8082)).text == "b0"


def test_delete_removes_an_amphora_whose_boot_was_never_recorded(
    api: TestClient, amphora_settings: Settings, servers: list[Backend], tmp_path: Path
) -> None:
    db = _db(api)
    lb_id = create_graph(api, [http_listener(8083, servers)])
    dead = _controller(amphora_settings, db)

    half = str(uuid.uuid4())  # amphora ids are UUIDs: heartbeat keys derive from them

    async def half_boot() -> None:
        with db.writing() as session:
            records.create(
                session, amphora_id=half, lb_id=lb_id, compute_driver="local", image=None
            )
        with db.reading() as session:
            row = records.get(session, half)
        assert row is not None
        await dead.fleet.create_instance(row)

    asyncio.run(half_boot())
    assert amphora_pids(tmp_path)
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true").status_code == 204

    async def delete() -> None:
        provider = _controller(amphora_settings, db)
        try:
            await provider.delete(_snapshot(db, lb_id))
        finally:
            await provider.aclose()

    asyncio.run(delete())
    assert _live(db, lb_id) == []
    assert amphora_pids(tmp_path) == []


def test_an_amphora_whose_agent_died_is_replaced_and_its_haproxy_stopped(
    api: TestClient, amphora_settings: Settings, servers: list[Backend], tmp_path: Path
) -> None:
    db = _db(api)
    lb_id = create_graph(api, [http_listener(8084, servers)])
    asyncio.run(_apply(_controller(amphora_settings, db), _snapshot(db, lb_id)))
    [first] = _live(db, lb_id)
    agent_pid = int((tmp_path / "amphorae" / first.id / "agent.pid").read_text())
    os.kill(agent_pid, signal.SIGKILL)
    wait_for(lambda: agent_pid not in amphora_pids(tmp_path), timeout=10)

    asyncio.run(_apply(_controller(amphora_settings, db), _snapshot(db, lb_id)))
    [second] = _live(db, lb_id)
    assert second.id != first.id
    assert not (tmp_path / "amphorae" / first.id).exists()
    assert len(amphora_pids(tmp_path)) == 2
    assert get_through(_vip(api, lb_id, 8084)).text == "b0"


def test_delete_does_not_wait_on_the_controllers_kept_alive_connections(
    api: TestClient, amphora_settings: Settings, servers: list[Backend], tmp_path: Path
) -> None:
    """The agent stops while this controller's pool still holds a TLS connection to it.

    An idle TLS connection the controller never closes used to hold the agent's graceful
    stop until the compute driver's SIGKILL, 10 s later, for every deleted load balancer.
    """
    db = _db(api)
    lb_id = create_graph(api, [http_listener(8085, servers)])
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true").status_code == 204

    async def create_then_delete() -> float:
        provider = _controller(amphora_settings, db)
        try:
            await provider.apply(_snapshot(db, lb_id))  # leaves kept-alive connections
            started = time.monotonic()
            await provider.delete(_snapshot(db, lb_id))
            return time.monotonic() - started
        finally:
            await provider.aclose()

    assert asyncio.run(create_then_delete()) < 5.0
    assert amphora_pids(tmp_path) == []


CA_RACER = """
import hashlib, sys, time
from pathlib import Path
from portico.drivers.providers.base import ProviderContext
from portico.orchestrator.provider import AmphoraProvider
from portico.settings import Settings

settings = Settings(data_dir=Path(sys.argv[1]), database_url="sqlite://")
provider = AmphoraProvider(ProviderContext(settings=settings, database=None))
while time.time() < float(sys.argv[2]):
    pass
provider.fleet.client  # the controller's certificate, and the CA behind it
provider.fleet._issue("amphora")
print(hashlib.sha256(provider.fleet._ca.ca_pem).hexdigest())
"""


def test_controllers_started_together_share_one_ca(tmp_path: Path) -> None:
    """Several controllers on one data directory must not each create (and keep) a CA."""
    start_at = time.time() + 2.0
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", CA_RACER, str(tmp_path), str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    seen = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    on_disk = hashlib.sha256((tmp_path / "pki" / "ca.pem").read_bytes()).hexdigest()
    assert seen == {on_disk}
