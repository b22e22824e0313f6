"""Restarts haproxy (and keepalived) when they die, so a crash does not leave a VIP unserved.

Without this, a haproxy that dies (``kill -9`` of the master, or of a worker: the master then
exits, "exit-on-failure") stays down until the controller's next push. The supervisor polls
every ``POLL_SECONDS`` (a pid file read and ``kill 0``; the master's exit also wakes it at
once, through a pidfd: ``exit_watch.py``) and, when haproxy should run
(``HaproxyManager.should_run``: a configuration is applied and no ``stop`` was asked for) but
does not, starts it again on the applied configuration under the manager's lock.

On an ACTIVE_STANDBY amphora (a VRRP configuration was applied) each poll also
- writes keepalived's track file first (``KeepalivedManager.track_haproxy``): a dead haproxy
  makes it ``1`` *before* the restart is attempted, so keepalived goes FAULT and the VIP
  moves to the peer at once; the restart's success writes ``0`` again (through the
  manager's ``on_change`` hook);
- restarts a keepalived that should run but died, after removing the VIPs it left behind.

A restart that fails is retried after a delay that doubles up to ``MAX_BACKOFF_SECONDS``,
separately for each process; nothing it meets ends the task, which runs until the agent
cancels it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from portico.agent.exit_watch import ExitWatch
from portico.agent.haproxy import HaproxyManager
from portico.agent.keepalived import KeepalivedManager

LOG = logging.getLogger(__name__)
POLL_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


@dataclass
class _Backoff:
    """When the next restart may be tried: at once, until attempts fail in a row."""

    wait: float = POLL_SECONDS  # the delay after the next failure
    retry_at: float = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self.retry_at

    def record(self, ok: bool) -> None:
        if ok:
            self.wait, self.retry_at = POLL_SECONDS, 0.0
        else:
            self.retry_at = time.monotonic() + self.wait
            self.wait = min(self.wait * 2, MAX_BACKOFF_SECONDS)


class Supervisor:
    """Watches one manager's haproxy (and keepalived, if any) and counts the restarts."""

    def __init__(self, manager: HaproxyManager, *, vrrp: KeepalivedManager | None = None):
        self.manager = manager
        self.vrrp = vrrp
        # haproxy restart attempts since the agent started, when the last one began and how
        # it went (``None`` while it runs).
        self.restarts = 0
        self.last_restart_at: datetime | None = None
        self.last_restart_ok: bool | None = None
        # keepalived restart attempts since the agent started.
        self.keepalived_restarts = 0
        self._haproxy_backoff = _Backoff()
        self._keepalived_backoff = _Backoff()

    async def run(self) -> None:
        """Poll until cancelled; a haproxy master's exit wakes the poll at once."""
        watch = ExitWatch()
        try:
            while True:
                await watch.sleep(POLL_SECONDS, self.manager.master_pid())
                try:
                    await self.poll()
                except Exception:
                    # A full disk or a vanished interface must not end supervision for good.
                    LOG.exception("supervisor poll failed")
        finally:
            watch.close()

    async def poll(self) -> None:
        """One round: track file, haproxy, keepalived, each restarted if it should run."""
        if self.vrrp is not None:
            self.vrrp.track_haproxy()  # before the restart: the VIP must not wait for it
        if self._haproxy_needs_restart() and self._haproxy_backoff.due():
            self._haproxy_backoff.record(await self._restart())
        vrrp = self.vrrp
        if (
            vrrp is not None
            and self._keepalived_needs_restart(vrrp)
            and self._keepalived_backoff.due()
        ):
            self._keepalived_backoff.record(await self._restart_keepalived(vrrp))

    def _haproxy_needs_restart(self) -> bool:
        return self.manager.should_run and not self.manager.running

    async def _restart(self) -> bool:
        """One attempt under the lock; ``True`` if haproxy runs afterwards (or need not)."""
        async with self.manager.lock:
            # Checked again under the lock: a stop, start or push may have run while we waited.
            if not self._haproxy_needs_restart():
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

    @staticmethod
    def _keepalived_needs_restart(vrrp: KeepalivedManager) -> bool:
        return vrrp.should_run and not vrrp.running

    async def _restart_keepalived(self, vrrp: KeepalivedManager) -> bool:
        """One attempt under keepalived's lock; ``start`` removes the dead one's VIPs first."""
        async with vrrp.lock:
            if not self._keepalived_needs_restart(vrrp):
                return True
            self.keepalived_restarts += 1
            started = time.monotonic()
            try:
                await vrrp.start()
            except Exception:
                LOG.exception("keepalived had died; restart %s failed", self.keepalived_restarts)
                return False
            LOG.warning(
                "keepalived had died; restarted as %s in %.0f ms",
                vrrp.pid(),
                (time.monotonic() - started) * 1000,
            )
            return True
