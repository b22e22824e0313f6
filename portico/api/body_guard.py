"""Pure-ASGI guard in front of every handler: refuse hostile input before anything parses it.

Why here and not in the handlers: FastAPI reads the whole body into memory and hands it to
``json.loads``, whose C scanner recurses once per nesting level. A 100 MB body or ``[[[[…``
a million levels deep would cost memory or blow the stack before pydantic ever sees it. So
this middleware, for POST/PUT/PATCH:

- refuses a declared ``Content-Length`` over ``max_request_body_bytes`` at once (413), and
  stops reading a streamed body as soon as it passes the limit (413);
- refuses a body whose ``Content-Type`` is not JSON (415); no Content-Type is read as JSON,
  as FastAPI does;
- refuses invalid UTF-8, malformed JSON, nesting deeper than ``max_json_depth`` (measured by an
  iterative scan, never by recursion), a top level that is not an object, and lone UTF-16
  surrogates that no database can store (400);

and for every request it refuses NUL and other control characters in the path and the query
string (400):
PostgreSQL cannot store or compare a string with NUL in it, and no Octavia value contains one.
Accepted bodies are replayed to the application unchanged. Errors use Octavia's fault body.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portico.api.errors import fault

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# A JSON string (with escapes) or one bracket; brackets inside strings are skipped whole.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


class BodyRejected(Exception):
    """The request is refused with ``status`` and Octavia's ``faultstring``."""

    def __init__(self, status: int, faultstring: str) -> None:
        super().__init__(faultstring)
        self.status = status
        self.faultstring = faultstring


def json_depth(raw: bytes) -> int:
    """Deepest nesting of arrays/objects in ``raw``, scanned iteratively (no recursion)."""
    depth = deepest = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _has_lone_surrogate(document: Any) -> bool:
    """True if any key or string value cannot be encoded as UTF-8 (walked with a stack)."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _media_type(headers: dict[bytes, bytes]) -> tuple[str, str | None] | None:
    """(media type, charset) of the request, or None when it names none."""
    raw = headers.get(b"content-type")
    if raw is None or not raw.strip():
        return None
    parts = raw.decode("latin-1").split(";")
    charset = None
    for param in parts[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return parts[0].strip().lower(), charset


def check_content_type(headers: dict[bytes, bytes]) -> None:
    found = _media_type(headers)
    if found is None:
        return
    media, charset = found
    is_json = media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
    if not is_json or charset not in (None, "utf-8", "utf8"):
        raise BodyRejected(
            415, f"Unsupported Content-Type {media!r}; request bodies must be application/json."
        )


def check_body(raw: bytes, *, max_depth: int) -> None:
    """Validate a complete JSON request body; raises ``BodyRejected`` (400) if unfit."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRejected(400, "Request body is not valid UTF-8.") from exc
    if json_depth(raw) > max_depth:
        raise BodyRejected(400, f"Request body is nested deeper than {max_depth} levels.")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BodyRejected(400, "Malformed JSON in request body") from exc
    if not isinstance(document, dict):
        raise BodyRejected(400, "The request body must be a JSON object.")
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(document):
        raise BodyRejected(400, "Request body contains an unpaired UTF-16 surrogate.")


def check_query(query_string: bytes) -> None:
    if b"%" not in query_string and not _CONTROL.search(query_string):
        return
    if _CONTROL.search(unquote_to_bytes(query_string.replace(b"+", b" "))):
        raise BodyRejected(400, "Control characters are not allowed in the query string.")


def check_path(path: str) -> None:
    if _CONTROL.search(path.encode("utf-8", "surrogateescape")):
        raise BodyRejected(400, "Control characters are not allowed in the path.")


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_query(scope.get("query_string", b""))
            check_path(scope.get("path", ""))
            if scope["method"] not in _BODY_METHODS:
                await self.app(scope, receive, send)
                return
            headers = dict(scope["headers"])
            self._check_length(headers)
            body = await self._read(receive)
            if body:
                check_content_type(headers)
                check_body(body, max_depth=self.max_json_depth)
        except BodyRejected as exc:
            await fault(exc.status, exc.faultstring)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _check_length(self, headers: dict[bytes, bytes]) -> None:
        declared = headers.get(b"content-length")
        if declared is None:
            return
        try:
            length = int(declared)
        except ValueError as exc:
            raise BodyRejected(400, "Invalid Content-Length header.") from exc
        if length > self.max_body_bytes:
            raise BodyRejected(413, self._too_large())

    def _too_large(self) -> str:
        return f"Request body is larger than the limit of {self.max_body_bytes} bytes."

    async def _read(self, receive: Receive) -> bytes:
        """The whole body, refused as soon as it grows past the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BodyRejected(400, "Client disconnected before sending the whole body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyRejected(413, self._too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read body once, then defers to the server."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
