"""Which protocols go together: listener/pool pairing, port sharing, header insertion, CIDRs.

Pure rules of the Octavia v2 API, shared by the single-object routes and the full-graph create
so both refuse exactly the same inputs with exactly the same words.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from portico.domain.constants import ListenerProtocol as LP
from portico.domain.constants import PoolProtocol as PP
from portico.domain.errors import Conflict, InvalidInput, InvalidOption, ValidationException

# Pool protocols a listener of each protocol may forward to.
LISTENER_POOL_PROTOCOLS: dict[str, frozenset[str]] = {
    LP.TCP: frozenset({PP.HTTP, PP.HTTPS, PP.PROXY, PP.PROXYV2, PP.TCP}),
    LP.HTTP: frozenset({PP.HTTP, PP.PROXY, PP.PROXYV2}),
    LP.HTTPS: frozenset({PP.HTTPS, PP.PROXY, PP.PROXYV2, PP.TCP}),
    LP.TERMINATED_HTTPS: frozenset({PP.HTTP, PP.PROXY, PP.PROXYV2}),
    LP.UDP: frozenset({PP.UDP}),
    LP.SCTP: frozenset({PP.SCTP}),
    LP.PROMETHEUS: frozenset(),
}

# The transport each listener protocol occupies; two listeners of one load balancer
# conflict when they share a port and a transport.
L4_PROTOCOL: dict[str, str] = {
    LP.TCP: "TCP",
    LP.HTTP: "TCP",
    LP.HTTPS: "TCP",
    LP.TERMINATED_HTTPS: "TCP",
    LP.PROMETHEUS: "TCP",
    LP.UDP: "UDP",
    LP.SCTP: "SCTP",
}

DATAGRAM_PROTOCOLS = frozenset({LP.UDP, LP.SCTP})

HTTP_HEADERS = ("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")
SSL_HEADERS = (
    "X-SSL-Client-Verify",
    "X-SSL-Client-Has-Cert",
    "X-SSL-Client-DN",
    "X-SSL-Client-CN",
    "X-SSL-Issuer",
    "X-SSL-Client-SHA1",
    "X-SSL-Client-Not-Before",
    "X-SSL-Client-Not-After",
)
HEADER_INSERTING_PROTOCOLS = frozenset({LP.HTTP, LP.TERMINATED_HTTPS})


class DuplicateListener(Conflict):
    """Two listeners of one load balancer on the same port and transport (HTTP 409)."""

    def __init__(self, protocol: str, port: int) -> None:
        super().__init__(
            "Another Listener on this Load Balancer is already using protocol "
            f"{protocol} and protocol_port {port}"
        )


def check_pool_protocol(listener_protocol: str, pool_protocol: str) -> None:
    """A listener only forwards to pools speaking a protocol it can carry."""
    if pool_protocol not in LISTENER_POOL_PROTOCOLS.get(listener_protocol, frozenset()):
        raise ValidationException(
            f"The pool protocol '{pool_protocol}' is invalid while the listener protocol "
            f"is '{listener_protocol}'."
        )


def check_no_children(listener_protocol: str) -> None:
    """PROMETHEUS listeners answer themselves: no pools, no L7 policies."""
    if listener_protocol == LP.PROMETHEUS:
        raise InvalidInput(f"Protocol {listener_protocol} listeners cannot have child objects.")


def check_port_free(protocol: str, port: int, existing: Iterable[tuple[str, int]]) -> None:
    """Refuse ``port`` if a listener of ``existing`` (protocol, port) holds it on our transport.

    TCP-based protocols share one transport, so HTTP and TCP conflict on a port; UDP, SCTP and
    TCP listeners may share a port number.
    """
    transport = L4_PROTOCOL.get(protocol)
    for other_protocol, other_port in existing:
        if other_port == port and L4_PROTOCOL.get(other_protocol) == transport:
            raise DuplicateListener(other_protocol, port)


def check_insert_headers(headers: Iterable[str], listener_protocol: str) -> None:
    """Header insertion exists for HTTP listeners; client-cert headers need TLS termination."""
    names = list(headers)
    if listener_protocol not in HEADER_INSERTING_PROTOCOLS:
        raise InvalidOption("insert-headers", f"a {listener_protocol} protocol listener.")
    unknown = [h for h in names if h not in HTTP_HEADERS and h not in SSL_HEADERS]
    if unknown:
        raise InvalidOption(names, "insert_headers")
    if listener_protocol != LP.TERMINATED_HTTPS:
        ssl = [h for h in names if h in SSL_HEADERS]
        if ssl:
            raise InvalidOption(ssl, f"{listener_protocol} protocol listener.")


def normalize_cidrs(cidrs: Sequence[str]) -> list[str]:
    """Canonical network form (host bits cleared), duplicates dropped, order kept."""
    seen: dict[str, None] = {}
    for cidr in cidrs:
        seen[ipaddress.ip_network(cidr, strict=False).with_prefixlen] = None
    return list(seen)


def check_cidrs_match_vips(
    cidrs: Sequence[str], vips: Sequence[str], *, custom_security_groups: bool
) -> None:
    """Each allowed CIDR must be of the IP version of at least one VIP."""
    if cidrs and custom_security_groups:
        raise ValidationException(
            "Allowed CIDRs are not allowed when using custom VIP Security Groups."
        )
    versions = {ipaddress.ip_address(v).version for v in vips}
    for cidr in cidrs:
        if ipaddress.ip_network(cidr, strict=False).version not in versions:
            shown = "[" + ", ".join(f"'{v}'" for v in vips) + "]"
            raise ValidationException(
                f"CIDR {cidr} IP version incompatible with all VIPs {shown} IP version."
            )
