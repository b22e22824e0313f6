"""Pure-ASGI middleware: a request id for every request, on its response and its log lines.

As Octavia (oslo.middleware's RequestId) answers every request with
``x-openstack-request-id: req-<uuid>``; the id is also set in the logging context
(``portico.wire.log_setup``) for the request's duration, so every line logged while handling
it, by the API or the services it calls, carries it, and one access line per request closes
it (oslo.service's wsgi format: request line, status, length, time).
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portico.wire.log_setup import request_context

ACCESS = logging.getLogger("portico.api.access")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering
        length = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, length
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", request_id.encode()))
                message["headers"] = headers
            elif message["type"] == "http.response.body":
                length += len(message.get("body", b""))
            await send(message)

        with request_context(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                _access(scope, status, length, time.perf_counter() - started)


def _access(scope: Scope, status: int, length: int, seconds: float) -> None:
    client = scope.get("client")
    query = scope.get("query_string", b"").decode("latin-1")
    path = scope.get("path", "") + (f"?{query}" if query else "")
    ACCESS.info(
        '%s "%s %s HTTP/%s" status: %s len: %s time: %.7f',
        client[0] if client else "-",
        scope.get("method", ""),
        path,
        scope.get("http_version", "1.1"),
        status,
        length,
        seconds,
    )
