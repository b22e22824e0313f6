"""Several ``portico controller`` processes on one PostgreSQL split the work, never doubling it.

``portico api`` writes desired state; three controllers (sharing one data directory, where
the CA lives) lease load balancers with ``FOR UPDATE SKIP LOCKED``. Each load balancer must
get exactly one amphora (no row was ever created for a second one), serve traffic, and its
agent must run the load balancer's generation; each haproxy was started once and reloaded
only for the one update. A slow pass keeps its lease, so nobody takes over a live worker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from portico import bootstrap
from portico.db.engine import Database, make_engine
from portico.db.models import Amphora, LoadBalancer
from portico.drivers.providers.base import ApplyResult, LoadBalancerSnapshot
from portico.reconciler.loop import Reconciler
from portico.services import reconcile
from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, create_lb, wait_for
from tests.support.amphorae import get_through, reap_amphorae
from tests.support.backends import backends
from tests.support.processes import PorticoProcess, free_port, start_controller, start_portico

V2 = "/v2/lbaas"
CONTROLLERS = 3
LOAD_BALANCERS = 6
CONVERGE_DEADLINE = 90.0
ENV = {"PORTICO_DEFAULT_PROVIDER_DRIVER": "amphora", "PORTICO_COMPUTE_DRIVER": "local"}


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[PorticoProcess]]:
    started: list[PorticoProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.stop()
        reap_amphorae(tmp_path / "data")


def _full_graph(members: list[dict[str, Any]], port: int) -> dict[str, Any]:
    return {
        "vip_subnet_id": LOCAL_SUBNET,
        "listeners": [
            {
                "protocol": "HTTP",
                "protocol_port": port,
                "default_pool": {
                    "name": "pool",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": members,
                },
            }
        ],
    }


def _all_active(client: httpx.Client, ids: list[str]) -> bool:
    lbs = {lb["id"]: lb for lb in client.get(f"{V2}/loadbalancers").json()["loadbalancers"]}
    for lb_id in ids:
        status = lbs[lb_id]["provisioning_status"]
        assert status != "ERROR", lbs[lb_id]
        if status != "ACTIVE":
            return False
    return True


def _agent_generation(data_dir: Path, amphora_id: str) -> int:
    state = json.loads((data_dir / "amphorae" / amphora_id / "haproxy" / "state.json").read_text())
    return int(state["generation"])


def _haproxy_loads(data_dir: Path, amphora_id: str) -> int:
    """How many configurations the amphora's haproxy master loaded (start + reloads)."""
    log = data_dir / "amphorae" / amphora_id / "haproxy" / "log" / "haproxy.log"
    return log.read_text(errors="replace").count("Loading success")


@pytest.mark.postgres
def test_controllers_split_the_work_with_one_amphora_per_load_balancer(
    postgres_url: str, tmp_path: Path, processes: list[PorticoProcess]
) -> None:
    data_dir = tmp_path / "data"
    bootstrap.upgrade_database(Settings(database_url=postgres_url, data_dir=data_dir))
    api = start_portico("api", data_dir=data_dir, database_url=postgres_url, env=ENV)
    processes.append(api)
    for _ in range(CONTROLLERS):
        processes.append(start_controller(data_dir=data_dir, database_url=postgres_url, env=ENV))
    engine = create_engine(postgres_url)
    try:
        with backends(3) as servers, httpx.Client(base_url=api.url, timeout=10) as client:
            members = [{"address": s.address, "protocol_port": s.port} for s in servers]
            ports = [free_port() for _ in range(LOAD_BALANCERS)]
            ids = []
            for port in ports:
                body = {"loadbalancer": _full_graph(members[:2], port)}
                created = client.post(f"{V2}/loadbalancers", json=body)
                assert created.status_code == 201, created.text
                ids.append(created.json()["loadbalancer"]["id"])
            wait_for(lambda: _all_active(client, ids), timeout=CONVERGE_DEADLINE, interval=0.1)

            # One update each (a member added): every controller may pick any of them up.
            for lb_id in ids:
                pool_id = client.get(f"{V2}/loadbalancers/{lb_id}").json()["loadbalancer"]["pools"][
                    0
                ]["id"]
                added = client.post(f"{V2}/pools/{pool_id}/members", json={"member": members[2]})
                assert added.status_code == 201, added.text
            wait_for(lambda: _all_active(client, ids), timeout=CONVERGE_DEADLINE, interval=0.1)

            with engine.connect() as conn:
                rows = conn.execute(select(Amphora.id, Amphora.load_balancer_id, Amphora.status))
                amphorae: dict[str, list[Any]] = {lb_id: [] for lb_id in ids}
                for row in rows:
                    amphorae[row.load_balancer_id].append(row)
                generations = dict(
                    conn.execute(select(LoadBalancer.id, LoadBalancer.generation)).all()
                )
            for lb_id, port in zip(ids, ports, strict=True):
                # Never a second amphora for one load balancer (not even one deleted since).
                [amphora] = amphorae[lb_id]
                assert amphora.status == "ALLOCATED"
                assert _agent_generation(data_dir, amphora.id) == generations[lb_id]
                # Started once, then one change for the added member: no push applied twice.
                assert _haproxy_loads(data_dir, amphora.id) <= 2
                vip = client.get(f"{V2}/loadbalancers/{lb_id}").json()["loadbalancer"][
                    "vip_address"
                ]
                seen = {get_through(f"http://{vip}:{port}/").text for _ in range(6)}
                assert seen == {"b0", "b1", "b2"}
        for proc in processes:
            assert proc.alive(), proc.output()
    finally:
        engine.dispose()


class SlowProvider:
    """Takes longer than the lease to converge (a slow boot)."""

    name = "noop"
    description = "slow"

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def apply(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        self.started.set()
        # The slow boot is the behaviour under test: five leases (0.3 s) long, so the lease
        # must be renewed several times while the pass runs.
        await asyncio.sleep(1.5)
        return ApplyResult()

    async def delete(self, snapshot: LoadBalancerSnapshot) -> None:
        return None

    def unsupported(self, feature: str) -> bool:
        return False


def test_a_slow_pass_keeps_its_lease(
    database_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(database_url, reconcile_lease_seconds=0.3)
    client = client_factory(settings, with_reconciler=False)
    lb_id = create_lb(client)
    db = Database(make_engine(settings.effective_database_url))
    provider = SlowProvider()
    reconciler = Reconciler(db, {"noop": provider}, settings)

    def rival_claims() -> list[str]:
        with db.writing() as session:
            return reconcile.claim(session, owner="rival", lease_seconds=30, limit=10)

    async def race() -> list[list[str]]:
        passing = asyncio.create_task(reconciler.run_until_idle())
        await provider.started.wait()
        seen = []
        while not passing.done():
            # Well past the 0.3 s lease: the live worker must still hold it.
            seen.append(await asyncio.to_thread(rival_claims))
            await asyncio.sleep(0.1)  # a rival's claim every 0.1 s for as long as the pass runs
        await passing
        return seen

    try:
        claims = asyncio.run(race())
        assert len(claims) >= 5
        assert all(found == [] for found in claims)
        with db.reading() as session:
            lb = session.get(LoadBalancer, lb_id)
            assert lb is not None
            assert (lb.provisioning_status, lb.lease_owner) == ("ACTIVE", None)
    finally:
        db.dispose()
