"""Rules for health monitors that need no I/O: which types fit which pools, HTTP defaults,
timing, and the field formats (url_path, expected_codes, domain_name) Octavia accepts.

Every string here may end up in a rendered HAProxy configuration, so the formats are checked
strictly (no whitespace, no control characters) before anything is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rfc3986 import uri_reference, validators  # type: ignore[import-untyped]

from portico.domain.constants import HealthMonitorType as HMT
from portico.domain.constants import PoolProtocol
from portico.domain.errors import InvalidOption, ValidationException

MIN_RETRIES = 1
MAX_RETRIES = 10
DEFAULT_MAX_RETRIES_DOWN = 3
DEFAULT_HTTP_METHOD = "GET"
DEFAULT_URL_PATH = "/"
DEFAULT_EXPECTED_CODES = "200"
HTTP_VERSIONS = (1.0, 1.1)
# Octavia's ``udp_connect_min_interval_health_monitor`` default.
UDP_CONNECT_MIN_DELAY = 3

HTTP_TYPES = frozenset({HMT.HTTP, HMT.HTTPS})
HTTP_FIELDS = ("http_method", "url_path", "expected_codes")
HTTP_DEFAULTS: Mapping[str, str] = {
    "http_method": DEFAULT_HTTP_METHOD,
    "url_path": DEFAULT_URL_PATH,
    "expected_codes": DEFAULT_EXPECTED_CODES,
}
# Pools balanced by LVS (keepalived) rather than HAProxy, and the checks it can run.
LVS_PROTOCOLS = frozenset({PoolProtocol.UDP, PoolProtocol.SCTP})
LVS_TYPES = (HMT.UDP_CONNECT, HMT.SCTP, HMT.TCP, HMT.HTTP)
LVS_ONLY_TYPES = frozenset({HMT.UDP_CONNECT, HMT.SCTP})

_EXPECTED_CODES = re.compile(r"(?:\d{3}(?:\s*,\s*\d{3})*|\d{3}-\d{3})\Z")
# Whitespace, controls and DEL/C1: never valid in a path that lands in haproxy.cfg.
_PATH_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")
_LABEL = re.compile(r"_?[A-Za-z0-9-]{0,63}\Z")


def is_expected_codes(value: str) -> bool:
    """ "200", "200,202" or "200-204"."""
    return bool(_EXPECTED_CODES.match(value))


def is_url_path(value: str) -> bool:
    """An absolute path (optionally with a query): no scheme, host, spaces or controls."""
    if not value.startswith("/") or _PATH_FORBIDDEN.search(value):
        return False
    try:
        ref = uri_reference(value)
        validators.Validator().check_validity_of("path").validate(ref)
    except Exception:
        return False
    has_authority = ref.scheme or ref.userinfo or ref.host or ref.port
    return not has_authority and ref.path is not None and ref.path.startswith("/")


def is_domain_name(value: str) -> bool:
    """A host name as Octavia accepts it: labels of letters, digits, '-', a leading '_'."""
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253:
        return False
    for label in name.split("."):
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not _LABEL.match(label):
            return False
    return True


def check_type_for_pool(hm_type: str, pool_protocol: str, *, delay: int | None) -> None:
    """Refuse a monitor type the pool's protocol cannot use (Octavia's messages)."""
    if pool_protocol in LVS_PROTOCOLS:
        if hm_type not in LVS_TYPES:
            types = "/".join(LVS_TYPES)
            raise ValidationException(
                f"The associated pool protocol is {pool_protocol}, so only a {types} "
                "health monitor is supported."
            )
        if hm_type == HMT.UDP_CONNECT and delay is not None and delay < UDP_CONNECT_MIN_DELAY:
            raise ValidationException(
                f"The request delay value {delay} should be larger than "
                f"{UDP_CONNECT_MIN_DELAY} for {HMT.UDP_CONNECT} health monitor type."
            )
    elif hm_type in LVS_ONLY_TYPES:
        raise ValidationException(
            f"The {hm_type} type is only supported for pools of type "
            f"{PoolProtocol.UDP}/{PoolProtocol.SCTP}."
        )


def _check_http_fields(hm_type: str, data: Mapping[str, Any], *, on_update: bool) -> None:
    if hm_type in HTTP_TYPES:
        return
    for name in HTTP_FIELDS:
        # On create a null is "not given"; on update sending the field at all is refused.
        if (name in data) if on_update else data.get(name):
            raise InvalidOption(name, f"health monitors of type {hm_type}")


def _check_domain(state: Mapping[str, Any]) -> None:
    domain, version = state.get("domain_name"), state.get("http_version")
    if not domain:
        return
    if not version:
        raise ValidationException(
            "'http_version' must be specified when 'domain_name' is provided."
        )
    if version < 1.1:
        raise InvalidOption(
            f"http_version {version}", "health monitors HTTP 1.1 domain name health check"
        )


def resolve_create(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a new monitor's fields and fill Octavia's defaults; returns the full state."""
    for name in ("type", "delay", "timeout", "max_retries"):
        if data.get(name) is None:
            raise InvalidOption("None", name)
    hm_type = str(data["type"])
    _check_http_fields(hm_type, data, on_update=False)
    state = dict(data)
    if state.get("max_retries_down") is None:
        state["max_retries_down"] = DEFAULT_MAX_RETRIES_DOWN
    for name, default in HTTP_DEFAULTS.items():
        state[name] = (state.get(name) or default) if hm_type in HTTP_TYPES else None
    _check_domain(state)
    return state


def resolve_update(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``changes`` against the monitor's ``current`` state; returns what to set."""
    hm_type = str(current["type"])
    _check_http_fields(hm_type, changes, on_update=True)
    for name in ("delay", "max_retries", "timeout"):
        if name in changes and changes[name] is None:
            raise InvalidOption(None, name)
    out = dict(changes)
    if "max_retries_down" in out and out["max_retries_down"] is None:
        out["max_retries_down"] = DEFAULT_MAX_RETRIES_DOWN
    for name, default in HTTP_DEFAULTS.items():
        if name in out and out[name] is None:
            out[name] = default
    state = {**current, **out}
    _check_domain(state)
    return out
