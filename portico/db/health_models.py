"""The health service's liveness table: one narrow row per amphora heard from.

Every heartbeat batch writes each amphora's last heartbeat. On the amphora row (about 35
columns, JSON among them) that rewrote the whole row, 13-30 us a heartbeat on SQLite, about
half of what 20,000 heartbeats a second allow; here it rewrites four columns. This is
Octavia's ``amphora_health`` (amphora id, last update), with the sequence and generation the
heartbeat carried. It has no index besides its key: each one would be rewritten with every
heartbeat, and the stale check reads the table whole anyway.

The row is written by the health service only (``services.heartbeat_cache``); it is created
with the amphora's first accepted heartbeat and goes with the amphora row (ON DELETE CASCADE).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    ScalarSelect,
    SQLColumnExpression,
    String,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from portico.db.base import Base


class AmphoraHealth(Base):
    """What an amphora's last accepted heartbeat said of its liveness."""

    __tablename__ = "amphora_health"
    amphora_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("amphora.id", ondelete="CASCADE"), primary_key=True
    )
    last_heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    # The heartbeat's sequence number: only ever raised, by any health service.
    sequence: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The configuration generation the amphora said it runs.
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False)


def last_heartbeat_of(amphora_id: SQLColumnExpression[str]) -> ScalarSelect[dt.datetime]:
    """The amphora's ``last_heartbeat_at`` as a correlated subquery: what ``Amphora`` shows
    (API, filters, purge) without a column of its own that every heartbeat would rewrite."""
    return (
        select(AmphoraHealth.last_heartbeat_at)
        .where(AmphoraHealth.amphora_id == amphora_id)
        .scalar_subquery()
    )
