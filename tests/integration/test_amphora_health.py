"""The narrow liveness table: migrated from the amphora rows, written by the health service,
read by the stale check. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, insert, select, text

from portico.db import migrate
from portico.db.base import utcnow
from portico.db.engine import Database, make_engine
from portico.db.health_models import AmphoraHealth
from portico.db.models import Amphora
from portico.services import heartbeat_cache, heartbeats
from portico.services.failover import check_stale
from portico.settings import Settings
from tests.conftest import wait_for

TIMEOUT = 3.0


def test_upgrade_moves_the_heartbeats_of_a_populated_database_and_downgrade_returns_them(
    database_url: str,
) -> None:
    migrate.upgrade(database_url, "0003_listener_ddos_limits")
    heard_at = dt.datetime(2026, 12, 3, 10, 0, 0, 250000)
    heard, silent = str(uuid.uuid4()), str(uuid.uuid4())
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            for amphora_id, at, sequence in ((heard, heard_at, 77), (silent, None, None)):
                conn.execute(
                    text(
                        "INSERT INTO amphora (id, status, cert_busy, capabilities, network_legs,"
                        " applied_generation, created_at, last_heartbeat_at, heartbeat_sequence,"
                        " heartbeat_generation) VALUES (:id, 'ALLOCATED', false, '[]', '{}', 3,"
                        " :created, :at, :seq, :gen)"
                    ),
                    {"id": amphora_id, "created": heard_at, "at": at, "seq": sequence, "gen": 3},
                )
        migrate.upgrade(database_url)
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    AmphoraHealth.amphora_id,
                    AmphoraHealth.last_heartbeat_at,
                    AmphoraHealth.sequence,
                    AmphoraHealth.generation,
                )
            ).all()
            assert [tuple(r) for r in rows] == [(heard, heard_at, 77, 3)]
            shown = dict(conn.execute(select(Amphora.id, Amphora.last_heartbeat_at)).all())
            assert shown == {heard: heard_at, silent: None}

        migrate.downgrade(database_url, "0003_listener_ddos_limits")
        with engine.connect() as conn:
            back = conn.execute(
                text(
                    "SELECT id, last_heartbeat_at, heartbeat_sequence, heartbeat_generation "
                    "FROM amphora ORDER BY id"
                )
            ).all()
        assert {r[0]: (r[2], r[3]) for r in back} == {heard: (77, 3), silent: (None, None)}
    finally:
        engine.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    migrate.upgrade(database_url)
    found = Database(make_engine(database_url))
    try:
        yield found
    finally:
        found.dispose()


def _amphora(db: Database) -> str:
    amphora_id = str(uuid.uuid4())
    with db.writing() as session:
        session.execute(
            insert(Amphora),
            [{"id": amphora_id, "status": "READY", "created_at": utcnow(), "capabilities": []}],
        )
    return amphora_id


def _health(db: Database, amphora_id: str) -> tuple[dt.datetime, int] | None:
    with db.reading() as session:
        row = session.execute(
            select(AmphoraHealth.last_heartbeat_at, AmphoraHealth.sequence).where(
                AmphoraHealth.amphora_id == amphora_id
            )
        ).one_or_none()
    return None if row is None else (row[0], row[1])


def _beat(
    db: Database, cache: heartbeat_cache.Cache, amphora_id: str, seq: int, at: dt.datetime
) -> None:
    heartbeats.record(db, [heartbeats.HeartbeatRecord(amphora_id, at, seq, 1)], cache=cache)


def test_a_lagging_health_service_never_takes_the_sequence_back(db: Database) -> None:
    amphora_id = _amphora(db)
    stranger = str(uuid.uuid4())  # no amphora row: nothing is written for it
    ahead, behind = heartbeat_cache.Cache(), heartbeat_cache.Cache()
    first = utcnow()
    _beat(db, ahead, amphora_id, 10, first)
    _beat(db, behind, stranger, 10, first)
    assert _health(db, amphora_id) == (first, 10)
    assert _health(db, stranger) is None

    # The other health service's batch comes later, with an older heartbeat.
    _beat(db, behind, amphora_id, 9, first + dt.timedelta(seconds=1))
    assert _health(db, amphora_id) == (first, 10)
    later = first + dt.timedelta(seconds=2)
    _beat(db, behind, amphora_id, 11, later)
    assert _health(db, amphora_id) == (later, 11)

    with db.writing() as session:  # the purge deletes the amphora: its health row goes with it
        session.execute(delete(Amphora).where(Amphora.id == amphora_id))
    assert _health(db, amphora_id) is None


def test_the_stale_check_reads_the_health_table_not_the_amphora_row(db: Database) -> None:
    now = utcnow()
    silent, fresh, never = _amphora(db), _amphora(db), _amphora(db)
    cache = heartbeat_cache.Cache()
    _beat(db, cache, silent, 1, now - dt.timedelta(seconds=TIMEOUT + 2))
    _beat(db, cache, fresh, 1, now - dt.timedelta(seconds=TIMEOUT + 2))
    _beat(db, cache, fresh, 2, now - dt.timedelta(seconds=0.2))
    with db.writing() as session:
        outcome = check_stale(session, timeout=TIMEOUT, interval=1.0, threshold=None, now=now)
    assert outcome.failed_over == [(silent, None)]
    with db.reading() as session:
        statuses = dict(session.execute(select(Amphora.id, Amphora.status)).all())
    assert statuses == {silent: "ERROR", fresh: "READY", never: "READY"}


@pytest.mark.postgres
def test_a_heartbeat_committed_while_the_stale_check_waits_saves_its_amphora(
    postgres_url: str,
) -> None:
    migrate.upgrade(postgres_url)
    health, checker = Database(make_engine(postgres_url)), Database(make_engine(postgres_url))
    try:
        amphora_id = _amphora(health)
        now = utcnow()
        cache = heartbeat_cache.Cache()
        _beat(health, cache, amphora_id, 1, now - dt.timedelta(seconds=TIMEOUT + 2))
        # A batch writes the amphora's next heartbeat and has not committed yet.
        batch = health.engine.connect()
        transaction = batch.begin()
        heartbeat_cache.record_liveness(batch, heartbeat_cache.Cache(), [(amphora_id, now, 2, 1)])
        blocked = threading.Event()

        def check() -> list[tuple[str, str | None]]:
            with checker.writing() as session:
                blocked.set()
                done = check_stale(session, timeout=TIMEOUT, interval=1.0, threshold=None, now=now)
                return done.failed_over

        with ThreadPoolExecutor(max_workers=1) as pool:
            outcome = pool.submit(check)
            blocked.wait(timeout=10)
            # The check saw the old heartbeat and now waits on the batch's row lock.
            wait_for(lambda: _waiting_on_a_lock(postgres_url), timeout=10.0)
            transaction.commit()
            batch.close()
            assert outcome.result(timeout=30) == []
        with health.reading() as session:
            assert session.scalar(select(Amphora.status).where(Amphora.id == amphora_id)) == "READY"
    finally:
        health.dispose()
        checker.dispose()


def _waiting_on_a_lock(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            waiting = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
    finally:
        engine.dispose()
    return bool(waiting)


def test_the_api_shows_the_last_heartbeat_and_its_age_from_the_health_table(
    client: TestClient, settings_factory: Callable[..., Settings]
) -> None:
    db = Database(make_engine(settings_factory().effective_database_url))
    try:
        heard, never = _amphora(db), _amphora(db)
        at = utcnow() - dt.timedelta(seconds=30)
        _beat(db, heartbeat_cache.Cache(), heard, 1, at)
    finally:
        db.dispose()

    shown = client.get(f"/v2/octavia/amphorae/{heard}").json()["amphora"]
    assert shown["last_heartbeat_at"] == at.replace(microsecond=0).isoformat()
    assert 30 <= shown["heartbeat_age_seconds"] < 60
    silent = client.get(f"/v2/octavia/amphorae/{never}").json()["amphora"]
    assert (silent["last_heartbeat_at"], silent["heartbeat_age_seconds"]) == (None, None)
    listed = client.get("/v2/octavia/amphorae?sort=last_heartbeat_at:desc").json()["amphorae"]
    # Sorted by the health table's column (SQLite puts NULL last in a descending sort).
    assert [a["id"] for a in listed if a["id"] in (heard, never)] == [heard, never]
