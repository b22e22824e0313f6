"""What ``/metrics`` reads from the database at each scrape: a few bounded aggregate queries.

Counted in SQL rather than in process memory, so that every API process (``portico api``
beside a separate controller too) reports the same fleet, and a restart loses nothing: the
failovers and the amphorae are the controller's, wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portico.db.models import Amphora, Event, LoadBalancer
from portico.domain.constants import AmphoraStatus
from portico.services.events import KINDS
from portico.services.purge import purged_counts

# Amphora statuses counted: DELETED rows are history (they stay for Octavia's amphora list
# and grow without bound), not part of the fleet.
LIVE_STATUSES = tuple(status.value for status in AmphoraStatus if status != AmphoraStatus.DELETED)


@dataclass(frozen=True)
class FleetCounts:
    """Every status and kind is present, zero when nothing has it, so series never vanish."""

    amphorae: dict[str, int]
    # READY and given to no load balancer: what a failover or a new load balancer can take.
    spares_ready: int
    # Load balancers whose desired generation is not applied yet: the reconcile queue.
    pending_load_balancers: int
    events: dict[str, int]


def fleet_counts(session: Session) -> FleetCounts:
    """Four aggregate queries, whatever the fleet's size: amphorae, pending, events (kept and
    purged)."""
    unassigned = Amphora.load_balancer_id.is_(None)
    amphorae = dict.fromkeys(LIVE_STATUSES, 0)
    spares = 0
    rows = session.execute(
        select(Amphora.status, unassigned, func.count())
        .where(Amphora.status != AmphoraStatus.DELETED)
        .group_by(Amphora.status, unassigned)
    )
    for status, spare, count in rows:
        amphorae[status] = amphorae.get(status, 0) + count
        if spare and status == AmphoraStatus.READY:
            spares += count
    pending = session.scalar(
        select(func.count())
        .select_from(LoadBalancer)
        .where(LoadBalancer.generation > LoadBalancer.applied_generation)
    )
    events = dict.fromkeys(sorted(KINDS), 0)
    for kind, count in session.execute(select(Event.kind, func.count()).group_by(Event.kind)):
        events[kind] = count
    # Events housekeeping purged still count: a counter must never go down.
    for kind, count in purged_counts(session).items():
        events[kind] = events.get(kind, 0) + count
    return FleetCounts(
        amphorae=amphorae,
        spares_ready=spares,
        pending_load_balancers=int(pending or 0),
        events=events,
    )
