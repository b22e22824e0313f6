"""Stale-amphora detection: the health service's periodic check, and what it wakes.

The check itself is ``portico.services.failover.check_stale`` (one transaction); this module
runs it on a timer and only when its view can be trusted: not before one
``heartbeat_timeout`` has passed since the receiver started listening (amphorae that were
running need that long to be heard again), and not while heartbeat batches fail to reach the
database (their last heartbeats would look old, and every amphora stale).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from portico.db.engine import Database
from portico.domain.failover import Threshold
from portico.services import failover
from portico.settings import Settings

LOG = logging.getLogger(__name__)


class StaleWatcher:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        on_failover: Callable[[str], None] | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._threshold = Threshold.parse(settings.failover_threshold)
        self._on_failover = on_failover
        self.tripped = False

    def _check(self) -> failover.StaleOutcome:
        with self._db.writing() as session:
            return failover.check_stale(
                session,
                timeout=self._settings.heartbeat_timeout,
                interval=self._settings.heartbeat_interval,
                threshold=self._threshold,
            )

    async def check(self) -> failover.StaleOutcome:
        outcome = await asyncio.to_thread(self._check)
        if outcome.tripped != self.tripped:
            self.tripped = outcome.tripped
            if not outcome.tripped:
                LOG.warning("circuit breaker closed: failovers resume")
        for _amphora_id, lb_id in outcome.failed_over:
            if lb_id is not None and self._on_failover is not None:
                self._on_failover(lb_id)
        return outcome
