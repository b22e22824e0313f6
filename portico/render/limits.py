"""A frontend's DDoS limits (``domain/limits.py``) as haproxy lines (pure).

Rates are counted per source address in a stick table of the frontend's own, over a sliding
one-second window (haproxy's ``conn_rate(1s)``/``http_req_rate(1s)``). Refused connections
and requests count too, so a source that keeps hammering stays refused until it slows down.

The table is not synced through ``peers`` on an ACTIVE_STANDBY pair, on purpose: a one-second
rate is stale by the time the VIP has moved, and under a flood from many sources every
update would be pushed to the standby as well. A reload therefore starts the counts afresh
(at most one extra second of allowance per source).

Sizes: ``req.hdrs`` is the header block as haproxy holds it (``name: value`` lines with
their CRLF and the final empty line; not the request line). ``req.body_size`` is the
announced Content-Length, or, for a chunked body, as much as haproxy has buffered, which
``option http-buffer-request`` makes it wait for (up to its buffer, about 15 KiB).
"""

from __future__ import annotations

from portico.domain.desired import ListenerSpec

# Sources tracked per listener; when full, haproxy drops the least recently seen.
TABLE_SIZE = "100k"
# Idle entries go after this; longer than the one-second window so no rate is cut short.
TABLE_EXPIRE = "10s"
TRACK = "tcp-request connection track-sc0 src"


def connection_lines(listener: ListenerSpec, *, http: bool) -> list[str]:
    """The stick table and the per-source connection limit (accept time, any mode).

    Placed after the ``allowed_cidrs`` refusal, so refused sources are never tracked.
    """
    stored = []
    if listener.connection_rate_limit is not None:
        stored.append("conn_rate(1s)")
    if http and listener.request_rate_limit is not None:
        stored.append("http_req_rate(1s)")
    if not stored:
        return []
    lines = [
        f"stick-table type ipv6 size {TABLE_SIZE} expire {TABLE_EXPIRE} store {','.join(stored)}",
        TRACK,
    ]
    if listener.connection_rate_limit is not None:
        limit = int(listener.connection_rate_limit)
        lines.append(f"tcp-request connection reject if {{ sc_conn_rate(0) gt {limit} }}")
    return lines


def http_lines(listener: ListenerSpec) -> list[str]:
    """Request refusals (HTTP mode), placed before any header is added or rule runs, so the
    sizes measured are the client's own and a refused request costs no other work."""
    lines = []
    if listener.request_rate_limit is not None:
        lines.append(
            'http-request deny deny_status 429 content-type text/plain string "Too many '
            'requests" hdr Retry-After 1 '
            f"if {{ sc_http_req_rate(0) gt {int(listener.request_rate_limit)} }}"
        )
    if listener.max_request_header_size is not None:
        # 431 has no built-in error page in haproxy 2.6, hence the explicit body.
        lines.append(
            'http-request deny deny_status 431 content-type text/plain string "Request '
            'header fields too large" '
            f"if {{ req.hdrs,length gt {int(listener.max_request_header_size)} }}"
        )
    if listener.max_request_body_size is not None:
        lines.append("option http-buffer-request")
        lines.append(
            "http-request deny deny_status 413 "
            f"if {{ req.body_size gt {int(listener.max_request_body_size)} }}"
        )
    return lines
