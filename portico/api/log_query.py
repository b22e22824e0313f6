"""The logs calls' query (``source``, ``limit``, ``marker``, ``page_reverse``) and links.

Octavia's paging words with a log's meaning: a page holds consecutive lines, newest last; the
first page is the newest ``limit`` lines and ``next`` walks back to older ones, while
``page_reverse=true`` starts at the oldest line and walks forwards. The marker is opaque to
clients: the byte offset at which each amphora's next page starts, base64url of JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Query, Request

from portico.api.context import get_context
from portico.domain.errors import InvalidInput
from portico.orchestrator.amphora_logs import LogRequest, Tail
from portico.wire.agent_diagnostics import LogSource

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PARAMS = frozenset({"source", "limit", "marker", "page_reverse"})
# A marker holds an offset per amphora (two at most): far shorter than this.
MAX_MARKER_CHARS = 2048
_SOURCES = ", ".join(s.value for s in LogSource)


def parse_log_query(
    request: Request,
    source: Annotated[
        str, Query(description="haproxy (default), agent, tenant or admin")
    ] = LogSource.HAPROXY.value,
    limit: Annotated[str, Query(description=f"lines per amphora, 1 to {MAX_LIMIT}")] = str(
        DEFAULT_LIMIT
    ),
    marker: Annotated[str | None, Query(description="from a next link (opaque)")] = None,
    page_reverse: Annotated[
        str, Query(description="true: from the oldest line, walking forwards")
    ] = "false",
) -> LogRequest:
    """The query as a dependency (so the OpenAPI document lists it); 400 in Octavia's body
    for an unknown parameter or a value out of range."""
    for name in request.query_params:
        if name not in PARAMS:
            raise InvalidInput(f"Invalid query parameter: {name}")
    try:
        found = LogSource(source)
    except ValueError as exc:
        raise InvalidInput(f"Invalid source: {source} (one of {_SOURCES})") from exc
    if not re.fullmatch(r"[0-9]{1,5}", limit) or not 1 <= int(limit) <= MAX_LIMIT:
        raise InvalidInput(f"Invalid limit: {limit} (1 to {MAX_LIMIT})")
    return LogRequest(
        source=found,
        limit=int(limit),
        offsets=None if marker is None else decode_marker(marker),
        forwards=_reverse(page_reverse),
    )


LogQueryDep = Annotated[LogRequest, Depends(parse_log_query)]


def _reverse(raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise InvalidInput(f"Invalid page_reverse: {raw}")
    return raw.lower() == "true"


def encode_marker(offsets: dict[str, int]) -> str:
    text = json.dumps(offsets, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_marker(marker: str) -> dict[str, int]:
    if len(marker) > MAX_MARKER_CHARS:
        raise InvalidInput(f"Invalid marker: {marker[:64]}…")
    try:
        padded = marker + "=" * (-len(marker) % 4)
        offsets = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise InvalidInput(f"Invalid marker: {marker}") from exc
    valid = isinstance(offsets, dict) and all(
        isinstance(k, str) and type(v) is int and v >= 0 for k, v in offsets.items()
    )
    if not valid or not offsets:
        raise InvalidInput(f"Invalid marker: {marker}")
    return {str(k): int(v) for k, v in offsets.items()}


@dataclass(frozen=True)
class LogAnswer:
    """The body of a logs call: lines tagged with their amphora, the next link, failures."""

    lines: list[dict[str, str]]
    links: list[dict[str, str]]
    unreachable: list[dict[str, str]]


def answer(request: Request, query: LogRequest, tails: list[Tail]) -> LogAnswer:
    lines = [
        {"amphora_id": tail.amphora_id, "source": query.source.value, "line": line.text}
        for tail in tails
        if tail.page is not None
        for line in tail.page.lines
    ]
    following = {
        tail.amphora_id: offset
        for tail in tails
        if (offset := tail.next_offset(forwards=query.forwards)) is not None
    }
    links = []
    if following:
        pairs = [("source", query.source.value), ("limit", str(query.limit))]
        pairs.append(("marker", encode_marker(following)))
        if query.forwards:
            pairs.append(("page_reverse", "True"))
        base = get_context(request).settings.api_base_url
        path = (base.rstrip("/") + request.url.path) if base else str(request.url.replace(query=""))
        links.append({"rel": "next", "href": f"{path}?{urlencode(pairs)}"})
    unreachable = [
        {"amphora_id": tail.amphora_id, "faultstring": tail.error.faultstring}
        for tail in tails
        if tail.error is not None
    ]
    return LogAnswer(lines=lines, links=links, unreachable=unreachable)
