"""``GET /metrics``: Prometheus's text exposition format, a portico extension.

Scrapers carry no Keystone token, so the call takes none; instead only clients whose address
is in ``metrics_allowed_cidrs`` get an answer (others a 403 in Octavia's error body). It is
left out of the OpenAPI document, which describes Octavia's JSON API. With
``metrics_enabled = false`` nothing is mounted and ``/metrics`` is a plain 404.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from portico.api.context import ContextDep
from portico.api.errors import fault
from portico.api.metrics import Metrics, MetricsMiddleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
router = APIRouter(include_in_schema=False)


def address_allowed(host: str | None, networks: Sequence[Network]) -> bool:
    """Whether ``host`` (the client's address as the server saw it) is in ``networks``.

    Anything that is not an IP address (a Unix socket's peer, a test client's name) is
    refused. An IPv4 client of a dual-stack socket arrives as ``::ffff:a.b.c.d`` and is
    matched as the IPv4 address it is.
    """
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


# Sync on purpose: it runs in the thread pool, so the collectors' database queries never hold
# up the event loop.
@router.get("/metrics", operation_id="metrics")
def metrics(request: Request, ctx: ContextDep) -> Response:
    host = request.client.host if request.client else None
    if not address_allowed(host, ctx.settings.metrics_allowed_cidrs):
        return fault(403, f"Metrics are not available to {host}.")
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI, metrics: Metrics) -> None:
    """Mount ``/metrics`` and time every request into ``metrics``."""
    app.state.metrics = metrics
    app.include_router(router)
    # Added last, so it is the outermost middleware and times the others too.
    app.add_middleware(MetricsMiddleware, requests=metrics.requests)
