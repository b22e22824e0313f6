"""Housekeeping's purge, on SQLite and PostgreSQL: what is old enough goes, nothing else, and
the events counted by kind never go down."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from typing import Any

from portico.db import migrate
from portico.db.base import utcnow
from portico.db.engine import Database, make_engine
from portico.db.health_models import AmphoraHealth
from portico.db.models import Amphora, Event, EventDelivery
from portico.services import events
from portico.services.event_outbox import DeliveryState
from portico.services.events import EventKind
from portico.services.fleet_metrics import fleet_counts
from portico.services.purge import PurgeCutoffs, purge, purged_counts
from portico.settings import Settings
from tests.conftest import wait_for

DAY = dt.timedelta(days=1)
WEEK = 7 * 24 * 3600.0


def _db(url: str) -> Database:
    migrate.upgrade(url)
    return Database(make_engine(url))


def _amphora(db: Database, status: str, *, updated: dt.datetime, heard: dt.datetime | None) -> str:
    amphora_id = str(uuid.uuid4())
    with db.writing() as session:
        session.add(
            Amphora(
                id=amphora_id,
                status=status,
                created_at=updated - DAY,
                updated_at=updated,
                capabilities=[],
                network_legs={},
            )
        )
        if heard is not None:
            session.flush()
            session.add(
                AmphoraHealth(
                    amphora_id=amphora_id, last_heartbeat_at=heard, sequence=1, generation=1
                )
            )
    return amphora_id


def _event(db: Database, kind: EventKind, *, at: dt.datetime, delivery: str | None) -> str:
    event_id = str(uuid.uuid4())
    with db.writing() as session:
        session.add(
            Event(
                id=event_id,
                created_at=at,
                kind=kind,
                severity="INFO",
                detail="",
                delivery_queued=delivery is not None,
            )
        )
        if delivery is not None:
            session.flush()
            session.add(
                EventDelivery(
                    id=str(uuid.uuid4()),
                    event_id=event_id,
                    target="http://127.0.0.1:1/hook",
                    created_at=at,
                    state=delivery,
                    attempts=1,
                )
            )
    return event_id


def _ids(db: Database, model: type[Amphora] | type[Event]) -> set[str]:
    with db.reading() as session:
        return {row.id for row in session.query(model)}


def _cutoffs(now: dt.datetime) -> PurgeCutoffs:
    return PurgeCutoffs.at(now, amphora_age=WEEK, event_age=30 * 24 * 3600.0)


def test_purge_removes_only_expired_deleted_amphorae_and_old_finished_events(
    database_url: str,
) -> None:
    db = _db(database_url)
    now = utcnow()
    old = now - 8 * DAY
    expired = _amphora(db, "DELETED", updated=old, heard=old)
    never_heard = _amphora(db, "DELETED", updated=old, heard=None)
    zombie = _amphora(db, "DELETED", updated=old, heard=now - dt.timedelta(minutes=1))
    recent = _amphora(db, "DELETED", updated=now - DAY, heard=None)
    serving = _amphora(db, "ALLOCATED", updated=old, heard=old)
    ancient = now - 40 * DAY
    delivered = _event(db, EventKind.FAILOVER_STARTED, at=ancient, delivery=DeliveryState.DELIVERED)
    given_up = _event(db, EventKind.FAILOVER_STARTED, at=ancient, delivery=DeliveryState.FAILED)
    unsent = _event(db, EventKind.AMPHORA_STALE, at=ancient, delivery=None)
    pending = _event(db, EventKind.AMPHORA_STALE, at=ancient, delivery=DeliveryState.PENDING)
    fresh = _event(db, EventKind.AMPHORA_STALE, at=now - DAY, delivery=DeliveryState.DELIVERED)
    with db.reading() as session:
        before = fleet_counts(session).events

    counts = purge(db, _cutoffs(now), batch=2)  # batches smaller than the backlog

    assert (counts.amphorae, counts.events, counts.deliveries) == (2, 3, 2)
    assert _ids(db, Amphora) == {zombie, recent, serving}
    assert expired not in _ids(db, Amphora) and never_heard not in _ids(db, Amphora)
    assert _ids(db, Event) == {pending, fresh}
    assert {delivered, given_up, unsent}.isdisjoint(_ids(db, Event))
    with db.reading() as session:
        assert {row.event_id for row in session.query(EventDelivery)} == {pending, fresh}
        assert purged_counts(session) == {"failover_started": 2, "amphora_stale": 1}
        # The kinds' totals (portico_events_total) are what they were before the purge.
        assert fleet_counts(session).events == before
    assert purge(db, _cutoffs(now)) == type(counts)()  # nothing left to purge
    db.dispose()


def test_purged_counts_add_up_across_passes(database_url: str) -> None:
    db = _db(database_url)
    now = utcnow()
    for _ in range(2):
        _event(db, EventKind.ORPHAN_REAPED, at=now - 40 * DAY, delivery=None)
        purge(db, _cutoffs(now))
    with db.writing() as session:
        events.record(session, EventKind.ORPHAN_REAPED, "kept")
    with db.reading() as session:
        assert purged_counts(session) == {"orphan_reaped": 2}
        assert fleet_counts(session).events["orphan_reaped"] == 3
    db.dispose()


def test_two_controllers_purging_at_once_count_each_event_once(postgres_url: str) -> None:
    db = _db(postgres_url)
    now = utcnow()
    with db.writing() as session:
        for _ in range(400):
            session.add(
                Event(
                    id=str(uuid.uuid4()),
                    created_at=now - 40 * DAY,
                    kind=EventKind.FAILOVER_FINISHED,
                    severity="INFO",
                    detail="",
                )
            )
    purged: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        other = Database(make_engine(postgres_url))
        try:
            purged.append(purge(other, _cutoffs(now), batch=25).events)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sum(purged) == 400
    with db.reading() as session:
        assert purged_counts(session) == {"failover_finished": 400}
        assert fleet_counts(session).events["failover_finished"] == 400
    db.dispose()


def test_zero_expiry_age_purges_at_once(sqlite_url: str) -> None:
    db = _db(sqlite_url)
    now = utcnow()
    gone = _amphora(db, "DELETED", updated=now - dt.timedelta(seconds=1), heard=None)
    counts = purge(db, PurgeCutoffs.at(now, amphora_age=0.0, event_age=0.0))
    assert counts.amphorae == 1 and gone not in _ids(db, Amphora)
    db.dispose()


def test_the_controller_purges_in_its_housekeeping_pass(
    client_factory: Callable[..., Any], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(amphora_expiry_age=60.0, housekeeping_interval=0.1)
    db = _db(settings.effective_database_url)
    now = utcnow()
    expired = _amphora(db, "DELETED", updated=now - dt.timedelta(minutes=2), heard=None)
    recent = _amphora(db, "DELETED", updated=now, heard=None)
    client_factory(settings)  # the API with its reconciler and housekeeping
    wait_for(lambda: expired not in _ids(db, Amphora))
    assert recent in _ids(db, Amphora)
    db.dispose()
