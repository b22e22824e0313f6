"""Session persistence of a pool: which kinds fit which protocol, and valid cookie names.

A cookie name ends up in the rendered HAProxy configuration, so the characters a cookie name
may not contain (RFC 6265 separators, spaces, controls) are refused here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from portico.domain.constants import PoolProtocol as PP
from portico.domain.constants import SessionPersistenceType as Persist
from portico.domain.errors import ValidationException

DATAGRAM_POOL_PROTOCOLS = frozenset({PP.UDP, PP.SCTP})
FIELDS = ("type", "cookie_name", "persistence_timeout", "persistence_granularity")

_BAD_COOKIE_CHARS = re.compile(
    r"[\x00-\x20\x22\x28\x29\x2c\x2f\x3a-\x40\x5b-\x5d\x7b\x7d\x7f-\uffff]"
)


def check_session_persistence(protocol: str, sp: Mapping[str, Any] | None) -> None:
    """Refuse a persistence setting ``protocol`` cannot honour or that is malformed."""
    if not sp:
        return
    kind = sp.get("type")
    cookie = sp.get("cookie_name")
    datagram = protocol in DATAGRAM_POOL_PROTOCOLS
    if datagram:
        _check_datagram(sp)
    elif sp.get("persistence_timeout") or sp.get("persistence_granularity"):
        raise ValidationException(
            "persistence_timeout and persistence_granularity is only for UDP and SCTP "
            "protocol pools."
        )
    if kind is None:
        raise ValidationException("Invalid session_persistence provided.")
    if cookie:
        if kind != Persist.APP_COOKIE:
            raise ValidationException(
                'Field "cookie_name" can only be specified with session persistence of type '
                '"APP_COOKIE".'
            )
        if _BAD_COOKIE_CHARS.search(cookie):
            raise ValidationException('Supplied "cookie_name" is invalid.')
    if kind == Persist.APP_COOKIE and not cookie:
        raise ValidationException(
            'Field "cookie_name" must be specified when using the "APP_COOKIE" session '
            "persistence type."
        )


def _check_datagram(sp: Mapping[str, Any]) -> None:
    kind = sp.get("type")
    if kind == Persist.SOURCE_IP and sp.get("cookie_name"):
        raise ValidationException(
            "session_persistence SOURCE_IP type for UDP and SCTP protocols only accepts: "
            "type, persistence_timeout, persistence_granularity."
        )
    if sp.get("cookie_name"):
        raise ValidationException("Cookie names are not supported for UDP/SCTP pools.")
    if kind in (Persist.HTTP_COOKIE, Persist.APP_COOKIE):
        raise ValidationException(
            f"Session persistence of type {kind} is not supported for UDP/SCTP protocol pools."
        )


def merged(current: Mapping[str, Any] | None, change: Mapping[str, Any]) -> dict[str, Any]:
    """An update of session persistence: the fields sent replace the stored ones."""
    result = {name: None for name in FIELDS}
    if current:
        result.update({k: v for k, v in current.items() if k in FIELDS})
    result.update({k: v for k, v in change.items() if k in FIELDS})
    return result


def stored(sp: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The four fields Octavia shows, absent ones as null."""
    if not sp:
        return None
    return {name: sp.get(name) for name in FIELDS}
