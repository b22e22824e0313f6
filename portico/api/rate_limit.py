"""Pure-ASGI API rate limiting per project: a token bucket per project id, in this process.

Why a middleware: a project flooding the API should cost as little as possible, so it is
refused before any body is read or any database query runs. The caller is authenticated
here (the handlers reuse it from the request state, so it is done once); a request that
fails authentication passes on untouched, for the handlers to refuse with their own 401.

Only the API itself (``/v2``, ``/v2.0``) is limited: the version document, ``/healthcheck``
and ``/metrics`` stay open to probes and scrapers. Callers with an admin role are exempt
unless ``api_rate_limit_admin_exempt`` is false, so operators can act during an incident
(noauth's default role is admin: name a role with ``X-Roles`` to be limited). Callers
without a project share one bucket. Over the limit: 429 in Octavia's body, with
``Retry-After`` in whole seconds.
"""

from __future__ import annotations

import math
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from portico.api.context import Authenticator
from portico.api.errors import fault
from portico.domain.errors import PorticoError
from portico.domain.token_bucket import TokenBuckets

LIMITED_PREFIXES = ("/v2/", "/v2.0/")


class ApiRateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        buckets: TokenBuckets,
        authenticator: Authenticator,
        admin_exempt: bool,
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.authenticator = authenticator
        self.admin_exempt = admin_exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(LIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            caller = await self.authenticator.authenticate(request)
        except PorticoError:
            await self.app(scope, receive, send)
            return
        # ``get_caller`` finds it here: the request state lives in the scope.
        request.state.caller = caller
        if caller.is_admin and self.admin_exempt:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(caller.project_id or "", time.monotonic())
        if wait > 0:
            response = fault(
                429,
                f"Rate limit exceeded: more than {self.buckets.rate:g} API requests per "
                f"second (burst {self.buckets.burst}) for this project.",
            )
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
