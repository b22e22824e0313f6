"""The stale-amphora check on a real database (SQLite and PostgreSQL): which rows it marks,
what it does to their load balancers, the events it stores, the circuit breaker (and how
the health service reports it), two health services racing on one PostgreSQL database
without failing anything over twice, and an operator's failover racing the check.

Load balancers come from the API (noop provider, no reconciler running, so nothing moves
their statuses but the check); amphora rows are inserted as the controller writes them, and
``check_stale`` runs with an explicit ``now`` so silences are exact.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text

from portico.db.base import utcnow
from portico.db.engine import Database, make_engine
from portico.db.health_models import AmphoraHealth
from portico.db.models import Amphora, Event, LoadBalancer
from portico.domain.failover import Threshold
from portico.domain.policy import Caller
from portico.health.staleness import StaleWatcher
from portico.services import amphorae as amphora_service
from portico.services.failover import StaleOutcome, check_stale
from portico.settings import Settings
from tests.conftest import converge, create_lb, wait_for

LBS = "/v2/lbaas/loadbalancers"
TIMEOUT = 3.0
INTERVAL = 1.0


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.portico.db  # type: ignore[attr-defined]
    return db


def _api(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    url: str,
    **overrides: Any,
) -> TestClient:
    """The API without its reconciler: only the check under test changes statuses."""
    return client_factory(settings_factory(url, **overrides), with_reconciler=False)


def _active_lbs(client: TestClient, count: int) -> list[str]:
    ids = [create_lb(client) for _ in range(count)]
    converge(client)
    for lb_id in ids:
        assert _lb(client, lb_id)[0] == "ACTIVE"
    return ids


def _ago(now: dt.datetime, seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else now - dt.timedelta(seconds=seconds)


def _add(
    client: TestClient,
    lb_id: str | None,
    *,
    now: dt.datetime,
    status: str = "ALLOCATED",
    silent: float | None = 0.2,
) -> str:
    """An amphora last heard ``silent`` seconds before ``now`` (None: never heard), booted
    ten minutes before."""
    amphora_id = str(uuid.uuid4())
    with _db(client).writing() as session:
        session.add(
            Amphora(
                id=amphora_id,
                load_balancer_id=lb_id,
                status=status,
                compute_id=str(uuid.uuid4()),
                created_at=_ago(now, 600.0),
            )
        )
    if silent is not None:
        _heard(client, [amphora_id], _ago(now, silent))
    return amphora_id


def _check(
    db: Database, now: dt.datetime, threshold: str | None = None, *, timeout: float = TIMEOUT
) -> StaleOutcome:
    with db.writing() as session:
        return check_stale(
            session,
            timeout=timeout,
            interval=INTERVAL,
            threshold=Threshold.parse(threshold),
            now=now,
        )


def _lb(client: TestClient, lb_id: str) -> tuple[str, str, int]:
    """(provisioning_status, operating_status, generation) as stored."""
    with _db(client).reading() as session:
        lb = session.get(LoadBalancer, lb_id)
        assert lb is not None
        return lb.provisioning_status, lb.operating_status, lb.generation


def _status(client: TestClient, amphora_id: str) -> str:
    with _db(client).reading() as session:
        status = session.scalar(select(Amphora.status).where(Amphora.id == amphora_id))
        assert status is not None
        return status


def _events(db: Database, **where: str | None) -> list[tuple[str, str | None, str | None]]:
    """(kind, amphora_id, load_balancer_id) of the stored events, oldest first."""
    stmt = select(Event.kind, Event.amphora_id, Event.load_balancer_id).order_by(
        Event.created_at, Event.id
    )
    for column, value in where.items():
        stmt = stmt.where(getattr(Event, column) == value)
    with db.reading() as session:
        return [(row[0], row[1], row[2]) for row in session.execute(stmt)]


def _kinds(db: Database, **where: str | None) -> list[str]:
    return [kind for kind, _amphora, _lb in _events(db, **where)]


def _heard(client: TestClient, amphora_ids: list[str], at: dt.datetime) -> None:
    with _db(client).writing() as session:
        session.execute(delete(AmphoraHealth).where(AmphoraHealth.amphora_id.in_(amphora_ids)))
        session.add_all(
            AmphoraHealth(amphora_id=a, last_heartbeat_at=at, sequence=1, generation=1)
            for a in amphora_ids
        )


def test_silent_amphora_goes_error_and_its_load_balancer_is_failed_over_once(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = _api(client_factory, settings_factory, database_url)
    db = _db(client)
    lb_dead, lb_fresh, lb_booting, lb_deleted = _active_lbs(client, 4)
    before = {lb_id: _lb(client, lb_id) for lb_id in (lb_dead, lb_fresh, lb_booting, lb_deleted)}
    now = utcnow()
    dead = _add(client, lb_dead, now=now, silent=TIMEOUT + 0.5)
    fresh = _add(client, lb_fresh, now=now, silent=0.3)
    booting = _add(client, lb_booting, now=now, status="BOOTING", silent=None)
    deleted = _add(client, lb_deleted, now=now, status="DELETED", silent=60.0)

    outcome = _check(db, now)

    assert outcome.failed_over == [(dead, lb_dead)]
    assert (outcome.stopped, outcome.resumed, outcome.tripped) == ([], [], False)
    assert _status(client, dead) == "ERROR"
    status, operating, generation = _lb(client, lb_dead)
    assert (status, operating) == ("PENDING_UPDATE", "ERROR")
    assert generation == before[lb_dead][2] + 1
    assert _events(db, amphora_id=dead) == [
        ("amphora_stale", dead, lb_dead),
        ("failover_started", dead, lb_dead),
    ]
    # Heard recently, not yet live, or gone: nothing happens to them or their load balancers.
    for amphora_id, expected in ((fresh, "ALLOCATED"), (booting, "BOOTING"), (deleted, "DELETED")):
        assert _status(client, amphora_id) == expected
        assert _events(db, amphora_id=amphora_id) == []
    for lb_id in (lb_fresh, lb_booting, lb_deleted):
        assert _lb(client, lb_id) == before[lb_id]

    # The next checks (the same health service a moment later) find nothing more to do.
    for later in (0.25, 2.0):
        assert _check(db, now + dt.timedelta(seconds=later)).failed_over == []
    assert _lb(client, lb_dead)[2] == before[lb_dead][2] + 1
    assert len(_events(db, amphora_id=dead)) == 2


def test_never_heard_amphora_is_not_watched_until_its_first_heartbeat(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    # As in Octavia: a health service the amphorae cannot reach must fail nothing over.
    client = _api(client_factory, settings_factory, database_url)
    db = _db(client)
    lb_never, lb_dead = _active_lbs(client, 2)
    now = utcnow()
    never_heard = _add(client, lb_never, now=now, silent=None)
    spare = _add(client, None, now=now, status="READY", silent=None)
    dead = _add(client, lb_dead, now=now, silent=TIMEOUT + 0.5)

    assert _check(db, now).failed_over == [(dead, lb_dead)]
    for later in (TIMEOUT + 1, 3600.0):
        assert _check(db, now + dt.timedelta(seconds=later)).failed_over == []
    assert _status(client, never_heard) == "ALLOCATED" and _status(client, spare) == "READY"
    assert _lb(client, lb_never)[0] == "ACTIVE"
    assert _events(db, amphora_id=never_heard) == [] and _events(db, amphora_id=spare) == []

    # Heard once, then silent: now it is watched like any other.
    _heard(client, [never_heard], now)
    outcome = _check(db, now + dt.timedelta(seconds=TIMEOUT + 0.1))
    assert outcome.failed_over == [(never_heard, lb_never)]
    assert _status(client, never_heard) == "ERROR"
    assert _lb(client, lb_never)[0] == "PENDING_UPDATE"


def test_silent_spare_goes_error_without_touching_a_load_balancer(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = _api(client_factory, settings_factory, database_url)
    db = _db(client)
    (lb_id,) = _active_lbs(client, 1)
    before = _lb(client, lb_id)
    now = utcnow()
    serving = _add(client, lb_id, now=now, silent=0.4)
    spare = _add(client, None, now=now, status="READY", silent=TIMEOUT + 2)
    young_spare = _add(client, None, now=now, status="READY", silent=1.0)

    outcome = _check(db, now)

    assert outcome.failed_over == [(spare, None)]
    assert _status(client, spare) == "ERROR"
    assert _status(client, young_spare) == "READY" and _status(client, serving) == "ALLOCATED"
    assert _lb(client, lb_id) == before
    assert _events(db) == [("amphora_stale", spare, None)]


def test_amphora_of_a_deleting_load_balancer_goes_error_but_it_is_not_bumped(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = _api(client_factory, settings_factory, database_url)
    db = _db(client)
    (lb_id,) = _active_lbs(client, 1)
    now = utcnow()
    amphora_id = _add(client, lb_id, now=now, silent=TIMEOUT + 1)
    assert client.delete(f"{LBS}/{lb_id}").status_code == 204
    deleting = _lb(client, lb_id)
    assert deleting[0] == "PENDING_DELETE"

    outcome = _check(db, now)

    assert outcome.failed_over == [(amphora_id, lb_id)]
    assert _status(client, amphora_id) == "ERROR"
    assert _lb(client, lb_id) == deleting
    assert _kinds(db) == ["amphora_stale"]


def test_circuit_breaker_stops_the_silent_and_resumes_them_when_heard(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = _api(client_factory, settings_factory, database_url)
    db = _db(client)
    lbs = _active_lbs(client, 7)
    before = {lb_id: _lb(client, lb_id) for lb_id in lbs}
    now = utcnow()
    # 5 of 8 live amphorae silent past the timeout (4 serving, 1 spare), 3 healthy.
    silent = [
        _add(client, lb_id, now=now, silent=TIMEOUT + 1 + i / 10) for i, lb_id in enumerate(lbs[:4])
    ]
    silent.append(_add(client, None, now=now, status="READY", silent=TIMEOUT + 2))
    healthy = [_add(client, lb_id, now=now, silent=0.3) for lb_id in lbs[4:]]

    outcome = _check(db, now, "3")

    assert outcome.tripped is True
    assert outcome.failed_over == []
    assert outcome.stopped == sorted(silent)
    assert {a: _status(client, a) for a in silent} == dict.fromkeys(silent, "FAILOVER_STOPPED")
    assert {a: _status(client, a) for a in healthy} == dict.fromkeys(healthy, "ALLOCATED")
    assert _kinds(db, kind="circuit_breaker_tripped") == ["circuit_breaker_tripped"]
    stopped_events = _events(db, kind="failover_stopped")
    assert sorted(str(amphora) for _kind, amphora, _lb in stopped_events) == sorted(silent)
    assert _kinds(db, kind="amphora_stale") == [] and _kinds(db, kind="failover_started") == []
    assert {lb_id: _lb(client, lb_id) for lb_id in lbs} == before

    # Still silent a moment later: they stay stopped, and the breaker trips only once.
    later = now + dt.timedelta(seconds=0.5)
    assert _check(db, later, "3").failed_over == []
    assert {a: _status(client, a) for a in silent} == dict.fromkeys(silent, "FAILOVER_STOPPED")
    assert len(_kinds(db, kind="circuit_breaker_tripped")) == 1

    # Their heartbeats resume: back to what they were, serving or spare; nothing failed over.
    back = now + dt.timedelta(seconds=2)
    _heard(client, silent + healthy, back - dt.timedelta(seconds=0.2))
    resumed = _check(db, back, "3")
    assert sorted(resumed.resumed) == sorted(silent)
    assert resumed.failed_over == [] and resumed.stopped == []
    assert {a: _status(client, a) for a in silent[:4]} == dict.fromkeys(silent[:4], "ALLOCATED")
    assert _status(client, silent[4]) == "READY"
    resumed_events = _events(db, kind="failover_resumed")
    assert sorted(str(amphora) for _kind, amphora, _lb in resumed_events) == sorted(silent)
    assert {lb_id: _lb(client, lb_id) for lb_id in lbs} == before
    assert _kinds(db, kind="amphora_stale") == []


def test_circuit_breaker_sees_a_partition_whole_as_amphorae_cross_the_timeout_one_by_one(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = _api(client_factory, settings_factory, database_url)
    db = _db(client)
    lbs = _active_lbs(client, 10)
    before = {lb_id: _lb(client, lb_id) for lb_id in lbs}
    now = utcnow()
    # Six cut off at once, their last beats spread over one interval; four still heard.
    cut = [
        _add(client, lb_id, now=now, silent=TIMEOUT + 0.05 - i * INTERVAL / 6)
        for i, lb_id in enumerate(lbs[:6])
    ]
    healthy = [_add(client, lb_id, now=now, silent=0.2) for lb_id in lbs[6:]]

    first = _check(db, now, "40%")
    assert first.tripped and first.stopped == [cut[0]] and first.failed_over == []
    assert [_status(client, a) for a in cut] == ["FAILOVER_STOPPED"] + ["ALLOCATED"] * 5

    # Each later check stops those that crossed meanwhile; none is ever failed over.
    for step in range(1, 5):
        outcome = _check(db, now + dt.timedelta(seconds=0.25 * step), "40%")
        assert outcome.failed_over == []
    assert [_status(client, a) for a in cut] == ["FAILOVER_STOPPED"] * 6
    assert len(_kinds(db, kind="circuit_breaker_tripped")) == 1
    assert _kinds(db, kind="failover_started") == []
    assert {lb_id: _lb(client, lb_id) for lb_id in lbs} == before

    # A different amphora dies while they are still silent: the storm is not over, it stops.
    late = _add(client, lbs[6], now=now, silent=TIMEOUT - 1.5)
    _heard(client, healthy, now + dt.timedelta(seconds=1.8))
    outcome = _check(db, now + dt.timedelta(seconds=2), "40%")
    assert outcome.stopped == [late] and outcome.failed_over == []
    assert _lb(client, lbs[6]) == before[lbs[6]]


def test_a_count_threshold_below_the_silent_count_lets_failovers_through(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = _api(client_factory, settings_factory, database_url)
    db = _db(client)
    lbs = _active_lbs(client, 4)
    now = utcnow()
    dead = [_add(client, lb_id, now=now, silent=TIMEOUT + 1) for lb_id in lbs[:2]]
    for lb_id in lbs[2:]:
        _add(client, lb_id, now=now, silent=0.1)

    outcome = _check(db, now, "3")

    assert not outcome.tripped
    assert sorted(outcome.failed_over) == sorted(zip(dead, lbs[:2], strict=True))
    assert [_status(client, a) for a in dead] == ["ERROR", "ERROR"]
    assert [_lb(client, lb_id)[0] for lb_id in lbs] == ["PENDING_UPDATE"] * 2 + ["ACTIVE"] * 2


def test_watcher_does_not_report_the_breaker_closed_while_stopped_amphorae_stay_silent(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The health service's own view of the breaker, with the real clock."""
    settings = settings_factory(
        database_url,
        heartbeat_timeout=TIMEOUT,
        heartbeat_interval=INTERVAL,
        failover_threshold="3",
    )
    client = client_factory(settings, with_reconciler=False)
    lbs = _active_lbs(client, 6)
    now = utcnow()
    silent = [_add(client, lb_id, now=now, silent=60.0) for lb_id in lbs[:4]]
    healthy = [_add(client, lb_id, now=now, silent=0.1) for lb_id in lbs[4:]]
    watcher = StaleWatcher(settings, _db(client))
    caplog.set_level(logging.WARNING, logger="portico.health.staleness")

    asyncio.run(watcher.check())
    assert watcher.tripped
    assert [_status(client, a) for a in silent] == ["FAILOVER_STOPPED"] * 4

    # Nothing changed: the four are still silent and a new failure would still be stopped.
    _heard(client, healthy, utcnow())
    asyncio.run(watcher.check())
    assert [_status(client, a) for a in silent] == ["FAILOVER_STOPPED"] * 4
    assert "circuit breaker closed" not in caplog.text
    assert watcher.tripped

    _heard(client, silent + healthy, utcnow())
    asyncio.run(watcher.check())
    assert [_status(client, a) for a in silent] == ["ALLOCATED"] * 4
    assert not watcher.tripped
    assert "circuit breaker closed" in caplog.text


