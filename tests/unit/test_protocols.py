"""Pure listener and pool rules: protocol pairs, ports per transport, header insertion,
allowed CIDRs, TLS options, HSTS, session persistence, create/update checks and defaults."""

from __future__ import annotations

from typing import Any

import pytest

from portico.domain import listeners, persistence, protocols, tls
from portico.domain.errors import Conflict, InvalidInput

CERT = "ref-cert"


@pytest.mark.parametrize(
    ("listener", "pool", "ok"),
    [
        ("HTTP", "HTTP", True),
        ("HTTP", "PROXYV2", True),
        ("HTTP", "TCP", False),
        ("TCP", "HTTPS", True),
        ("HTTPS", "TCP", True),
        ("HTTPS", "HTTP", False),
        ("TERMINATED_HTTPS", "HTTP", True),
        ("TERMINATED_HTTPS", "HTTPS", False),
        ("UDP", "UDP", True),
        ("UDP", "TCP", False),
        ("SCTP", "SCTP", True),
        ("PROMETHEUS", "HTTP", False),
    ],
)
def test_listener_forwards_only_to_compatible_pool_protocols(
    listener: str, pool: str, ok: bool
) -> None:
    if ok:
        protocols.check_pool_protocol(listener, pool)
    else:
        with pytest.raises(InvalidInput, match=f"pool protocol '{pool}' is invalid"):
            protocols.check_pool_protocol(listener, pool)


def test_ports_conflict_within_a_transport_only() -> None:
    existing = [("HTTP", 80), ("UDP", 53)]
    with pytest.raises(Conflict, match="already using protocol HTTP and protocol_port 80"):
        protocols.check_port_free("TERMINATED_HTTPS", 80, existing)
    with pytest.raises(Conflict):
        protocols.check_port_free("UDP", 53, existing)
    protocols.check_port_free("UDP", 80, existing)
    protocols.check_port_free("SCTP", 53, existing)
    protocols.check_port_free("TCP", 81, existing)


def test_prometheus_listeners_have_no_children() -> None:
    with pytest.raises(InvalidInput, match="PROMETHEUS listeners cannot have child objects"):
        protocols.check_no_children("PROMETHEUS")
    protocols.check_no_children("HTTP")


def test_header_insertion_rules() -> None:
    protocols.check_insert_headers(["X-Forwarded-For"], "HTTP")
    protocols.check_insert_headers(["X-SSL-Client-CN", "X-Forwarded-Proto"], "TERMINATED_HTTPS")
    with pytest.raises(InvalidInput, match="insert-headers is not a valid option for a TCP"):
        protocols.check_insert_headers(["X-Forwarded-For"], "TCP")
    with pytest.raises(InvalidInput, match=r"\['X-Nope'\] is not a valid option"):
        protocols.check_insert_headers(["X-Nope"], "HTTP")
    with pytest.raises(InvalidInput, match=r"\['X-SSL-Issuer'\] is not a valid option for HTTP"):
        protocols.check_insert_headers(["X-SSL-Issuer"], "HTTP")


def test_allowed_cidrs_are_canonical_and_match_a_vip_version() -> None:
    assert protocols.normalize_cidrs(["10.1.2.3/8", "10.0.0.0/8", "::1/128"]) == [
        "10.0.0.0/8",
        "::1/128",
    ]
    protocols.check_cidrs_match_vips(["10.0.0.0/8"], ["127.0.0.5"], custom_security_groups=False)
    protocols.check_cidrs_match_vips(
        ["2001:db8::/32"], ["127.0.0.5", "2001:db8::5"], custom_security_groups=False
    )
    with pytest.raises(InvalidInput, match="CIDR ::/0 IP version incompatible with all VIPs"):
        protocols.check_cidrs_match_vips(["::/0"], ["127.0.0.5"], custom_security_groups=False)
    with pytest.raises(InvalidInput, match="custom VIP Security Groups"):
        protocols.check_cidrs_match_vips(["0.0.0.0/0"], ["127.0.0.5"], custom_security_groups=True)


def test_tls_options() -> None:
    tls.check_tls_versions(None)
    tls.check_tls_versions(["TLSv1.2", "TLSv1.3"])
    with pytest.raises(InvalidInput, match="Empty TLS version list"):
        tls.check_tls_versions([])
    with pytest.raises(InvalidInput, match="Invalid TLS versions: TLSv2"):
        tls.check_tls_versions(["TLSv1.2", "TLSv2"])
    with pytest.raises(InvalidInput, match="Empty ALPN protocol list"):
        tls.check_alpn_protocols([])
    with pytest.raises(InvalidInput, match="Invalid ALPN protocol: h3"):
        tls.check_alpn_protocols(["h3"])
    tls.check_ciphers(tls.DEFAULT_CIPHERS)
    for bad in ("AES\nbind", "AES GCM", "AES;x", "AES#"):
        with pytest.raises(InvalidInput, match="Invalid characters in cipher string"):
            tls.check_ciphers(bad)
    assert tls.tls_defaults({"tls_versions": ["TLSv1.3"]}) == {
        "tls_ciphers": tls.DEFAULT_CIPHERS,
        "alpn_protocols": ["h2", "http/1.1", "http/1.0"],
    }


