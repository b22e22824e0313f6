"""Two real API processes on one PostgreSQL database, hammered at once: no race gets through.

The invariants are the ones the row locks in ``services/changes.py`` (per load balancer) and
``services/quotas.py`` (per project) exist for: one listener per port, one member per
address and port, a quota never overrun, and no lost generation bump when different children
of one load balancer change at the same instant. Requests alternate between the two
processes and start together behind a barrier; every loop is bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from portico import bootstrap
from portico.db.models import Listener, LoadBalancer
from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, wait_for
from tests.support.processes import PorticoProcess, start_controller, start_portico

V2 = "/v2/lbaas"
RACERS = 12

pytestmark = pytest.mark.postgres


def start_apis(
    postgres_url: str, tmp_path: Path, started: list[PorticoProcess], **env: str
) -> list[PorticoProcess]:
    """Two ``portico api`` processes (no reconciler) sharing one migrated database."""
    bootstrap.upgrade_database(Settings(database_url=postgres_url, data_dir=tmp_path))
    settings_env = {f"PORTICO_{k.upper()}": v for k, v in env.items()}
    pair = []
    for name in ("a", "b"):
        proc = start_portico(
            "api", data_dir=tmp_path / name, database_url=postgres_url, env=settings_env
        )
        started.append(proc)
        pair.append(proc)
    return pair


@pytest.fixture
def started() -> Iterator[list[PorticoProcess]]:
    """Every process a test starts; stopped by pid at the end, whatever happened."""
    procs: list[PorticoProcess] = []
    yield procs
    for proc in procs:
        proc.stop()


@pytest.fixture
def apis(postgres_url: str, tmp_path: Path, started: list[PorticoProcess]) -> list[PorticoProcess]:
    return start_apis(postgres_url, tmp_path, started)


def race(
    apis: list[PorticoProcess], count: int, call: Callable[[httpx.Client, int], Any]
) -> list[Any]:
    """Run ``call`` ``count`` times at once, alternating between the API processes."""
    barrier = threading.Barrier(count)

    def one(i: int) -> Any:
        with httpx.Client(base_url=apis[i % len(apis)].url, timeout=30) as client:
            client.get("/")  # connect before the barrier, so the requests really overlap
            barrier.wait(timeout=30)
            return call(client, i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def _create(client: httpx.Client, path: str, key: str, body: dict[str, Any], **kw: Any) -> str:
    response = client.post(path, json={key: body}, **kw)
    assert response.status_code == 201, response.text
    return str(response.json()[key]["id"])


def _new_lb(api: PorticoProcess) -> str:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        body = {"vip_subnet_id": LOCAL_SUBNET}
        return _create(client, f"{V2}/loadbalancers", "loadbalancer", body)


def _codes(responses: list[httpx.Response]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for response in responses:
        counts[response.status_code] = counts.get(response.status_code, 0) + 1
    return counts


def test_concurrent_listeners_on_one_port_one_wins(apis: list[PorticoProcess]) -> None:
    lb_id = _new_lb(apis[0])
    body = {"loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 8080}
    responses = race(apis, RACERS, lambda c, i: c.post(f"{V2}/listeners", json={"listener": body}))
    assert _codes(responses) == {201: 1, 409: RACERS - 1}, [r.text for r in responses]
    with httpx.Client(base_url=apis[1].url) as client:
        listed = client.get(f"{V2}/listeners", params={"loadbalancer_id": lb_id}).json()
    assert len(listed["listeners"]) == 1


def test_concurrent_members_with_one_address_one_wins(apis: list[PorticoProcess]) -> None:
    lb_id = _new_lb(apis[0])
    with httpx.Client(base_url=apis[0].url, timeout=30) as client:
        pool = {"loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
        pool_id = _create(client, f"{V2}/pools", "pool", pool)
    member = {"member": {"address": "127.0.0.30", "protocol_port": 8080}}
    path = f"{V2}/pools/{pool_id}/members"
    responses = race(apis, RACERS, lambda c, i: c.post(path, json=member))
    assert _codes(responses) == {201: 1, 409: RACERS - 1}, [r.text for r in responses]
    with httpx.Client(base_url=apis[1].url) as client:
        assert len(client.get(path).json()["members"]) == 1


def test_project_quota_holds_under_concurrent_creates(apis: list[PorticoProcess]) -> None:
    limit, project = 3, "quota-race-project"
    with httpx.Client(base_url=apis[0].url, timeout=30) as client:
        body = {"quota": {"load_balancer": limit}}
        assert client.put(f"{V2}/quotas/{project}", json=body).status_code == 202
    headers = {"x-project-id": project}
    lb = {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET}}

    def create(client: httpx.Client, _i: int) -> httpx.Response:
        return client.post(f"{V2}/loadbalancers", json=lb, headers=headers)

    responses = race(apis, RACERS, create)
    assert _codes(responses) == {201: limit, 403: RACERS - limit}, [r.text for r in responses]
    with httpx.Client(base_url=apis[1].url) as client:
        listed = client.get(f"{V2}/loadbalancers", params={"project_id": project}).json()
    assert len(listed["loadbalancers"]) == limit


def test_default_quota_holds_when_no_quota_row_exists_yet(
    postgres_url: str, tmp_path: Path, started: list[PorticoProcess]
) -> None:
    """The first writers of a new project also race to create its quota row."""
    limit = 2
    pair = start_apis(postgres_url, tmp_path, started, default_quota_load_balancer=str(limit))
    lb = {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET}}

    def create(client: httpx.Client, _i: int) -> httpx.Response:
        return client.post(f"{V2}/loadbalancers", json=lb, headers={"x-project-id": "fresh"})

    responses = race(pair, RACERS, create)
    assert _codes(responses) == {201: limit, 403: RACERS - limit}, [r.text for r in responses]


def test_concurrent_child_updates_all_land_and_converge_once(
    apis: list[PorticoProcess], postgres_url: str, tmp_path: Path
) -> None:
    lb_id = _new_lb(apis[0])
    ports = list(range(8000, 8006))
    with httpx.Client(base_url=apis[0].url, timeout=30) as client:
        listener_ids = [
            _create(
                client,
                f"{V2}/listeners",
                "listener",
                {"loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": port},
            )
            for port in ports
        ]
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            start = conn.scalar(select(LoadBalancer.generation).where(LoadBalancer.id == lb_id))
        rounds = 4

        def update(client: httpx.Client, i: int) -> list[int]:
            codes = []
            for r in range(rounds):
                if i < len(listener_ids):
                    body: dict[str, Any] = {"listener": {"name": f"l{i}-r{r}"}}
                    url = f"{V2}/listeners/{listener_ids[i]}"
                else:  # two racers change the load balancer itself meanwhile
                    body, url = (
                        {"loadbalancer": {"name": f"lb{i}-r{r}"}},
                        f"{V2}/loadbalancers/{lb_id}",
                    )
                codes.append(client.put(url, json=body).status_code)
            return codes

        racers = len(listener_ids) + 2
        results = race(apis, racers, update)
        assert all(code == 200 for codes in results for code in codes), results

        with engine.connect() as conn:
            generation = conn.scalar(
                select(LoadBalancer.generation).where(LoadBalancer.id == lb_id)
            )
            names = dict(
                conn.execute(
                    select(Listener.id, Listener.name).where(Listener.load_balancer_id == lb_id)
                ).all()
            )
        # Every accepted write bumped the generation exactly once: no lost update.
        assert generation == start + racers * rounds
        assert names == {lid: f"l{i}-r{rounds - 1}" for i, lid in enumerate(listener_ids)}

        controller = start_controller(data_dir=tmp_path / "ctl", database_url=postgres_url)
        try:

            def converged() -> bool:
                with engine.connect() as conn:
                    row = conn.execute(
                        select(
                            LoadBalancer.provisioning_status,
                            LoadBalancer.applied_generation,
                        ).where(LoadBalancer.id == lb_id)
                    ).one()
                return tuple(row) == ("ACTIVE", generation)

            wait_for(converged, timeout=60, interval=0.05)
            with engine.connect() as conn:
                statuses = set(
                    conn.scalars(
                        select(Listener.provisioning_status).where(
                            Listener.load_balancer_id == lb_id
                        )
                    )
                )
            assert statuses == {"ACTIVE"}
        finally:
            controller.stop()
    finally:
        engine.dispose()
