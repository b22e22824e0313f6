"""The reconcile loop: wakes on every committed write (or each interval) and converges.

Each pass claims a batch of load balancers with a lease, converges them concurrently (bounded
by ``reconcile_workers``) and records each outcome. Provider errors are classified: transient
ones retry with backoff, permanent ones put the load balancer in ERROR with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Literal

from portico.db.engine import Database
from portico.domain.errors import PermanentError
from portico.drivers.providers.base import ApplyResult, LoadBalancerSnapshot, Provider
from portico.services import reconcile
from portico.services.certificates import resolve_certificates
from portico.settings import Settings

LOG = logging.getLogger(__name__)
MAX_RETRIES = 8

Outcome = Literal["success", "transient", "permanent"]
# Told how each converge of one load balancer ended and how long it took (metrics).
ConvergeObserver = Callable[[Outcome, float], None]


class Reconciler:
    """Runs in the event loop of the process that owns it (``serve`` or ``controller``)."""

    def __init__(
        self,
        db: Database,
        providers: dict[str, Provider],
        settings: Settings,
        *,
        observe: ConvergeObserver | None = None,
    ) -> None:
        self._db = db
        self._providers = providers
        self._settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(settings.reconcile_workers)
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._observe = observe

    @property
    def in_flight(self) -> int:
        """Load balancers this process is converging now (claimed, not yet recorded)."""
        return len(self._running)

    def wake(self, _lb_id: str | None = None) -> None:
        """Thread-safe: start a pass now (called after an API write commits)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        """Thread-safe: make ``run`` return after the current pass.

        A flag rather than task cancellation: on Python 3.11, ``wait_for`` can swallow a
        cancellation that arrives together with a wake-up, and shutdown would hang.
        """
        self._stopping = True
        self.wake()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    await self.pass_once()
                except Exception:
                    LOG.exception("reconcile pass failed; retrying next interval")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.reconcile_interval)
        finally:
            for task in self._running:
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def run_until_idle(self) -> None:
        """Converge until nothing is claimable and no pass is running (tests, one-shot runs)."""
        while True:
            claimed = await self.pass_once()
            if self._running:
                await asyncio.gather(*list(self._running), return_exceptions=True)
            elif not claimed:
                return

    async def pass_once(self) -> int:
        """Claim what needs work and start converging it; returns how many were claimed."""
        free = self._settings.reconcile_workers - len(self._running)
        if free <= 0:
            return 0
        ids = await asyncio.to_thread(self._claim, free)
        for lb_id in ids:
            task = asyncio.create_task(self._converge(lb_id))
            self._running.add(task)
            task.add_done_callback(self._done)
        return len(ids)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        # A finished pass may have left newer generations behind: look again at once.
        self._wake.set()

    def _claim(self, limit: int) -> list[str]:
        with self._db.writing() as session:
            return reconcile.claim(
                session,
                owner=self.owner,
                lease_seconds=self._settings.reconcile_lease_seconds,
                limit=limit,
            )

    def _snapshot(self, lb_id: str) -> LoadBalancerSnapshot | None:
        with self._db.reading() as session:
            return reconcile.snapshot(session, lb_id, resolve_certificates=resolve_certificates)

    async def _converge(self, lb_id: str) -> None:
        async with self._slots:
            started = time.perf_counter()
            snap = await asyncio.to_thread(self._snapshot, lb_id)
            if snap is None:
                return
            renewing = asyncio.create_task(self._keep_lease(lb_id))
            try:
                result = await self._apply(snap)
            except Exception as exc:
                permanent = isinstance(exc, PermanentError)
                LOG.warning("%s reconcile of generation %s failed: %s", lb_id, snap.generation, exc)
                await asyncio.to_thread(
                    self._failed, snap, str(exc) or type(exc).__name__, permanent
                )
                self._observed("permanent" if permanent else "transient", started)
                return
            finally:
                renewing.cancel()
            await asyncio.to_thread(self._succeeded, snap, result)
            self._observed("success", started)

    def _observed(self, outcome: Outcome, started: float) -> None:
        if self._observe is not None:
            self._observe(outcome, time.perf_counter() - started)

    async def _keep_lease(self, lb_id: str) -> None:
        """Renew the lease while a pass runs, so a slow boot is never taken over midway.

        A second controller taking over a load balancer whose amphora is still booting
        would only wait for the same amphora (boots are idempotent per amphora id), but it
        would repeat the work; a live worker keeps what it holds.
        """
        seconds = self._settings.reconcile_lease_seconds
        while True:
            await asyncio.sleep(seconds / 3)
            if not await asyncio.to_thread(self._renew, lb_id):
                return

    def _renew(self, lb_id: str) -> bool:
        with self._db.writing() as session:
            return reconcile.renew_lease(
                session,
                lb_id,
                owner=self.owner,
                lease_seconds=self._settings.reconcile_lease_seconds,
            )

    async def _apply(self, snap: LoadBalancerSnapshot) -> ApplyResult:
        provider = self._providers.get(snap.provider)
        if provider is None:
            raise PermanentError(f"provider {snap.provider!r} is not enabled")
        if snap.deleting:
            await provider.delete(snap)
            return ApplyResult()
        return await provider.apply(snap)

    def _succeeded(self, snap: LoadBalancerSnapshot, result: ApplyResult) -> None:
        with self._db.writing() as session:
            reconcile.record_success(
                session, snap.id, owner=self.owner, generation=snap.generation, result=result
            )

    def _failed(self, snap: LoadBalancerSnapshot, reason: str, permanent: bool) -> None:
        with self._db.writing() as session:
            reconcile.record_failure(
                session,
                snap.id,
                owner=self.owner,
                generation=snap.generation,
                reason=reason,
                permanent=permanent,
                max_retries=MAX_RETRIES,
            )
