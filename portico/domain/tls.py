"""TLS options of listeners and pools: defaults, allowed versions, ALPN, ciphers, HSTS.

Octavia fills these in for TLS-terminating listeners and TLS-enabled pools, and refuses values
HAProxy could not take. A cipher string reaches the rendered configuration, so only the
characters OpenSSL cipher lists use are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from portico.domain.constants import ListenerProtocol as LP
from portico.domain.errors import ValidationException

TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")  # oldest first
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")

DEFAULT_CIPHERS = (
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)
DEFAULT_TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
DEFAULT_ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")

DEFAULT_TIMEOUTS: Mapping[str, int] = {
    "timeout_client_data": 50000,
    "timeout_member_connect": 5000,
    "timeout_member_data": 50000,
    "timeout_tcp_inspect": 0,
}
MAX_TIMEOUT = 24 * 24 * 60 * 60 * 1000  # 24 days in milliseconds
DEFAULT_CONNECTION_LIMIT = -1

_CIPHER_CHARS = re.compile(r"^[A-Za-z0-9\-+!:@=_.]+\Z")


def check_ciphers(ciphers: str) -> None:
    if not _CIPHER_CHARS.match(ciphers):
        raise ValidationException(
            "Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, =, _, "
            "and . are allowed."
        )


def check_tls_versions(versions: Sequence[str] | None) -> None:
    """None means "use the default"; an empty list is refused."""
    if versions is None:
        return
    if not versions:
        raise ValidationException(
            "Empty TLS version list. Either specify at least one TLS version or remove this "
            "parameter to use the default."
        )
    invalid = [v for v in versions if v not in TLS_VERSIONS]
    if invalid:
        raise ValidationException("Invalid TLS versions: " + ", ".join(invalid))


def check_alpn_protocols(protocols: Sequence[str] | None) -> None:
    if protocols is None:
        return
    if not protocols:
        raise ValidationException(
            "Empty ALPN protocol list. Either specify at least one ALPN protocol or remove "
            "this parameter to use the default."
        )
    invalid = [p for p in protocols if p not in ALPN_PROTOCOLS]
    if invalid:
        raise ValidationException("Invalid ALPN protocol: " + ", ".join(invalid))


def check_tls_options(data: Mapping[str, Any]) -> None:
    """Ciphers, versions and ALPN of a body, whichever of them it sets."""
    if data.get("tls_ciphers"):
        check_ciphers(data["tls_ciphers"])
    if "tls_versions" in data:
        check_tls_versions(data["tls_versions"])
    if "alpn_protocols" in data:
        check_alpn_protocols(data["alpn_protocols"])


def check_hsts(*, protocol: str, max_age: int | None, subdomains: bool, preload: bool) -> None:
    """HSTS is a header of TLS-terminated HTTP; its flags need a max age."""
    if (subdomains or preload) and max_age is None:
        raise ValidationException(
            "HSTS configuration options hsts_include_subdomains and hsts_preload only make "
            "sense if hsts_max_age is set as well."
        )
    if max_age is not None and protocol != LP.TERMINATED_HTTPS:
        raise ValidationException(
            "The HSTS feature can only be used for listeners using the TERMINATED_HTTPS protocol."
        )


def tls_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """Values for the TLS options the body left out or set to null."""
    filled: dict[str, Any] = {}
    if data.get("tls_ciphers") is None:
        filled["tls_ciphers"] = DEFAULT_CIPHERS
    if data.get("tls_versions") is None:
        filled["tls_versions"] = list(DEFAULT_TLS_VERSIONS)
    if data.get("alpn_protocols") is None:
        filled["alpn_protocols"] = list(DEFAULT_ALPN_PROTOCOLS)
    return filled
