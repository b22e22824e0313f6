"""Events: what the controller saw or did that an operator should know about.

Each is one row, written in the transaction of the change it reports (a failover's event
commits with the failover, or not at all), and logged at the same time. Operators list them
at ``/v2/portico/events``; the controller also POSTs them to webhooks from an outbox
(``portico.services.event_outbox``), so recording one never waits on a receiver.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.base import utcnow
from portico.db.models import Event, EventDelivery
from portico.domain.errors import InvalidInput, NotFound
from portico.domain.policy import Access, Caller, require
from portico.services.listing import ListQuery, Page, apply_filters, run_listing
from portico.settings import Settings

LOG = logging.getLogger("portico.events")
LABEL = "Event"


class EventKind(StrEnum):
    """Every kind something records; the admin API refuses a filter on any other."""

    AMPHORA_STALE = "amphora_stale"
    FAILOVER_STARTED = "failover_started"
    FAILOVER_FINISHED = "failover_finished"
    FAILOVER_STOPPED = "failover_stopped"
    FAILOVER_RESUMED = "failover_resumed"
    CIRCUIT_BREAKER_TRIPPED = "circuit_breaker_tripped"
    # The reconciler gave up on a load balancer (a permanent error, or retries exhausted).
    CONFIG_PUSH_FAILED = "config_push_failed"
    # An amphora refused a configuration (haproxy -c) or failed to reload it: the previous
    # configuration keeps serving.
    RELOAD_ROLLED_BACK = "reload_rolled_back"
    # Certificate rotation found an amphora's agent certificate close to its expiry.
    CERTIFICATE_EXPIRING = "certificate_expiring"
    # Housekeeping: an instance no amphora row knows was removed; an amphora whose instance
    # is gone was failed over (or, a spare, removed).
    ORPHAN_REAPED = "orphan_reaped"
    AMPHORA_INSTANCE_GONE = "amphora_instance_gone"


_SEVERITY = {
    EventKind.AMPHORA_STALE: logging.WARNING,
    EventKind.FAILOVER_STARTED: logging.WARNING,
    EventKind.FAILOVER_FINISHED: logging.INFO,
    EventKind.FAILOVER_STOPPED: logging.ERROR,
    EventKind.FAILOVER_RESUMED: logging.INFO,
    EventKind.CIRCUIT_BREAKER_TRIPPED: logging.CRITICAL,
    EventKind.CONFIG_PUSH_FAILED: logging.ERROR,
    EventKind.RELOAD_ROLLED_BACK: logging.WARNING,
    EventKind.CERTIFICATE_EXPIRING: logging.INFO,
    EventKind.ORPHAN_REAPED: logging.WARNING,
    EventKind.AMPHORA_INSTANCE_GONE: logging.WARNING,
}
KINDS = frozenset(kind.value for kind in EventKind)
SEVERITIES = frozenset(logging.getLevelName(level) for level in _SEVERITY.values())

# API name -> column; both spellings of the load balancer (Octavia's amphora view says
# ``loadbalancer_id``).
COLUMNS = {n: n for n in ("id", "kind", "severity", "amphora_id", "created_at")} | {
    "load_balancer_id": "load_balancer_id",
    "loadbalancer_id": "load_balancer_id",
}
NEWEST_FIRST = (("created_at", "desc"), ("id", "desc"))


def record(
    session: Session,
    kind: EventKind,
    detail: str,
    *,
    amphora_id: str | None = None,
    load_balancer_id: str | None = None,
) -> None:
    """Add the event to ``session``'s transaction and log it."""
    level = _SEVERITY[kind]
    session.add(
        Event(
            id=str(uuid.uuid4()),
            created_at=utcnow(),
            kind=kind,
            severity=logging.getLevelName(level),
            amphora_id=amphora_id,
            load_balancer_id=load_balancer_id,
            detail=detail,
        )
    )
    LOG.log(level, "%s amphora=%s lb=%s: %s", kind, amphora_id, load_balancer_id, detail)


def event_view(event: Event) -> dict[str, Any]:
    """The event as the admin API shows it and webhooks receive it (UTC, microseconds)."""
    return {
        "id": event.id,
        "kind": event.kind,
        "severity": event.severity,
        "created_at": event.created_at.isoformat(timespec="microseconds"),
        "amphora_id": event.amphora_id,
        "loadbalancer_id": event.load_balancer_id,
        "detail": event.detail,
    }


def _instant(name: str, raw: str) -> dt.datetime:
    """An ISO 8601 time as naive UTC (the stored form); without a zone it is UTC already."""
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(f"Invalid {name}: {raw} (expected ISO 8601)") from exc
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _checked(filters: dict[str, str]) -> None:
    """Refuse values that can match nothing because they cannot exist, rather than answer []."""
    kind = filters.get("kind")
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"Invalid kind: {kind} (one of {', '.join(sorted(KINDS))})")
    severity = filters.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise InvalidInput(f"Invalid severity: {severity} (one of {', '.join(sorted(SEVERITIES))})")


def list_events(session: Session, caller: Caller, query: ListQuery, settings: Settings) -> Page:
    """Admin only; equality filters, ``since`` (inclusive) and ``until`` (exclusive)."""
    require(caller, Access.ADMIN, None)
    filters = dict(query.filters)
    since = filters.pop("since", None)
    until = filters.pop("until", None)
    _checked(filters)
    stmt = select(Event)
    start = _instant("since", since) if since is not None else None
    end = _instant("until", until) if until is not None else None
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"Invalid time window: since {since} is after until {until}")
    if start is not None:
        stmt = stmt.where(Event.created_at >= start)
    if end is not None:
        stmt = stmt.where(Event.created_at < end)
    stmt = apply_filters(stmt, Event, ListQuery(filters=filters), filterable=COLUMNS)
    if not query.sort:
        query = dataclasses.replace(query, sort=NEWEST_FIRST)
    return run_listing(
        session, stmt, Event, query, sortable=COLUMNS, max_limit=settings.pagination_max_limit
    )


def get_event(session: Session, caller: Caller, event_id: str) -> Event:
    require(caller, Access.ADMIN, None)
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(LABEL, event_id)
    return event


def deliveries(session: Session, event_id: str) -> list[EventDelivery]:
    """The event's webhook deliveries, in the order of the targets' URLs."""
    stmt = select(EventDelivery).where(EventDelivery.event_id == event_id)
    return list(session.scalars(stmt.order_by(EventDelivery.target)))
