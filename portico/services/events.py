"""Events: what the controller saw or did that an operator should know about.

Each is one row, written in the transaction of the change it reports (a failover's event
commits with the failover, or not at all), and logged at the same time.
"""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.base import utcnow
from portico.db.models import Event

LOG = logging.getLogger("portico.events")


class EventKind(StrEnum):
    AMPHORA_STALE = "amphora_stale"
    FAILOVER_STARTED = "failover_started"
    FAILOVER_FINISHED = "failover_finished"
    FAILOVER_STOPPED = "failover_stopped"
    FAILOVER_RESUMED = "failover_resumed"
    CIRCUIT_BREAKER_TRIPPED = "circuit_breaker_tripped"


_SEVERITY = {
    EventKind.AMPHORA_STALE: logging.WARNING,
    EventKind.FAILOVER_STARTED: logging.WARNING,
    EventKind.FAILOVER_FINISHED: logging.INFO,
    EventKind.FAILOVER_STOPPED: logging.ERROR,
    EventKind.FAILOVER_RESUMED: logging.INFO,
    EventKind.CIRCUIT_BREAKER_TRIPPED: logging.CRITICAL,
}


def record(
    session: Session,
    kind: EventKind,
    detail: str,
    *,
    amphora_id: str | None = None,
    load_balancer_id: str | None = None,
) -> None:
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


def recent(session: Session, *, kind: EventKind | None = None, limit: int = 100) -> list[Event]:
    """The newest events first, optionally of one kind."""
    stmt = select(Event).order_by(Event.created_at.desc(), Event.id).limit(limit)
    if kind is not None:
        stmt = stmt.where(Event.kind == kind)
    return list(session.scalars(stmt))
