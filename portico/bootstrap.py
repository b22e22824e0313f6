"""Composition root: settings -> database -> drivers -> processes. Nothing else wires things.

``serve`` is the embedded default: the API and the reconciler in one process. ``api`` and
``controller`` run one part each against a shared database.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from portico.api.app import create_app
from portico.api.auth import NoAuth
from portico.api.context import ApiContext, Authenticator
from portico.api.metrics import Metrics
from portico.db import migrate
from portico.db.engine import Database, make_engine
from portico.drivers.certs.pki import CertificateAuthority
from portico.drivers.providers.base import Provider, ProviderContext
from portico.drivers.providers.registry import load_providers
from portico.health.receiver import HeartbeatReceiver, run_health
from portico.orchestrator.cert_rotation import rotation_pass, run_rotation
from portico.orchestrator.fleet import Fleet
from portico.orchestrator.housekeeping import (
    HousekeepingReport,
    housekeeping_pass,
    run_housekeeping,
)
from portico.orchestrator.provider import AmphoraProvider
from portico.orchestrator.spares import keep_pool, run_spares
from portico.reconciler.loop import ConvergeObserver, Reconciler
from portico.services.event_delivery import run_event_delivery
from portico.services.heartbeats import load_secret
from portico.settings import Settings

LOG = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 10.0


def build_database(settings: Settings) -> Database:
    return Database(make_engine(settings.effective_database_url))


def build_authenticator(settings: Settings) -> Authenticator:
    if settings.auth_strategy == "keystone":
        from portico.api.keystone import KeystoneAuth  # keystonemiddleware loads slowly

        auth: Authenticator = KeystoneAuth(settings)
        return auth
    return NoAuth(settings)


def build_providers(settings: Settings, db: Database) -> dict[str, Provider]:
    context = ProviderContext(settings=settings, database=db)
    return load_providers(list(settings.enabled_provider_drivers), context)


def build_reconciler(
    settings: Settings,
    db: Database,
    providers: dict[str, Provider] | None = None,
    *,
    observe: ConvergeObserver | None = None,
) -> Reconciler:
    if providers is None:
        providers = build_providers(settings, db)
    return Reconciler(db, providers, settings, observe=observe)


def build_health(settings: Settings) -> HeartbeatReceiver | None:
    """The heartbeat receiver when this process runs the health service (``run_health``)."""
    return HeartbeatReceiver(load_secret(settings)) if settings.run_health else None


def start_housekeeping(
    settings: Settings,
    db: Database,
    providers: dict[str, Provider],
    reconciler: Reconciler,
    receiver: HeartbeatReceiver | None,
) -> list[asyncio.Task[None]]:
    """The controller's background work beside the reconciler, as tasks of this loop.

    Certificate rotation (the process that talks to agents keeps their certificates valid),
    the housekeeping pass (purge, orphans), the health service when this process runs it
    (failovers wake the reconciler at once), the spares pool when the amphora provider is
    enabled and ``spares_pool_size`` > 0, and the delivery of events to ``event_webhooks``
    when there are any.
    """
    fleet = _fleet(providers)
    tasks = [
        asyncio.create_task(run_rotation(settings, db)),
        asyncio.create_task(run_housekeeping(settings, db, fleet, on_failover=reconciler.wake)),
    ]
    if receiver is not None:
        tasks.append(
            asyncio.create_task(run_health(settings, db, receiver, on_failover=reconciler.wake))
        )
    if fleet is not None and settings.spares_pool_size > 0:
        tasks.append(
            asyncio.create_task(
                run_spares(fleet, settings.spares_pool_size, settings.spares_interval)
            )
        )
    if settings.event_webhooks:
        tasks.append(asyncio.create_task(run_event_delivery(settings, db)))
    return tasks


def _fleet(providers: dict[str, Provider]) -> Fleet | None:
    """The amphora provider's fleet, when that provider is enabled."""
    amphora = providers.get("amphora")
    return amphora.fleet if isinstance(amphora, AmphoraProvider) else None


async def housekeeping_once(settings: Settings) -> HousekeepingReport:
    """``portico housekeeping``: one pass of everything the controller's housekeeping does
    (purge, orphans, certificate rotation, the spares pool), against the configured
    database and compute driver; run it on a controller's host."""
    db = build_database(settings)
    providers = build_providers(settings, db)
    try:
        fleet = _fleet(providers)
        report = await housekeeping_pass(settings, db, fleet)
        ca = CertificateAuthority(
            settings.data_dir / "pki", validity_days=settings.amphora_cert_validity_days
        )
        report.rotated = await rotation_pass(db, ca)
        if fleet is not None and settings.spares_pool_size > 0:
            report.spares_booted = await keep_pool(fleet, settings.spares_pool_size)
        return report
    finally:
        await close_providers(providers)
        db.dispose()


async def _stop_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def build_app(settings: Settings, *, with_reconciler: bool) -> FastAPI:
    """The API app; with ``with_reconciler`` the reconcile loop runs in its event loop."""
    db = build_database(settings)
    providers = build_providers(settings, db)
    metrics = Metrics(db)
    reconciler = (
        build_reconciler(settings, db, providers, observe=metrics.observe_converge)
        if with_reconciler
        else None
    )
    # The health service runs with the controller part, as ``portico controller`` does.
    receiver = build_health(settings) if with_reconciler else None
    metrics.watch(reconciler=reconciler, heartbeats=receiver)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(reconciler.run()) if reconciler else None
        background = (
            start_housekeeping(settings, db, providers, reconciler, receiver) if reconciler else []
        )
        try:
            yield
        finally:
            await _stop_all(background)
            if reconciler is not None and task is not None:
                reconciler.stop()
                try:
                    await asyncio.wait_for(task, timeout=SHUTDOWN_SECONDS)
                except TimeoutError:
                    LOG.warning("reconciler did not stop within %ss; cancelled", SHUTDOWN_SECONDS)
            await close_providers(providers)
            db.dispose()

    ctx = ApiContext(
        settings=settings,
        db=db,
        authenticator=build_authenticator(settings),
        notify_change=reconciler.wake if reconciler else (lambda _lb_id: None),
        providers=providers,
    )
    app = create_app(ctx, lifespan=lifespan, metrics=metrics)
    # Its counters (accepted, rejected by reason) for diagnostics.
    app.state.heartbeats = receiver
    return app


# Allocations between young-generation collections (CPython's default is 700).
GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the request path of a long-running server.

    A 1,000-item list page allocates some 100,000 objects; with CPython's defaults that
    triggers full collections that scan every module, class and cached statement loaded at
    start-up, and those pauses made the list's p99 about three times its median. Freezing
    what start-up built moves it out of the collector's reach; a higher young-generation
    threshold makes collections rarer. Reference counting still frees almost everything.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def upgrade_database(settings: Settings) -> None:
    migrate.upgrade(settings.effective_database_url)


async def run_controller(settings: Settings) -> None:
    """The reconciler alone, polling the shared database."""
    db = build_database(settings)
    providers = build_providers(settings, db)
    reconciler = build_reconciler(settings, db, providers)
    background = start_housekeeping(settings, db, providers, reconciler, build_health(settings))
    try:
        await reconciler.run()
    finally:
        await _stop_all(background)
        await close_providers(providers)
        db.dispose()


async def close_providers(providers: dict[str, Provider]) -> None:
    """Close what providers hold open (the amphora provider's agent connections).

    Amphorae outlive the controller; only this side's connections end with it.
    """
    for provider in providers.values():
        aclose = getattr(provider, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                LOG.exception("provider %s did not close cleanly", provider.name)
