"""Restarts haproxy when it dies, so a crash does not leave the load balancer down.

Without this, a haproxy that dies (``kill -9`` of the master, or of a worker: the master then
exits, "exit-on-failure") stays down until the controller's next push. The supervisor polls
every ``POLL_SECONDS`` (a pid file read and ``kill 0``) and, when haproxy should run
(``HaproxyManager.should_run``: a configuration is applied and no ``stop`` was asked for) but
does not, starts it again on the applied configuration under the manager's lock. A start that
fails is retried after a delay that doubles up to ``MAX_BACKOFF_SECONDS``; nothing it meets
ends the task, which runs until the agent cancels it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from portico.agent.haproxy import HaproxyManager

LOG = logging.getLogger(__name__)
POLL_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


class Supervisor:
    """Watches one manager's haproxy and counts the restarts it makes."""

    def __init__(self, manager: HaproxyManager) -> None:
        self.manager = manager
        # Restart attempts since the agent started, when the last one began and how it went
        # (``None`` while it runs).
        self.restarts = 0
        self.last_restart_at: datetime | None = None
        self.last_restart_ok: bool | None = None

    async def run(self) -> None:
        """Poll until cancelled; restart haproxy whenever it should run and does not."""
        delay = backoff = POLL_SECONDS  # backoff: the wait after the next failed restart
        while True:
            await asyncio.sleep(delay)
            if not self._needs_restart() or await self._restart():
                delay = backoff = POLL_SECONDS
            else:
                delay, backoff = backoff, min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _needs_restart(self) -> bool:
        return self.manager.should_run and not self.manager.running

    async def _restart(self) -> bool:
        """One attempt under the lock; ``True`` if haproxy runs afterwards (or need not)."""
        async with self.manager.lock:
            # Checked again under the lock: a stop, start or push may have run while we waited.
            if not self._needs_restart():
                return True
            dead = self.manager.recorded_pid()
            self.restarts += 1
            self.last_restart_at = datetime.now(UTC)
            self.last_restart_ok = None  # in progress: not the previous attempt's outcome
            started = time.monotonic()
            try:
                await self.manager.start()
            except Exception:
                # Whatever went wrong (haproxy refusing to start, a missing binary), the task
                # must live on to try again later: log it and back off.
                self.last_restart_ok = False
                LOG.exception("haproxy master %s had died; restart %s failed", dead, self.restarts)
                return False
            self.last_restart_ok = True
            LOG.warning(
                "haproxy master %s had died; restarted as %s in %.0f ms",
                dead,
                self.manager.master_pid(),
                (time.monotonic() - started) * 1000,
            )
            return True
