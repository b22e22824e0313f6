"""List answers for resources whose shape departs from ``responses.many``.

Octavia names some link lists irregularly (``flavorprofile_links``,
``availability_zone_profile_links``) and keys some tables by something other than ``id``
(availability zones by name, quotas by project); markers in their links follow that key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from portico.api.context import get_context
from portico.api.listing import page_links, requested_fields, select_fields
from portico.services.listing import ListQuery, Page


@dataclass(frozen=True)
class _Marker:
    id: str


def page_response(
    request: Request,
    page: Page,
    query: ListQuery,
    *,
    items_key: str,
    links_key: str,
    view: Callable[[Any], dict[str, Any]],
    marker: Callable[[Any], str] = lambda row: str(row.id),
) -> JSONResponse:
    """``{items_key: [...], links_key: [...]}`` honouring ``fields``."""
    fields = requested_fields(request)
    items = [select_fields(view(row), fields) for row in page.rows]
    refs = Page(
        rows=[_Marker(marker(row)) for row in page.rows],
        has_next=page.has_next,
        has_previous=page.has_previous,
        limit=page.limit,
    )
    base = get_context(request).settings.api_base_url
    return JSONResponse({items_key: items, links_key: page_links(request, refs, query, base)})
