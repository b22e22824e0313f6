"""Query-string parsing for list calls, and the ``<resources>_links`` they answer with."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from portico.domain.errors import InvalidInput
from portico.services.listing import ListQuery, Page

_AUX = {"limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields"}
_TAG_PARAMS = {"tags", "tags-any", "not-tags", "not-tags-any"}


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(v for raw in values for v in raw.split(",") if v)


def _direction(value: str) -> str:
    lowered = value.lower()
    if lowered not in ("asc", "desc"):
        raise InvalidInput(f"Invalid sort direction: {value}")
    return lowered


def _sort(request: Request) -> tuple[tuple[str, str], ...]:
    params = request.query_params
    keys: list[tuple[str, str]] = []
    if params.get("sort"):
        for item in params["sort"].split(","):
            parts = item.split(":")
            if len(parts) > 2 or not parts[0]:
                raise InvalidInput(f"Invalid sort key: {item}")
            keys.append((parts[0], _direction(parts[1]) if len(parts) == 2 else "asc"))
    elif params.getlist("sort_key"):
        names = list(_split(params.getlist("sort_key")))
        dirs = [_direction(d) for d in _split(params.getlist("sort_dir"))]
        dirs += ["asc"] * (len(names) - len(dirs))
        keys.extend(zip(names, dirs, strict=False))
    return tuple(keys)


def _limit(raw: str | None) -> int | None:
    if raw is None or raw == "infinite":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidInput(f"Invalid limit: {raw}") from exc
    return None if value < 1 else value


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_\-:.]{1,255}$")


def _page_reverse(raw: str | None) -> bool:
    """Octavia reads only ``True`` as true; portico also refuses values that mean neither."""
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise InvalidInput(f"Invalid page_reverse: {raw}")


def parse_list_query(request: Request, *, translate: dict[str, str] | None = None) -> ListQuery:
    """Build a ``ListQuery``; ``translate`` renames API filter names (e.g. loadbalancer_id)."""
    params = request.query_params
    filters: dict[str, str] = {}
    for name in params:
        if name in _AUX or name in _TAG_PARAMS:
            continue
        api_name = (translate or {}).get(name, name)
        filters[api_name] = params.getlist(name)[-1]
    return ListQuery(
        limit=_limit(params.get("limit")),
        marker=params.get("marker"),
        page_reverse=_page_reverse(params.get("page_reverse")),
        sort=_sort(request),
        filters=filters,
        tags=_split(params.getlist("tags")),
        tags_any=_split(params.getlist("tags-any")),
        not_tags=_split(params.getlist("not-tags")),
        not_tags_any=_split(params.getlist("not-tags-any")),
    )


def requested_fields(request: Request) -> list[str] | None:
    """Names in ``fields``; unknown names are ignored as in Octavia, malformed ones refused."""
    fields = _split(request.query_params.getlist("fields"))
    for name in fields:
        if not _FIELD_NAME.match(name):
            raise InvalidInput(f"Invalid field name in fields: {name}")
    return list(fields) or None


def select_fields(view: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if not fields:
        return view
    return {k: v for k, v in view.items() if k in fields}


def page_links(
    request: Request, page: Page, query: ListQuery, base_url: str | None
) -> list[dict[str, str]]:
    """Octavia's ``previous``/``next`` links, built from the first and last rows' ids."""
    if not page.rows:
        return []
    path = (
        (base_url.rstrip("/") + request.url.path)
        if base_url
        else str(request.url.replace(query=""))
    )
    common: list[tuple[str, str]] = [("limit", str(page.limit))]
    for key in ("sort", "sort_key", "sort_dir"):
        if key in request.query_params:
            common.append((key, request.query_params[key]))
    links = []
    if page.has_previous:
        prev = [*common, ("marker", page.rows[0].id), ("page_reverse", "True")]
        links.append({"rel": "previous", "href": f"{path}?{urlencode(prev, safe=':,')}"})
    if page.has_next:
        nxt = [*common, ("marker", page.rows[-1].id)]
        links.append({"rel": "next", "href": f"{path}?{urlencode(nxt, safe=':,')}"})
    return links
