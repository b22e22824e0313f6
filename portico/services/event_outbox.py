"""The webhook outbox: which event goes to which webhook next, and what came of it.

Events are recorded in the transaction of their change; posting them there would hold that
transaction open on a receiver, and a POST that failed after the commit would lose the event.
Instead the controller's delivery task queues each event once per webhook (an
``EventDelivery`` row), leases the rows that are due, posts them outside any transaction and
records each outcome under its lease. A task that dies leaves leases that expire, and those
rows go out again: delivery is at least once, and receivers dedupe on the event id.

Several controllers on one PostgreSQL share the outbox: ``FOR UPDATE SKIP LOCKED`` makes
concurrent queueing and claiming take different rows, and the lease keeps a claimed row from
being claimed again while its POST runs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from portico.db.models import Event, EventDelivery
from portico.services.events import event_view


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class RetryPolicy:
    """How often a delivery is tried, and how long it waits between tries."""

    max_attempts: int
    backoff: float
    max_backoff: float

    def delay(self, attempts: int) -> dt.timedelta:
        """The wait after ``attempts`` failed tries: doubling from ``backoff``, bounded."""
        seconds = min(self.max_backoff, self.backoff * 2 ** min(attempts - 1, 64))
        return dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class Due:
    """One leased delivery: what to post where, and which try this is (from 1)."""

    delivery_id: str
    event_id: str
    target: str
    attempt: int
    payload: dict[str, Any]


def _due(now: dt.datetime) -> Any:
    return (
        (EventDelivery.state == DeliveryState.PENDING)
        & or_(EventDelivery.next_attempt_at.is_(None), EventDelivery.next_attempt_at <= now)
        & or_(EventDelivery.lease_expires.is_(None), EventDelivery.lease_expires < now)
    )


def has_work(session: Session, *, now: dt.datetime) -> bool:
    """Whether a pass would find anything: lets an idle task skip the write transaction."""
    unqueued = exists().where(Event.delivery_queued.is_(False))
    due = exists().where(_due(now))
    return bool(session.scalar(select(unqueued | due)))


def enqueue(session: Session, targets: Sequence[str], *, limit: int) -> int:
    """Queue up to ``limit`` new events, oldest first, once per target; returns how many."""
    events = session.execute(
        select(Event.id, Event.created_at)
        .where(Event.delivery_queued.is_(False))
        .order_by(Event.created_at, Event.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for event_id, created_at in events:
        for target in targets:
            session.add(
                EventDelivery(
                    id=str(uuid.uuid4()),
                    event_id=event_id,
                    target=target,
                    created_at=created_at,
                    state=DeliveryState.PENDING,
                    attempts=0,
                )
            )
    if events:
        session.execute(
            update(Event)
            .where(Event.id.in_([event_id for event_id, _ in events]))
            .values(delivery_queued=True)
            .execution_options(synchronize_session=False)
        )
    return len(events)


def claim(
    session: Session, *, owner: str, lease_seconds: float, limit: int, now: dt.datetime
) -> list[Due]:
    """Lease up to ``limit`` due deliveries, oldest event first."""
    rows = session.execute(
        select(EventDelivery, Event)
        .join(Event, Event.id == EventDelivery.event_id)
        .where(_due(now))
        .order_by(EventDelivery.created_at, EventDelivery.id)
        .limit(limit)
        .with_for_update(of=EventDelivery, skip_locked=True)
    ).all()
    if not rows:
        return []
    session.execute(
        update(EventDelivery)
        .where(EventDelivery.id.in_([delivery.id for delivery, _ in rows]))
        .values(lease_owner=owner, lease_expires=now + dt.timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return [
        Due(
            delivery_id=delivery.id,
            event_id=event.id,
            target=delivery.target,
            attempt=delivery.attempts + 1,
            payload={"event": event_view(event)},
        )
        for delivery, event in rows
    ]


def record_outcome(
    session: Session,
    delivery_id: str,
    *,
    owner: str,
    error: str | None,
    policy: RetryPolicy,
    now: dt.datetime,
) -> DeliveryState | None:
    """Record one try (``error`` None: delivered) and release the lease; returns the new state.

    None when ``owner`` no longer holds the lease (it expired and another task took the row,
    which will post it again): that task's outcome is the one that counts.
    """
    row = session.scalar(
        select(EventDelivery)
        .where(EventDelivery.id == delivery_id, EventDelivery.lease_owner == owner)
        .with_for_update()
    )
    if row is None:
        return None
    row.attempts += 1
    row.lease_owner = None
    row.lease_expires = None
    if error is None:
        row.state = DeliveryState.DELIVERED
        row.finished_at = now
        return DeliveryState.DELIVERED
    row.last_error = error[:2000]
    if row.attempts >= policy.max_attempts:
        row.state = DeliveryState.FAILED
        row.finished_at = now
    else:
        row.next_attempt_at = now + policy.delay(row.attempts)
    return DeliveryState(row.state)
