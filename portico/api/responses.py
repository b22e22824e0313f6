"""Helpers every router uses to answer in Octavia's shapes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import get_context
from portico.api.listing import page_links, requested_fields, select_fields
from portico.services.listing import ListQuery, Page


def one(key: str, view: dict[str, Any], request: Request, status: int = 200) -> JSONResponse:
    """``{"<key>": {...}}`` honouring ``fields``."""
    return JSONResponse({key: select_fields(view, requested_fields(request))}, status_code=status)


def many(
    key: str,
    page: Page,
    query: ListQuery,
    request: Request,
    view: Callable[[Any], dict[str, Any]],
) -> JSONResponse:
    """``{"<key>": [...], "<key>_links": [...]}`` honouring ``fields``."""
    fields = requested_fields(request)
    items: Sequence[dict[str, Any]] = [select_fields(view(row), fields) for row in page.rows]
    base = get_context(request).settings.api_base_url
    return JSONResponse({key: items, f"{key}_links": page_links(request, page, query, base)})


def no_content() -> Response:
    return Response(status_code=204)


def accepted() -> Response:
    return Response(status_code=202)