@pytest.mark.postgres
def test_two_health_services_racing_fail_each_amphora_over_exactly_once(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    postgres_url: str,
) -> None:
    client = _api(client_factory, settings_factory, postgres_url)
    lbs = _active_lbs(client, 20)
    services = [Database(make_engine(postgres_url)) for _ in range(2)]
    try:
        for _round in range(4):
            generations = {lb_id: _lb(client, lb_id)[2] for lb_id in lbs}
            now = utcnow()
            amphorae = {_add(client, lb_id, now=now, silent=TIMEOUT + 1): lb_id for lb_id in lbs}
            barrier = threading.Barrier(len(services))

            def run(db: Database, now: dt.datetime = now, barrier: Any = barrier) -> StaleOutcome:
                barrier.wait(timeout=30)
                return _check(db, now)

            with ThreadPoolExecutor(max_workers=len(services)) as pool:
                outcomes = list(pool.map(run, services))

            won = [pair for outcome in outcomes for pair in outcome.failed_over]
            assert sorted(won) == sorted(amphorae.items())  # each one won by exactly one
            with _db(client).reading() as session:
                started = dict(
                    session.execute(
                        select(Event.amphora_id, func.count())
                        .where(
                            Event.kind == "failover_started", Event.amphora_id.in_(list(amphorae))
                        )
                        .group_by(Event.amphora_id)
                    ).all()
                )
            assert started == dict.fromkeys(amphorae, 1)
            assert {a: _status(client, a) for a in amphorae} == dict.fromkeys(amphorae, "ERROR")
            assert {lb_id: _lb(client, lb_id)[2] for lb_id in lbs} == {
                lb_id: generation + 1 for lb_id, generation in generations.items()
            }
    finally:
        for db in services:
            db.dispose()