def test_hsts_needs_max_age_and_tls_termination() -> None:
    tls.check_hsts(protocol="TERMINATED_HTTPS", max_age=0, subdomains=True, preload=True)
    with pytest.raises(InvalidInput, match="only make sense if hsts_max_age"):
        tls.check_hsts(protocol="TERMINATED_HTTPS", max_age=None, subdomains=True, preload=False)
    with pytest.raises(InvalidInput, match="only be used for listeners using the TERMINATED"):
        tls.check_hsts(protocol="HTTP", max_age=10, subdomains=False, preload=False)


@pytest.mark.parametrize(
    ("protocol", "sp", "message"),
    [
        ("HTTP", {"type": "APP_COOKIE"}, 'must be specified when using the "APP_COOKIE"'),
        ("HTTP", {"type": "SOURCE_IP", "cookie_name": "a"}, "only be specified with session"),
        ("HTTP", {"type": "APP_COOKIE", "cookie_name": "a(b)"}, '"cookie_name" is invalid'),
        ("HTTP", {"type": "APP_COOKIE", "cookie_name": "caf\u00e9"}, '"cookie_name" is invalid'),
        ("TCP", {"type": "SOURCE_IP", "persistence_granularity": "255.255.255.0"}, "only for UDP"),
        ("UDP", {"type": "SOURCE_IP", "cookie_name": "a"}, "only accepts: type"),
        ("SCTP", {"type": "APP_COOKIE"}, "APP_COOKIE is not supported for UDP/SCTP"),
        ("HTTP", {"cookie_name": None}, "Invalid session_persistence provided"),
    ],
)
def test_session_persistence_refusals(protocol: str, sp: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        persistence.check_session_persistence(protocol, sp)


def test_session_persistence_accepted_and_merged() -> None:
    persistence.check_session_persistence("HTTP", None)
    persistence.check_session_persistence("HTTP", {"type": "APP_COOKIE", "cookie_name": "SID"})
    persistence.check_session_persistence(
        "UDP", {"type": "SOURCE_IP", "persistence_timeout": 5, "persistence_granularity": "::"}
    )
    merged = persistence.merged({"type": "APP_COOKIE", "cookie_name": "a"}, {"cookie_name": "b"})
    assert merged == {
        "type": "APP_COOKIE",
        "cookie_name": "b",
        "persistence_timeout": None,
        "persistence_granularity": None,
    }
    assert persistence.stored(None) is None


def test_listener_create_rules_in_octavia_order() -> None:
    with pytest.raises(InvalidInput, match="UDP protocol listener does not support TLS"):
        listeners.check_create({"protocol": "UDP", "sni_container_refs": [CERT]})
    with pytest.raises(InvalidInput, match="must be provided with a client CA"):
        listeners.check_create(
            {"protocol": "TERMINATED_HTTPS", "client_ca_tls_container_ref": CERT}
        )
    with pytest.raises(InvalidInput, match="must be provided with a client CA"):
        listeners.check_create({"protocol": "PROMETHEUS", "client_ca_tls_container_ref": CERT})
    with pytest.raises(InvalidInput, match="revocation list"):
        listeners.check_create(
            {
                "protocol": "TERMINATED_HTTPS",
                "sni_container_refs": [CERT],
                "client_crl_container_ref": CERT,
            }
        )
    listeners.check_create({"protocol": "PROMETHEUS", "default_tls_container_ref": CERT})
    listeners.check_create({"protocol": "TERMINATED_HTTPS", "sni_container_refs": [CERT]})


def test_listener_update_rules_see_the_stored_state() -> None:
    current = {
        "protocol": "TERMINATED_HTTPS",
        "hsts_max_age": 100,
        "client_ca_tls_container_ref": CERT,
        "client_crl_container_ref": None,
    }
    listeners.check_update(current, {"hsts_preload": True, "client_authentication": "OPTIONAL"})
    with pytest.raises(InvalidInput, match="revocation list"):
        listeners.check_update(
            current, {"client_ca_tls_container_ref": None, "client_crl_container_ref": CERT}
        )
    with pytest.raises(InvalidInput, match="Cannot enable hsts_include_subdomains"):
        listeners.check_update({**current, "hsts_max_age": None}, {"hsts_include_subdomains": True})
    with pytest.raises(InvalidInput, match="does not support TLS or header insertion"):
        listeners.check_update({"protocol": "SCTP"}, {"insert_headers": {"X-Forwarded-For": "1"}})
    with pytest.raises(InvalidInput, match="not allowed on TCP protocol listeners"):
        listeners.check_update({"protocol": "TCP"}, {"default_tls_container_ref": CERT})


def test_listener_defaults_follow_octavia() -> None:
    plain = listeners.with_defaults({"protocol": "HTTP", "protocol_port": 80})
    assert plain["connection_limit"] == -1
    assert plain["timeout_member_connect"] == 5000
    assert plain["client_authentication"] == "NONE"
    assert "tls_versions" not in plain
    tls_on = listeners.with_defaults({"protocol": "TERMINATED_HTTPS", "tls_versions": None})
    assert tls_on["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert tls_on["tls_ciphers"] == tls.DEFAULT_CIPHERS
