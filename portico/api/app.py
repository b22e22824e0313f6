"""The FastAPI application: routers under /v2 and /v2.0, middleware, error handlers."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI

from portico import __version__
from portico.api.body_guard import BodyGuardMiddleware
from portico.api.context import ApiContext
from portico.api.errors import install_error_handlers
from portico.api.metrics import Metrics
from portico.api.middleware import RequestIdMiddleware
from portico.api.rate_limit import ApiRateLimitMiddleware
from portico.api.routers import (
    amphorae,
    availability_zone_profiles,
    availability_zones,
    certificates,
    events,
    flavor_profiles,
    flavors,
    healthcheck,
    healthmonitors,
    identity_lookup,
    l7policies,
    l7rules,
    listeners,
    loadbalancers,
    members,
    network_lookup,
    pools,
    providers,
    quotas,
    support,
    upgrades,
    versions,
)
from portico.api.routers.metrics import install_metrics
from portico.domain.token_bucket import TokenBuckets

V2_ROUTERS: list[APIRouter] = [
    loadbalancers.router,
    listeners.router,
    pools.router,
    members.router,
    healthmonitors.router,
    l7policies.router,
    l7rules.router,
    quotas.router,
    providers.router,
    flavor_profiles.router,
    flavors.router,
    availability_zone_profiles.router,
    availability_zones.router,
    amphorae.router,
    certificates.router,
    events.router,
    support.router,
    upgrades.router,
]


def create_app(
    ctx: ApiContext,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    extra_routers: list[APIRouter] | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    """Build the API app around ``ctx``; ``lifespan`` runs background services with it.

    ``metrics`` (a fresh registry when not given) is served at ``/metrics`` if enabled.
    """
    app = FastAPI(
        title="portico",
        version=__version__,
        description="Load balancing as a service: the OpenStack Octavia v2 API.",
        lifespan=lifespan,
    )
    app.state.portico = ctx
    install_error_handlers(app)
    # Added first, so it runs inside RequestIdMiddleware: refusals carry the request id too.
    app.add_middleware(
        BodyGuardMiddleware,
        max_body_bytes=ctx.settings.max_request_body_bytes,
        max_json_depth=ctx.settings.max_json_depth,
    )
    if ctx.settings.api_rate_limit is not None:
        # Outside the body guard: a project over its limit is refused before its body is read.
        app.add_middleware(
            ApiRateLimitMiddleware,
            buckets=TokenBuckets(ctx.settings.api_rate_limit, ctx.settings.api_rate_limit_burst),
            authenticator=ctx.authenticator,
            admin_exempt=ctx.settings.api_rate_limit_admin_exempt,
        )
    app.add_middleware(RequestIdMiddleware)
    app.include_router(versions.router)
    app.include_router(healthcheck.router)
    for prefix in ("/v2", "/v2.0"):
        for router in [*V2_ROUTERS, *(extra_routers or [])]:
            # The /v2.0 copy is the same API; keep it out of the schema to avoid duplicates.
            app.include_router(router, prefix=prefix, include_in_schema=prefix == "/v2")
    if ctx.settings.auth_strategy == "noauth":
        # Neutron and Keystone stand-ins for the clients' lookups; not part of Octavia's API.
        app.include_router(network_lookup.router, prefix="/v2", include_in_schema=False)
        app.include_router(identity_lookup.router, include_in_schema=False)
    if ctx.settings.metrics_enabled:
        install_metrics(app, metrics or Metrics(ctx.db))
    return app
