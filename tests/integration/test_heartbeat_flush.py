"""The health service's batch write on a real database (SQLite and PostgreSQL): statuses
that changed, provisioning untouched, stale heartbeats ignored, counters cumulative."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from portico.db.engine import Database
from portico.db.models import Amphora, ListenerStatistics, LoadBalancer, Member
from portico.domain.constants import AmphoraStatus
from portico.services import amphora_records, heartbeats
from portico.settings import Settings
from portico.wire.heartbeat import Heartbeat, ListenerReport, PoolReport, ServerStatus
from tests.conftest import LOCAL_SUBNET, wait_lb_status

LBS = "/v2/lbaas/loadbalancers"


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.portico.db  # type: ignore[attr-defined]
    return db


def _graph(client: TestClient) -> dict[str, str]:
    monitor = {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1}
    members = [{"address": "127.0.0.1", "protocol_port": p} for p in (9001, 9002)]
    pool = {"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": members}
    listener = {
        "protocol": "HTTP",
        "protocol_port": 80,
        "default_pool": {**pool, "healthmonitor": monitor},
    }
    body = {"vip_subnet_id": LOCAL_SUBNET, "listeners": [listener]}
    created = client.post(LBS, json={"loadbalancer": body})
    assert created.status_code == 201, created.text
    lb = wait_lb_status(client, created.json()["loadbalancer"]["id"])
    listener_id = lb["listeners"][0]["id"]
    pool_id = lb["pools"][0]["id"]
    found = client.get(f"/v2/lbaas/pools/{pool_id}/members").json()["members"]
    m1, m2 = sorted(found, key=lambda m: m["protocol_port"])
    amphora_id = str(uuid.uuid4())
    with _db(client).writing() as session:
        session.add(Amphora(id=amphora_id, load_balancer_id=lb["id"], status="ALLOCATED"))
    return {
        "lb": lb["id"],
        "listener": listener_id,
        "pool": pool_id,
        "m1": m1["id"],
        "m2": m2["id"],
        "amphora": amphora_id,
    }


def _applied(client: TestClient, lb_id: str) -> int:
    with _db(client).reading() as session:
        return int(
            session.scalar(select(LoadBalancer.applied_generation).where(LoadBalancer.id == lb_id))
            or 0
        )


def _beat(
    client: TestClient,
    ids: dict[str, str],
    *,
    sequence: int,
    generation: int,
    words: tuple[ServerStatus, ServerStatus] = ("UP", "UP"),
    connections: int = 0,
    listener: str | None = None,
) -> None:
    report = ListenerReport(
        status="OPEN",
        bytes_in=10 * connections,
        bytes_out=100 * connections,
        active_connections=1,
        total_connections=connections,
    )
    heartbeat = Heartbeat(
        amphora_id=ids["amphora"],
        generation=generation,
        listeners={listener or ids["listener"]: report},
        pools={
            f"{ids['pool']}:{ids['listener']}": PoolReport(
                status="UP", members={ids["m1"]: words[0], ids["m2"]: words[1]}
            )
        },
    )
    at = dt.datetime(2026, 1, 1)
    heartbeats.record(
        _db(client),
        [heartbeats.HeartbeatRecord(ids["amphora"], at, sequence, generation, heartbeat)],
    )


def _view(client: TestClient, ids: dict[str, str]) -> dict[str, Any]:
    lb = client.get(f"{LBS}/{ids['lb']}").json()["loadbalancer"]
    pool = client.get(f"/v2/lbaas/pools/{ids['pool']}").json()["pool"]
    members = {
        m["id"]: m["operating_status"]
        for m in client.get(f"/v2/lbaas/pools/{ids['pool']}/members").json()["members"]
    }
    return {
        "lb": (lb["provisioning_status"], lb["operating_status"]),
        "pool": pool["operating_status"],
        "m1": members[ids["m1"]],
        "m2": members[ids["m2"]],
        "stats": client.get(f"{LBS}/{ids['lb']}/stats").json()["stats"],
    }


def test_heartbeats_write_changed_statuses_and_cumulative_counters(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    # The test writes the heartbeats itself: a health service of the app's own would fail the
    # silent amphora over once heartbeat_timeout passed (on a loaded machine, mid-test).
    client = client_factory(settings_factory(database_url, run_health=False))
    ids = _graph(client)
    applied = _applied(client, ids["lb"])

    _beat(client, ids, sequence=10, generation=applied, words=("UP", "DOWN"), connections=5)
    view = _view(client, ids)
    assert (view["lb"], view["pool"], view["m1"], view["m2"]) == (
        ("ACTIVE", "DEGRADED"),
        "DEGRADED",
        "ONLINE",
        "ERROR",
    )
    assert view["stats"] == {
        "bytes_in": 50,
        "bytes_out": 500,
        "active_connections": 1,
        "total_connections": 5,
        "request_errors": 0,
    }

    # Sent before the last push: its statuses are not believed; its counters (a restarted
    # haproxy's, lower than before) still count, whole.
    _beat(client, ids, sequence=11, generation=applied - 1, connections=2)
    view = _view(client, ids)
    assert (view["lb"], view["pool"], view["m2"]) == (("ACTIVE", "DEGRADED"), "DEGRADED", "ERROR")
    assert view["stats"]["total_connections"] == 7

    # A heartbeat older than one already counted (another health service's) changes nothing.
    _beat(client, ids, sequence=9, generation=applied, connections=50)
    assert _view(client, ids)["stats"]["total_connections"] == 7

    # A frontend the database does not know (a deleted listener) is not counted.
    _beat(client, ids, sequence=12, generation=applied, listener=str(uuid.uuid4()))
    assert _view(client, ids)["stats"]["total_connections"] == 7

    # An object on its way out keeps its status; the others recover.
    with _db(client).writing() as session:
        session.execute(
            update(Member)
            .where(Member.id == ids["m1"])
            .values(provisioning_status="PENDING_DELETE")
        )
    _beat(client, ids, sequence=13, generation=applied, words=("DOWN", "UP"), connections=4)
    view = _view(client, ids)
    assert (view["lb"], view["pool"], view["m1"], view["m2"]) == (
        ("ACTIVE", "ONLINE"),
        "ONLINE",
        "ONLINE",
        "ONLINE",
    )
    assert view["stats"]["total_connections"] == 9

    # A deleted amphora's traffic stays counted; its connections are gone.
    with _db(client).writing() as session:
        amphora_records.mark(session, ids["amphora"], AmphoraStatus.DELETED)
    _beat(client, ids, sequence=14, generation=applied, connections=40)
    stats = _view(client, ids)["stats"]
    assert (stats["total_connections"], stats["active_connections"]) == (9, 0)
    with _db(client).reading() as session:
        assert session.scalar(select(ListenerStatistics.bytes_in)) == 90
