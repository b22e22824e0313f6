"""Helpers every router uses to answer in Octavia's shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from portico.api.listing import requested_fields, select_fields
from portico.api.paging import page_response
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
    return page_response(request, page, query, items_key=key, links_key=f"{key}_links", view=view)


def no_content() -> Response:
    return Response(status_code=204)


def accepted() -> Response:
    return Response(status_code=202)
