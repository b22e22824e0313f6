"""Crash safety: a process killed with SIGKILL leaves nothing stuck in PENDING_* for good.

Octavia's commonest complaint is objects stuck in PENDING_* after a controller died mid-flow.
portico records desired state first and reconciles level-triggered, so a restart must finish
whatever was recorded: writes that were never reconciled, and load balancers leased by a
worker that died while converging them (their lease expires and another worker takes over).
These tests kill a real ``portico serve`` (by its pid) and restart it on the same SQLite file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select

from portico.db.engine import Database, make_engine
from portico.db.models import LoadBalancer
from portico.drivers.providers.noop import NoopProvider
from portico.reconciler.loop import Reconciler
from portico.services import reconcile
from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, create_lb, wait_for
from tests.support.processes import PorticoProcess, start_portico

V2 = "/v2/lbaas"
RESOURCES = ("loadbalancers", "listeners", "pools", "members", "healthmonitors")
CONVERGE_DEADLINE = 60.0


@pytest.fixture
def processes() -> Iterator[list[PorticoProcess]]:
    """Every process a test starts; all stopped by pid at the end, whatever happened."""
    started: list[PorticoProcess] = []
    yield started
    for proc in started:
        proc.stop()


def _serve(
    tmp_path: Path, started: list[PorticoProcess], *, reconciler: bool, **env: str
) -> PorticoProcess:
    settings_env = {"PORTICO_RUN_RECONCILER": "true" if reconciler else "false"}
    settings_env |= {f"PORTICO_{k.upper()}": v for k, v in env.items()}
    proc = start_portico("serve", data_dir=tmp_path / "data", env=settings_env)
    started.append(proc)
    return proc


def _post(client: httpx.Client, path: str, key: str, body: dict[str, Any]) -> str:
    response = client.post(path, json={key: body})
    assert response.status_code == 201, response.text
    return str(response.json()[key]["id"])


def _pending_everywhere(client: httpx.Client) -> list[str]:
    """Every object a user would see in PENDING_* (or ERROR), across the resource lists."""
    stuck = []
    for resource in RESOURCES:
        if resource == "members":
            continue  # listed per pool below
        body = client.get(f"{V2}/{resource}", params={"limit": "infinite"}).json()
        stuck += [
            f"{resource}/{o['id']}:{o['provisioning_status']}"
            for o in body[resource]
            if o["provisioning_status"] != "ACTIVE"
        ]
    for pool in client.get(f"{V2}/pools", params={"limit": "infinite"}).json()["pools"]:
        members = client.get(f"{V2}/pools/{pool['id']}/members").json()["members"]
        stuck += [f"member/{m['id']}" for m in members if m["provisioning_status"] != "ACTIVE"]
    return stuck


def _converged(client: httpx.Client) -> bool:
    return not _pending_everywhere(client)


def _record_unreconciled_writes(client: httpx.Client) -> dict[str, str]:
    """Creates, an update and a cascade delete, all recorded while no reconciler runs."""
    lb_ids = [
        _post(client, f"{V2}/loadbalancers", "loadbalancer", {"vip_subnet_id": LOCAL_SUBNET})
        for _ in range(5)
    ]
    listener = {"loadbalancer_id": lb_ids[0], "protocol": "HTTP", "protocol_port": 80}
    listener_id = _post(client, f"{V2}/listeners", "listener", listener)
    pool = {"listener_id": listener_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    pool_id = _post(client, f"{V2}/pools", "pool", pool)
    member = {"address": "127.0.0.20", "protocol_port": 8080}
    _post(client, f"{V2}/pools/{pool_id}/members", "member", member)
    hm = {"pool_id": pool_id, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}
    _post(client, f"{V2}/healthmonitors", "healthmonitor", hm)
    renamed = client.put(f"{V2}/loadbalancers/{lb_ids[1]}", json={"loadbalancer": {"name": "r"}})
    assert renamed.status_code == 200, renamed.text
    deleted = client.delete(f"{V2}/loadbalancers/{lb_ids[2]}", params={"cascade": "true"})
    assert deleted.status_code == 204, deleted.text
    return {"with_children": lb_ids[0], "renamed": lb_ids[1], "deleted": lb_ids[2]}


def test_writes_recorded_before_a_kill_converge_after_restart(
    tmp_path: Path, processes: list[PorticoProcess]
) -> None:
    first = _serve(tmp_path, processes, reconciler=False)
    with httpx.Client(base_url=first.url, timeout=10) as client:
        ids = _record_unreconciled_writes(client)
        assert len(_pending_everywhere(client)) >= 9  # 5 LBs and 4 children, all PENDING_*
    first.kill9()

    second = _serve(tmp_path, processes, reconciler=True)
    with httpx.Client(base_url=second.url, timeout=10) as client:
        wait_for(lambda: _converged(client), timeout=CONVERGE_DEADLINE, interval=0.1)
        lbs = {lb["id"]: lb for lb in client.get(f"{V2}/loadbalancers").json()["loadbalancers"]}
        assert ids["deleted"] not in lbs
        assert lbs[ids["renamed"]]["name"] == "r"
        status = client.get(f"{V2}/loadbalancers/{ids['with_children']}/status").json()
        listener = status["statuses"]["loadbalancer"]["listeners"][0]
        assert listener["pools"][0]["members"][0]["provisioning_status"] == "ACTIVE"


def _count_pending(engine: Engine) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).where(LoadBalancer.generation > LoadBalancer.applied_generation)
        return int(conn.scalar(stmt.select_from(LoadBalancer)) or 0)


def _count_leased(engine: Engine) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).where(LoadBalancer.lease_owner.is_not(None))
        return int(conn.scalar(stmt.select_from(LoadBalancer)) or 0)


def test_kill_while_reconciling_leaves_nothing_pending_after_restart(
    tmp_path: Path, processes: list[PorticoProcess]
) -> None:
    total = 150
    first = _serve(tmp_path, processes, reconciler=False)
    with httpx.Client(base_url=first.url, timeout=10) as client:
        for _ in range(total):
            _post(client, f"{V2}/loadbalancers", "loadbalancer", {"vip_subnet_id": LOCAL_SUBNET})
    first.kill9()

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'portico.sqlite3'}")
    try:
        assert _count_pending(engine) == total
        # One worker and a short lease: converging takes a while, and what it held when
        # killed must be taken over quickly after the restart.
        env = {"reconcile_workers": "1", "reconcile_lease_seconds": "1"}
        reconciling = _serve(tmp_path, processes, reconciler=True, **env)

        def mid_pass() -> bool:
            # Under way, and a load balancer is leased right now: kill inside a pass.
            return _count_pending(engine) < total - 10 and _count_leased(engine) > 0

        wait_for(mid_pass, timeout=CONVERGE_DEADLINE, interval=0)
        reconciling.kill9()
        left = _count_pending(engine)
        leased_at_kill = _count_leased(engine)  # usually 1: the pass the kill interrupted
        assert 0 < left < total, "the kill must land while reconciling is under way"

        third = _serve(tmp_path, processes, reconciler=True, **env)
        wait_for(lambda: _count_pending(engine) == 0, timeout=CONVERGE_DEADLINE, interval=0.05)
        assert _count_leased(engine) == 0, f"{leased_at_kill} leased at the kill"
        with httpx.Client(base_url=third.url, timeout=10) as client:
            wait_for(lambda: _converged(client), timeout=CONVERGE_DEADLINE, interval=0.1)
            listed = client.get(f"{V2}/loadbalancers", params={"limit": "infinite"}).json()
            assert len(listed["loadbalancers"]) == total
    finally:
        engine.dispose()


# --- leases, services level --------------------------------------------------------------


def test_a_lease_left_by_a_dead_worker_expires_and_is_taken_over(
    database_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(database_url, reconcile_lease_seconds=0.5)
    client = client_factory(settings, with_reconciler=False)
    lb_id = create_lb(client)
    db = Database(make_engine(settings.effective_database_url))
    try:
        # A worker claims the load balancer and dies before recording anything.
        with db.writing() as session:
            assert reconcile.claim(session, owner="dead", lease_seconds=0.5, limit=10) == [lb_id]

        def claim_as_survivor() -> list[str]:
            with db.writing() as session:
                return reconcile.claim(session, owner="survivor", lease_seconds=30, limit=10)

        assert claim_as_survivor() == []  # the dead worker's lease still holds
        started = time.monotonic()
        assert wait_for(claim_as_survivor, timeout=10, interval=0.05) == [lb_id]
        assert time.monotonic() - started < 5

        # A real reconciler finishes the job once the survivor's lease is gone too.
        with db.writing() as session:
            lb = session.get(LoadBalancer, lb_id)
            assert lb is not None
            lb.lease_owner, lb.lease_expires = None, None
        asyncio.run(Reconciler(db, {"noop": NoopProvider()}, settings).run_until_idle())
        with db.reading() as session:
            lb = session.get(LoadBalancer, lb_id)
            assert lb is not None
            assert (lb.provisioning_status, lb.lease_owner) == ("ACTIVE", None)
            assert lb.applied_generation == lb.generation
    finally:
        db.dispose()


def test_a_result_recorded_by_the_dead_worker_after_takeover_is_ignored(
    sqlite_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    """A worker that was only slow (not dead) must not overwrite the new owner's outcome."""
    settings = settings_factory(sqlite_url)
    client = client_factory(settings, with_reconciler=False)
    lb_id = create_lb(client)
    db = Database(make_engine(settings.effective_database_url))
    try:
        with db.writing() as session:
            reconcile.claim(session, owner="slow", lease_seconds=0.2, limit=10)

        def take_over() -> list[str]:
            with db.writing() as session:
                return reconcile.claim(session, owner="new", lease_seconds=30, limit=10)

        assert wait_for(take_over, timeout=10, interval=0.05) == [lb_id]
        with db.writing() as session:
            reconcile.record_failure(
                session,
                lb_id,
                owner="slow",
                generation=1,
                reason="late",
                permanent=True,
                max_retries=0,
            )
        with db.reading() as session:
            lb = session.get(LoadBalancer, lb_id)
            assert lb is not None
            assert (lb.provisioning_status, lb.lease_owner) == ("PENDING_CREATE", "new")
    finally:
        db.dispose()
