"""One place that turns errors into Octavia's body: ``faultcode``, ``faultstring``, ``debuginfo``.

Request validation failures are 400 as in Octavia (wsme answers 400, never 422).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from portico.domain.errors import PorticoError

LOG = logging.getLogger(__name__)


def fault(status: int, faultstring: str) -> JSONResponse:
    """Octavia's error body; ``faultcode`` is Client for 4xx and Server for 5xx."""
    body = {
        "faultcode": "Client" if status < 500 else "Server",
        "faultstring": faultstring,
        "debuginfo": None,
    }
    return JSONResponse(status_code=status, content=body)


def _describe(error: dict[str, Any]) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
    where = ".".join(loc)
    msg = str(error.get("msg", "invalid value"))
    if error.get("type") == "extra_forbidden":
        return f"Unknown attribute for argument {where}"
    if error.get("type") == "json_invalid":
        return "Malformed JSON in request body"
    if error.get("type") == "missing":
        return f"Mandatory field missing: {where}"
    value = error.get("input")
    shown = "" if isinstance(value, dict | list) or value is None else f" {value!r}"
    return f"Invalid input for field/attribute {where}. Value:{shown}. {msg}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PorticoError)
    async def _portico_error(_request: Request, exc: PorticoError) -> JSONResponse:
        response = fault(exc.http_status, exc.faultstring)
        response.headers.update(exc.response_headers())
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        text = "; ".join(_describe(dict(e)) for e in errors[:5]) or "Invalid input"
        return fault(400, text)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "The resource could not be found."
        elif exc.status_code == 405:
            detail = "The method is not allowed for the requested URL."
        return fault(exc.status_code, detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        LOG.exception(
            "%s unhandled error on %s %s",
            request.state.__dict__.get("request_id"),
            request.method,
            request.url.path,
        )
        return fault(500, "An unknown exception occurred.")
