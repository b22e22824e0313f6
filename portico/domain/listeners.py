"""The rules a listener body must follow, on create and on update (pure, no database).

They combine the protocol rules (``protocols``) with the TLS rules (``tls``) in Octavia's
order, so the first problem reported is the one Octavia would report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portico.domain import limits, protocols, tls
from portico.domain.constants import ClientAuthentication as CA
from portico.domain.constants import ListenerProtocol as LP
from portico.domain.errors import ValidationException

TLS_REF_FIELDS = ("default_tls_container_ref", "client_ca_tls_container_ref", "sni_container_refs")


def has_tls_refs(data: Mapping[str, Any]) -> bool:
    return any(data.get(name) for name in TLS_REF_FIELDS)


def terminates_tls(protocol: str, data: Mapping[str, Any]) -> bool:
    """TERMINATED_HTTPS always; PROMETHEUS when given certificates."""
    return protocol == LP.TERMINATED_HTTPS or (protocol == LP.PROMETHEUS and has_tls_refs(data))


def check_create(data: Mapping[str, Any]) -> None:
    """Everything about a new listener that needs no other object."""
    protocol = data["protocol"]
    offload = terminates_tls(protocol, data)
    if data.get("insert_headers"):
        protocols.check_insert_headers(data["insert_headers"].keys(), protocol)
    if protocol in protocols.DATAGRAM_PROTOCOLS and has_tls_refs(data):
        raise ValidationException(f"{protocol} protocol listener does not support TLS.")
    if not offload and has_tls_refs(data):
        raise ValidationException(
            f"Certificate container references are not allowed on {protocol} protocol listeners."
        )
    has_cert = bool(data.get("default_tls_container_ref") or data.get("sni_container_refs"))
    if data.get("client_ca_tls_container_ref") and not has_cert:
        raise ValidationException(
            "An SNI or default certificate container reference must be provided with a "
            "client CA container reference."
        )
    if offload and not has_cert:
        shown = f"{protocol} with TLS" if protocol == LP.PROMETHEUS else protocol
        raise ValidationException(
            "An SNI or default certificate container reference must be provided for "
            f"{shown} protocol listeners."
        )
    _check_client_auth(
        data.get("client_authentication") or CA.NONE,
        ca=data.get("client_ca_tls_container_ref"),
        crl=data.get("client_crl_container_ref"),
    )
    tls.check_tls_options(data)
    tls.check_hsts(
        protocol=protocol,
        max_age=data.get("hsts_max_age"),
        subdomains=bool(data.get("hsts_include_subdomains")),
        preload=bool(data.get("hsts_preload")),
    )
    limits.check_limits(protocol, data)


def _check_client_auth(mode: str, *, ca: str | None, crl: str | None) -> None:
    if mode != CA.NONE and not ca:
        raise ValidationException(
            f"Client authentication setting {mode} requires a client CA container reference."
        )
    if crl and not ca:
        raise ValidationException(
            "A client authentication CA reference is required to specify a client "
            "authentication revocation list."
        )


def check_update(current: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
    """An update of a listener whose stored fields are ``current``."""
    protocol = current["protocol"]
    if protocol in protocols.DATAGRAM_PROTOCOLS and (
        has_tls_refs(changes) or changes.get("insert_headers")
    ):
        raise ValidationException(
            f"{protocol} protocol listener does not support TLS or header insertion."
        )
    if not terminates_tls(protocol, changes) and has_tls_refs(changes):
        raise ValidationException(
            f"Certificate container references are not allowed on {protocol} protocol listeners."
        )

    def after(name: str) -> Any:
        return changes[name] if name in changes else current.get(name)

    mode = changes.get("client_authentication")
    if mode not in (None, CA.NONE) and not after("client_ca_tls_container_ref"):
        raise ValidationException(
            f"Client authentication setting {mode} requires a client CA container reference."
        )
    if changes.get("insert_headers"):
        protocols.check_insert_headers(changes["insert_headers"].keys(), protocol)
    _check_client_auth(
        CA.NONE,
        ca=after("client_ca_tls_container_ref"),
        crl=after("client_crl_container_ref"),
    )
    tls.check_tls_options(changes)
    _check_hsts_update(protocol, current, changes)
    limits.check_limits(protocol, changes)


def _check_hsts_update(
    protocol: str, current: Mapping[str, Any], changes: Mapping[str, Any]
) -> None:
    disabled = changes.get("hsts_max_age") is None and current.get("hsts_max_age") is None
    if (changes.get("hsts_include_subdomains") or changes.get("hsts_preload")) and disabled:
        raise ValidationException(
            "Cannot enable hsts_include_subdomains or hsts_preload if hsts_max_age was not "
            "set as well."
        )
    if changes.get("hsts_max_age") is not None and protocol != LP.TERMINATED_HTTPS:
        raise ValidationException(
            "The HSTS feature can only be used for listeners using the TERMINATED_HTTPS protocol."
        )


# Fields that go back to a default when an update sets them to null.
RESET_ON_NULL: Mapping[str, Any] = {
    "admin_state_up": True,
    "connection_limit": tls.DEFAULT_CONNECTION_LIMIT,
    **tls.DEFAULT_TIMEOUTS,
    "client_authentication": CA.NONE.value,
    "tls_ciphers": tls.DEFAULT_CIPHERS,
    "tls_versions": list(tls.DEFAULT_TLS_VERSIONS),
    "alpn_protocols": list(tls.DEFAULT_ALPN_PROTOCOLS),
    "hsts_include_subdomains": False,
    "hsts_preload": False,
    "sni_container_refs": [],
    "insert_headers": {},
    "allowed_cidrs": [],
}


def with_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """A create body completed the way Octavia completes it."""
    full = dict(data)
    for name, value in tls.DEFAULT_TIMEOUTS.items():
        if full.get(name) is None:
            full[name] = value
    if full.get("connection_limit") is None:
        full["connection_limit"] = tls.DEFAULT_CONNECTION_LIMIT
    if full.get("client_authentication") is None:
        full["client_authentication"] = CA.NONE.value
    if full.get("admin_state_up") is None:
        full["admin_state_up"] = True
    for flag in ("hsts_include_subdomains", "hsts_preload"):
        full[flag] = bool(full.get(flag))
    if full["protocol"] == LP.TERMINATED_HTTPS:
        full.update(tls.tls_defaults(full))
    full["allowed_cidrs"] = protocols.normalize_cidrs(full.get("allowed_cidrs") or [])
    return full
