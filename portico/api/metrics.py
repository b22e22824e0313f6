"""Prometheus metrics of one API process, in a registry of its own.

A registry per app rather than prometheus_client's global one: a process (a test run, above
all) may build many apps, and each must count only its own requests. What the process
measures itself (request latency, reconcile durations) is kept in metric objects; the rest is
read when scraped, so nothing is copied ahead of time: the fleet from the database
(``services.fleet_metrics``), and the heartbeat counters and the reconciler's in-flight
count from the live objects when this process runs them (``portico serve``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portico.db.engine import Database
from portico.services.fleet_metrics import fleet_counts

LOG = logging.getLogger(__name__)
# The route label of requests no route matched: their raw paths would make one series per URL.
UNMATCHED = "<unmatched>"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A converge spans a noop provider's milliseconds and an amphora boot's seconds.
CONVERGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class HeartbeatCounts(Protocol):
    """What the health service's receiver counts (``health.receiver.HeartbeatReceiver``)."""

    @property
    def accepted(self) -> int: ...

    @property
    def rejected(self) -> Mapping[str, int]: ...


class ReconcileProgress(Protocol):
    """What the in-process reconciler tells (``reconciler.loop.Reconciler``)."""

    @property
    def in_flight(self) -> int: ...


class Metrics:
    """The registry of one app, the metrics it measures and the collectors it reads."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "portico_api_request_duration_seconds",
            "API requests: time from receipt to the end of the answer, by route template.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.converges = Histogram(
            "portico_reconcile_duration_seconds",
            "Converging one load balancer: snapshot, provider, outcome recorded.",
            ["outcome"],
            buckets=CONVERGE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_FleetCollector(db))

    def observe_converge(self, outcome: str, seconds: float) -> None:
        """The reconciler's observer: one converge ended (success, transient, permanent)."""
        self.converges.labels(outcome).observe(seconds)

    def watch(
        self, *, reconciler: ReconcileProgress | None, heartbeats: HeartbeatCounts | None
    ) -> None:
        """Also report what this process's reconciler and health service know, if it runs them."""
        self.registry.register(_LiveCollector(reconciler, heartbeats))

    def render(self) -> bytes:
        """The text exposition format; reads the database, so call it off the event loop."""
        return generate_latest(self.registry)


class _FleetCollector:
    """Amphorae by status, spares, the reconcile queue and events, from the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "portico_database_up", "Whether this scrape could read the database (1) or not (0)."
        )
        try:
            with self._db.reading() as session:
                counts = fleet_counts(session)
        except SQLAlchemyError as exc:
            # The process's own metrics still matter (and say why requests fail).
            LOG.warning("metrics: database unreadable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        amphorae = GaugeMetricFamily(
            "portico_amphorae", "Amphorae by status (DELETED left out).", labels=["status"]
        )
        for status, count in counts.amphorae.items():
            amphorae.add_metric([status], count)
        yield amphorae
        yield GaugeMetricFamily(
            "portico_amphora_spares_ready",
            "Spare amphorae READY for a new load balancer or a failover.",
            value=counts.spares_ready,
        )
        yield GaugeMetricFamily(
            "portico_reconcile_pending_load_balancers",
            "Load balancers whose latest generation is not applied yet (all controllers).",
            value=counts.pending_load_balancers,
        )
        events = CounterMetricFamily(
            "portico_events",
            "Events recorded, by kind (failover_started counts failovers).",
            labels=["kind"],
        )
        for kind, count in counts.events.items():
            events.add_metric([kind], count)
        yield events


class _LiveCollector:
    """The in-process reconciler's and health service's counters, read at scrape time."""

    def __init__(
        self, reconciler: ReconcileProgress | None, heartbeats: HeartbeatCounts | None
    ) -> None:
        self._reconciler = reconciler
        self._heartbeats = heartbeats

    def collect(self) -> Iterator[Metric]:
        if self._reconciler is not None:
            yield GaugeMetricFamily(
                "portico_reconcile_in_flight",
                "Load balancers this process's reconciler is converging now.",
                value=self._reconciler.in_flight,
            )
        if self._heartbeats is None:
            return
        yield CounterMetricFamily(
            "portico_heartbeats_accepted",
            "Heartbeats the health service accepted (signed, fresh, well-formed).",
            value=self._heartbeats.accepted,
        )
        rejected = CounterMetricFamily(
            "portico_heartbeats_rejected", "Heartbeats dropped, by reason.", labels=["reason"]
        )
        # A copy first: the event loop's thread counts on while this scrape runs in another.
        for reason, count in sorted(dict(self._heartbeats.rejected).items()):
            rejected.add_metric([reason], count)
        yield rejected


class MetricsMiddleware:
    """Times every HTTP request into ``requests``, labelled by the route template it matched.

    Outermost, so the time includes the other middleware (request id, body guard) and the
    error handlers. The router records the route it matched in the scope, which is the same
    dict all the way down.
    """

    def __init__(self, app: ASGIApp, *, requests: Histogram) -> None:
        self.app = app
        self._requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # An exception that escapes with nothing sent is answered 500 by the server.
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._requests.labels(route_template(scope), scope["method"], str(status)).observe(
                time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """The template of the route the request matched, with its router's prefix.

    FastAPI puts the route it matched in the scope, but an included router's route knows only
    its own path (``/lbaas/loadbalancers/{lb_id}``), not the prefix it was included under
    (``/v2``, ``/v2.0``). Prefixes hold no parameters, so the prefix is the literal start of
    the path before the part the route's pattern matches whole.
    """
    route = scope.get("route")
    template, pattern = getattr(route, "path", None), getattr(route, "path_regex", None)
    if not isinstance(template, str) or not isinstance(pattern, re.Pattern):
        return UNMATCHED
    path: str = scope["path"]
    for start, char in enumerate(path):
        if char == "/" and pattern.fullmatch(path[start:]):
            return path[:start] + template
    return template
