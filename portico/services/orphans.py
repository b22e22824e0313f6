"""The database side of orphan reaping: which instances the amphora rows account for.

An instance is accounted for by any amphora row not DELETED that names it, by compute id or
by amphora id (a row is written before its instance is created, and records the compute id
only once ``create`` returned: until then the amphora id is what names the instance, as the
host-local drivers use it for their compute ids).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portico.db.models import Amphora
from portico.domain.constants import AmphoraStatus
from portico.services import events
from portico.services.events import EventKind


@dataclass(frozen=True)
class KnownAmphora:
    id: str
    compute_id: str | None
    compute_driver: str | None
    status: str
    load_balancer_id: str | None
    updated_at: dt.datetime | None


def known(session: Session) -> list[KnownAmphora]:
    """Every amphora row not DELETED."""
    rows = session.execute(
        select(
            Amphora.id,
            Amphora.compute_id,
            Amphora.compute_driver,
            Amphora.status,
            Amphora.load_balancer_id,
            func.coalesce(Amphora.updated_at, Amphora.created_at),
        ).where(Amphora.status != AmphoraStatus.DELETED)
    )
    return [KnownAmphora(*row) for row in rows]


def accounted_for(session: Session, compute_id: str) -> bool:
    """Whether a row (not DELETED) names the instance now: read again just before reaping."""
    found = session.scalar(
        select(Amphora.id)
        .where(
            Amphora.status != AmphoraStatus.DELETED,
            (Amphora.compute_id == compute_id) | (Amphora.id == compute_id),
        )
        .limit(1)
    )
    return found is not None


def record_reaped(session: Session, compute_id: str, detail: str) -> None:
    events.record(session, EventKind.ORPHAN_REAPED, f"instance {compute_id}: {detail}")


def record_spare_gone(session: Session, amphora_id: str, detail: str) -> None:
    events.record(session, EventKind.AMPHORA_INSTANCE_GONE, detail, amphora_id=amphora_id)
