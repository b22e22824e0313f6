"""DDoS mitigation on a listener: per-source rate limits and request size limits (pure).

Octavia has no such fields; portico adds four, all off (null) by default, so a client that
never names them sees Octavia's behaviour unchanged:

- ``connection_rate_limit``: new connections per second from one source address;
- ``request_rate_limit``: HTTP requests per second from one source address;
- ``max_request_header_size``: bytes of request header fields (``name: value`` lines);
- ``max_request_body_size``: bytes of request body.

The bounds are those haproxy can enforce: it refuses a request head larger than its buffer
(16 KiB less 1 KiB kept for rewrites) with 400 on its own, so a header limit above that
would never act. The HTTP-only limits are refused on listeners whose traffic haproxy does
not parse as HTTP (TCP, HTTPS passthrough), and every limit on datagram listeners.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portico.domain import protocols
from portico.domain.constants import ListenerProtocol as LP
from portico.domain.errors import ValidationException

CONNECTION_RATE = "connection_rate_limit"
REQUEST_RATE = "request_rate_limit"
HEADER_SIZE = "max_request_header_size"
BODY_SIZE = "max_request_body_size"
FIELDS = (CONNECTION_RATE, REQUEST_RATE, HEADER_SIZE, BODY_SIZE)

# Inclusive bounds of each field, checked by the API schema.
MAX_RATE = 1_000_000
MIN_HEADER_SIZE = 64
MAX_HEADER_SIZE = 15_360
MAX_BODY_SIZE = 2**40

HTTP_PROTOCOLS = frozenset({LP.HTTP, LP.TERMINATED_HTTPS, LP.PROMETHEUS})
_HTTP_ONLY = (REQUEST_RATE, HEADER_SIZE, BODY_SIZE)


def check_limits(protocol: str, data: Mapping[str, Any]) -> None:
    """Refuse limits a listener of ``protocol`` cannot enforce (null values are unsets)."""
    named = [name for name in FIELDS if data.get(name) is not None]
    if not named:
        return
    if protocol in protocols.DATAGRAM_PROTOCOLS:
        raise ValidationException(f"{named[0]} is not supported on {protocol} listeners.")
    for name in _HTTP_ONLY:
        if data.get(name) is not None and protocol not in HTTP_PROTOCOLS:
            raise ValidationException(
                f"{name} is only supported on HTTP, TERMINATED_HTTPS and PROMETHEUS "
                f"listeners, not on {protocol} listeners."
            )
