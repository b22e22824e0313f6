"""The controller's webhook delivery task: it drains the event outbox into ``event_webhooks``.

Runs in the controller's housekeeping (``bootstrap.start_housekeeping``) while webhooks are
configured. A pass queues new events (one delivery per webhook), leases the due deliveries,
posts them concurrently, each try bounded by ``event_webhook_timeout``, and records every
outcome: delivered, retry after a backoff, or given up after the last attempt (logged). The
outbox rows are the only state, so a controller restarted mid-pass loses nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from portico.db.base import utcnow
from portico.db.engine import Database
from portico.domain.errors import TransientError
from portico.drivers.webhooks import WebhookSender
from portico.services import event_outbox as outbox
from portico.services.event_outbox import DeliveryState, Due, RetryPolicy
from portico.settings import Settings

LOG = logging.getLogger(__name__)
# Beyond the try's own bound, time for the database around it; a lease that ran out while
# its POST still ran would let another controller post the same event at the same time.
LEASE_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class DeliveryConfig:
    """What one delivery task works with, read once from the settings."""

    targets: tuple[str, ...]
    policy: RetryPolicy
    lease_seconds: float
    batch: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        return cls(
            targets=tuple(settings.event_webhooks),
            policy=RetryPolicy(
                max_attempts=settings.event_webhook_max_attempts,
                backoff=settings.event_webhook_backoff,
                max_backoff=settings.event_webhook_max_backoff,
            ),
            lease_seconds=settings.event_webhook_timeout + LEASE_MARGIN_SECONDS,
        )


def _claim(db: Database, config: DeliveryConfig, *, owner: str, now: dt.datetime) -> list[Due]:
    with db.reading() as session:
        if not outbox.has_work(session, now=now):
            return []
    with db.writing() as session:
        outbox.enqueue(session, config.targets, limit=config.batch)
    with db.writing() as session:
        return outbox.claim(
            session, owner=owner, lease_seconds=config.lease_seconds, limit=config.batch, now=now
        )


async def _try(sender: WebhookSender, due: Due) -> str | None:
    try:
        await sender.post(due.target, due.payload, event_id=due.event_id, attempt=due.attempt)
    except TransientError as exc:
        return str(exc) or type(exc).__name__
    return None


def _record(
    db: Database,
    config: DeliveryConfig,
    outcomes: list[tuple[Due, str | None]],
    *,
    owner: str,
    now: dt.datetime,
) -> None:
    with db.writing() as session:
        for due, error in outcomes:
            state = outbox.record_outcome(
                session, due.delivery_id, owner=owner, error=error, policy=config.policy, now=now
            )
            if state is DeliveryState.FAILED:
                LOG.error(
                    "%s webhook %s given up after %d attempts: %s",
                    due.event_id,
                    due.target,
                    due.attempt,
                    error,
                )
            elif error is not None:
                LOG.warning(
                    "%s webhook %s attempt %d: %s", due.event_id, due.target, due.attempt, error
                )


async def deliver_pass(
    db: Database,
    sender: WebhookSender,
    config: DeliveryConfig,
    *,
    owner: str,
) -> int:
    """One pass over the outbox; returns how many deliveries it tried."""
    due = await asyncio.to_thread(_claim, db, config, owner=owner, now=utcnow())
    if not due:
        return 0
    errors = await asyncio.gather(*(_try(sender, item) for item in due))
    outcomes = list(zip(due, errors, strict=True))
    await asyncio.to_thread(_record, db, config, outcomes, owner=owner, now=utcnow())
    return len(due)


def delivery_owner() -> str:
    """A name for this task's leases, unique across hosts, processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:events:{uuid.uuid4().hex[:8]}"


async def run_event_delivery(settings: Settings, db: Database) -> None:
    """Deliver until cancelled; a full batch goes on at once, otherwise it waits a while."""
    config = DeliveryConfig.from_settings(settings)
    owner = delivery_owner()
    sender = WebhookSender(timeout=settings.event_webhook_timeout)
    try:
        while True:
            try:
                tried = await deliver_pass(db, sender, config, owner=owner)
            except Exception:
                # The database went away, say: the rows wait, the next pass tries again.
                LOG.exception("%s event delivery pass failed", owner)
                tried = 0
            if tried < config.batch:
                await asyncio.sleep(settings.event_webhook_interval)
    finally:
        await sender.aclose()
