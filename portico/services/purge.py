"""Purging what the database keeps only as history, once it is old enough.

Load balancers and their children are deleted outright by the reconciler; what stays behind
is amphora rows marked DELETED (the history of failovers and deletes, as in Octavia) and
events (with their webhook deliveries). Housekeeping purges:

- amphorae DELETED for longer than ``amphora_expiry_age`` and not heard from for as long
  (as Octavia: a zombie that still sends heartbeats keeps its row, so its heartbeats are
  still recognised and dropped as those of a deleted amphora);
- events older than ``event_expiry_age`` whose webhook deliveries are all finished
  (delivered or given up), with those deliveries. Each purged event is counted by kind in
  ``purged_events``, so ``portico_events_total`` never goes down (a Prometheus counter that
  drops reads as a reset and fakes a burst in ``rate()``).

Listener statistics of a purged amphora are kept: they are part of the listener's totals.
Work goes in batches, each its own transaction, so a large backlog never holds one long lock.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portico.db.engine import Database
from portico.db.models import Amphora, Event, EventDelivery, PurgedEvents
from portico.domain.constants import AmphoraStatus
from portico.services.event_outbox import DeliveryState

BATCH = 500


@dataclass(frozen=True)
class PurgeCutoffs:
    """Rows older than these (naive UTC) go."""

    amphorae_before: dt.datetime
    events_before: dt.datetime

    @classmethod
    def at(cls, now: dt.datetime, *, amphora_age: float, event_age: float) -> PurgeCutoffs:
        return cls(
            amphorae_before=now - dt.timedelta(seconds=amphora_age),
            events_before=now - dt.timedelta(seconds=event_age),
        )


@dataclass(frozen=True)
class PurgeCounts:
    amphorae: int = 0
    events: int = 0
    deliveries: int = 0


def purge_amphorae(session: Session, *, before: dt.datetime, limit: int = BATCH) -> int:
    """Delete up to ``limit`` amphora rows DELETED and silent since before ``before``."""
    ids = list(
        session.scalars(
            select(Amphora.id)
            .where(
                Amphora.status == AmphoraStatus.DELETED,
                func.coalesce(Amphora.updated_at, Amphora.created_at) < before,
                or_(Amphora.last_heartbeat_at.is_(None), Amphora.last_heartbeat_at < before),
            )
            .limit(limit)
        )
    )
    if not ids:
        return 0
    done = session.execute(
        delete(Amphora)
        .where(Amphora.id.in_(ids), Amphora.status == AmphoraStatus.DELETED)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)


def purge_events(session: Session, *, before: dt.datetime, limit: int = BATCH) -> tuple[int, int]:
    """Delete up to ``limit`` old events none of whose deliveries is pending, and their
    deliveries; returns (events, deliveries)."""
    pending = exists().where(
        EventDelivery.event_id == Event.id, EventDelivery.state == DeliveryState.PENDING
    )
    rows = session.execute(
        select(Event.id, Event.kind)
        .where(Event.created_at < before, ~pending)
        .order_by(Event.created_at)
        .limit(limit)
        # Controllers sharing PostgreSQL purge different events, so none is counted twice.
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0, 0
    ids = [row[0] for row in rows]
    removed = session.execute(
        delete(EventDelivery)
        .where(EventDelivery.event_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(Event).where(Event.id.in_(ids)).execution_options(synchronize_session=False)
    )
    _tally(session, Counter(row[1] for row in rows))
    return len(ids), int(getattr(removed, "rowcount", 0) or 0)


def _tally(session: Session, kinds: Counter[str]) -> None:
    """Add to the purged counts by kind (a row per kind, made the first time)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for kind, count in sorted(kinds.items()):
        # An upsert: two controllers purging a new kind at once both add to one row.
        stmt = insert(PurgedEvents).values(kind=kind, count=count)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[PurgedEvents.kind],
                set_={"count": PurgedEvents.count + stmt.excluded.count},
            )
        )


def purged_counts(session: Session) -> dict[str, int]:
    """Events purged so far, by kind."""
    rows = session.execute(select(PurgedEvents.kind, PurgedEvents.count))
    return {kind: int(count) for kind, count in rows}


def purge(db: Database, cutoffs: PurgeCutoffs, *, batch: int = BATCH) -> PurgeCounts:
    """Purge everything past its cutoff, a batch per transaction; returns what went."""
    amphorae = events = deliveries = 0
    while True:
        with db.writing() as session:
            done = purge_amphorae(session, before=cutoffs.amphorae_before, limit=batch)
        amphorae += done
        if done < batch:
            break
    while True:
        with db.writing() as session:
            done, gone = purge_events(session, before=cutoffs.events_before, limit=batch)
        events += done
        deliveries += gone
        if done < batch:
            break
    return PurgeCounts(amphorae=amphorae, events=events, deliveries=deliveries)