@pytest.mark.postgres
def test_operator_failover_while_the_health_service_finds_the_amphora_stale_both_commit(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    postgres_url: str,
) -> None:
    """The API's failover holds the load balancer's row lock until it commits its amphora
    change; the check holds the amphora's row lock while it waits for the load balancer's.
    Neither may fail: the operator would see a 500, the health service a lost check."""
    client = _api(client_factory, settings_factory, postgres_url)
    (lb_id,) = _active_lbs(client, 1)
    now = utcnow()
    amphora_id = _add(client, lb_id, now=now, silent=TIMEOUT + 1)
    generation = _lb(client, lb_id)[2]
    api_db, health_db = (Database(make_engine(postgres_url)) for _ in range(2))
    admin = Caller(project_id="admin-project", roles=frozenset({"admin"}))
    errors: list[BaseException] = []

    def health() -> None:
        try:
            _check(health_db, now)
        except BaseException as exc:
            errors.append(exc)

    def waiting_for_a_lock() -> bool:
        with _db(client).reading() as session:
            found = session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            return bool(found)

    try:
        checker = threading.Thread(target=health)
        try:
            with api_db.writing() as session:
                amphora_service.failover_amphora(session, admin, amphora_id)
                # The load balancer is locked now; the check marks the amphora, then waits
                # (or, were it to take no lock, simply finishes).
                checker.start()
                wait_for(lambda: waiting_for_a_lock() or not checker.is_alive(), timeout=10)
        except BaseException as exc:
            errors.append(exc)
        checker.join(timeout=30)
        assert not checker.is_alive()
        assert errors == []
        # The operator's failover committed first; the check then found nothing to do.
        assert _status(client, amphora_id) == "PENDING_DELETE"
        assert _kinds(_db(client), amphora_id=amphora_id) == ["failover_started"]
        assert _lb(client, lb_id)[2] == generation + 1
    finally:
        api_db.dispose()
        health_db.dispose()
