"""The frontend and backend sections of a configuration, as lists of directive lines.

Every user value reaches a line through ``quoting`` (or is a validated number, enum,
address or id), so no value can add a word, a directive or a comment. Where Octavia's
amphora template fixes a behaviour (header names, check options, persistence tables),
the same haproxy directives are used, so users see the same load balancer.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from portico.domain.desired import (
    HealthMonitorSpec,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)
from portico.render import l7, limits, tls
from portico.render.capabilities import RenderTarget
from portico.render.errors import RenderError
from portico.render.quoting import fetch, quote, quote_format
from portico.render.tls import TlsFiles
from portico.wire.capabilities import Capability

__all__ = ["Capability", "Section", "TlsFiles", "backend", "frontend", "server_line"]

MODES = {
    "HTTP": "http",
    "TERMINATED_HTTPS": "http",
    "PROMETHEUS": "http",
    "HTTPS": "tcp",
    "TCP": "tcp",
}
# The source port is kept in a variable because ``concat`` appends variables, not fetches.
SOURCE_PORT = "txn.src_port"
ALGORITHMS = {
    "ROUND_ROBIN": ["balance roundrobin"],
    "LEAST_CONNECTIONS": ["balance leastconn"],
    # Consistent hashing keeps the algorithm dynamic (servers can be added at runtime) and
    # moves few clients when members change; plain ``balance source`` is map-based.
    "SOURCE_IP": ["balance source", "hash-type consistent"],
    "SOURCE_IP_PORT": [
        f"tcp-request content set-var({SOURCE_PORT}) src_port",
        f"balance hash src,concat(:,{SOURCE_PORT})",
        "hash-type consistent",
    ],
}
# ``balance hash <expression>`` arrived in haproxy 2.6.
HASH_EXPRESSION_SINCE = (2, 6)
# Octavia's request headers: each is set when the listener's insert_headers says "true".
SSL_HEADERS = (
    ("X-SSL-Client-Verify", "%[ssl_c_verify]"),
    ("X-SSL-Client-Has-Cert", "%[ssl_c_used]"),
    ("X-SSL-Client-DN", "%{+Q}[ssl_c_s_dn]"),
    ("X-SSL-Client-CN", "%{+Q}[ssl_c_s_dn(cn)]"),
    ("X-SSL-Issuer", "%{+Q}[ssl_c_i_dn]"),
    ("X-SSL-Client-SHA1", "%{+Q}[ssl_c_sha1,hex]"),
    ("X-SSL-Client-Not-Before", "%{+Q}[ssl_c_notbefore]"),
    ("X-SSL-Client-Not-After", "%{+Q}[ssl_c_notafter]"),
)
HTTP_METHOD = re.compile(r"\A[A-Z]{1,16}\Z")
EXPECTED_CODES = re.compile(r"\A(?:\d{3}(?:\s*,\s*\d{3})*|\d{3}-\d{3})\Z")
# haproxy reads a line of any length, but short lines keep a configuration readable.
CIDRS_PER_LINE = 16


@dataclass
class Section:
    """One ``frontend`` or ``backend``: its name and its directive lines."""

    kind: str
    name: str
    lines: list[str] = field(default_factory=list)


def _ms(value: int) -> str:
    return f"{int(value)}ms"


def _address(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _bind_address(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"ipv6@{ip}" if ip.version == 6 else str(ip)


def frontend(
    spec: LoadBalancerSpec,
    listener: ListenerSpec,
    target: RenderTarget,
    files: TlsFiles,
    running_pools: Collection[str],
) -> Section:
    """``running_pools``: ids of the pools rendered as this listener's backends."""
    section = Section("frontend", listener.id)
    add = section.lines.append
    mode = MODES.get(listener.protocol)
    if mode is None:
        raise RenderError(f"listener {listener.id}: protocol {listener.protocol} cannot run")
    bind = [f"bind {_bind_address(spec.vip_address or '0.0.0.0')}:{int(listener.protocol_port)}"]
    if listener.protocol == "TERMINATED_HTTPS":
        bind += tls.bind_words(listener, target, files)
    add(" ".join(bind))
    add(f"mode {mode}")
    if not listener.admin_state_up:
        add("disabled")
    if listener.connection_limit >= 0:
        add(f"maxconn {int(listener.connection_limit)}")
    add(f"timeout client {_ms(listener.timeout_client_data)}")
    section.lines.extend(_allowed_cidrs(listener))
    section.lines.extend(limits.connection_lines(listener, http=mode == "http"))
    if mode == "tcp":
        if listener.timeout_tcp_inspect:
            add(f"tcp-request inspect-delay {_ms(listener.timeout_tcp_inspect)}")
    else:
        if target.has(Capability.IDLE_CLOSE_ON_RESPONSE):
            # A reload closes idle keep-alive connections only after a response.
            add("option idle-close-on-response")
        section.lines.extend(limits.http_lines(listener))
        section.lines.extend(_insert_headers(listener))
        section.lines.extend(_hsts(listener))
    if listener.protocol == "PROMETHEUS":
        if not target.has(Capability.PROMETHEUS_EXPORTER):
            raise RenderError(
                f"listener {listener.id}: this amphora's haproxy has no Prometheus exporter"
            )
        add("http-request use-service prometheus-exporter if { path /metrics }")
        add("http-request return status 404")
        return section
    section.lines.extend(l7.policies(listener, running_pools))
    if listener.default_pool_id in running_pools:
        add(f"default_backend {listener.default_pool_id}:{listener.id}")
    return section


def _allowed_cidrs(listener: ListenerSpec) -> list[str]:
    """Refuse, at accept time, clients outside ``allowed_cidrs`` (IPv4 and IPv6 alike)."""
    if not listener.allowed_cidrs:
        return []
    cidrs = [str(ipaddress.ip_network(c, strict=False)) for c in listener.allowed_cidrs]
    lines = [
        f"acl allowed-cidr src {' '.join(cidrs[i : i + CIDRS_PER_LINE])}"
        for i in range(0, len(cidrs), CIDRS_PER_LINE)
    ]
    return [*lines, "tcp-request connection reject unless allowed-cidr"]


def _insert_headers(listener: ListenerSpec) -> list[str]:
    def enabled(name: str) -> bool:
        return str(listener.insert_headers.get(name, "")).lower() == "true"

    lines: list[str] = []
    if enabled("X-Forwarded-For"):
        lines.append("option forwardfor")
    if enabled("X-Forwarded-Port"):
        lines.append("http-request set-header X-Forwarded-Port %[dst_port]")
    if enabled("X-Forwarded-Proto"):
        scheme = "https" if listener.protocol == "TERMINATED_HTTPS" else "http"
        lines.append(f"http-request set-header X-Forwarded-Proto {scheme}")
    if listener.protocol == "TERMINATED_HTTPS":
        lines += [f"http-request set-header {n} {v}" for n, v in SSL_HEADERS if enabled(n)]
    return lines


def _hsts(listener: ListenerSpec) -> list[str]:
    if listener.protocol != "TERMINATED_HTTPS" or listener.hsts_max_age is None:
        return []
    value = f"max-age={int(listener.hsts_max_age)}"
    if listener.hsts_include_subdomains:
        value += "; includeSubDomains"
    if listener.hsts_preload:
        value += "; preload"
    return [f"http-response set-header Strict-Transport-Security {quote(value)}"]


def backend(
    listener: ListenerSpec,
    pool: PoolSpec,
    target: RenderTarget,
    files: TlsFiles,
    *,
    peers: str | None = None,
) -> Section:
    """A pool's backend for one listener; ``peers`` names the section its stick tables sync in."""
    section = Section("backend", f"{pool.id}:{listener.id}")
    add = section.lines.append
    mode = MODES.get(listener.protocol, "tcp")
    add(f"mode {mode}")
    section.lines.extend(_algorithm(pool, target))
    add(f"timeout connect {_ms(listener.timeout_member_connect)}")
    add(f"timeout server {_ms(listener.timeout_member_data)}")
    # With every primary member down, spread over all backups rather than the first one.
    add("option allbackups")
    if pool.session_persistence is not None:
        section.lines.extend(_persistence(pool, mode, peers))
    monitor = pool.health_monitor
    if monitor is not None and monitor.admin_state_up:
        section.lines.extend(_monitor(monitor))
    for member in pool.members:
        add(server_line(listener, pool, member, files=files, target=target))
    return section


def _algorithm(pool: PoolSpec, target: RenderTarget) -> list[str]:
    lines = ALGORITHMS.get(pool.lb_algorithm)
    if lines is None:
        raise RenderError(f"pool {pool.id}: lb_algorithm {pool.lb_algorithm} is unknown")
    if pool.lb_algorithm == "SOURCE_IP_PORT" and target.haproxy_version < HASH_EXPRESSION_SINCE:
        raise RenderError(
            f"pool {pool.id}: SOURCE_IP_PORT needs haproxy 2.6 or later on the amphora"
        )
    return lines


def _persistence(pool: PoolSpec, mode: str, peers: str | None) -> list[str]:
    sp = pool.session_persistence
    assert sp is not None
    synced = f" peers {peers}" if peers else ""
    if sp.type == "SOURCE_IP":
        expire = f" expire {int(sp.persistence_timeout)}s" if sp.persistence_timeout else ""
        return [f"stick-table type ipv6 size 10k{expire}{synced}", "stick on src"]
    if mode != "http":
        return []  # cookies need HTTP; the API refuses them on other pools
    if sp.type == "HTTP_COOKIE":
        return ["cookie SRV insert indirect nocache"]
    if sp.type == "APP_COOKIE" and sp.cookie_name:
        name = sp.cookie_name
        return [
            f"stick-table type string len 64 size 10k{synced}",
            f"stick store-response {fetch('res.cook', name)}",
            f"stick match {fetch('req.cook', name)}",
        ]
    return []


def _monitor(monitor: HealthMonitorSpec) -> list[str]:
    """Backend lines of a health monitor; the per-server part is in ``server_options``.

    PING: haproxy cannot send ICMP. Octavia runs a ping script through ``external-check``,
    which makes haproxy fork (``insecure-fork-wanted``) and ships a script in the image.
    portico checks that the member accepts a TCP connection on its (monitor) address and
    port instead: a member that answers it also answers ping, and one that refuses it
    cannot serve traffic anyway.
    """
    lines = [f"timeout check {int(monitor.timeout)}s"]
    if monitor.type in ("HTTP", "HTTPS"):
        method = monitor.http_method or "GET"
        if not HTTP_METHOD.match(method):
            raise RenderError(f"health monitor {monitor.id}: http_method {method!r} is invalid")
        option = f"option httpchk {method} {quote(monitor.url_path or '/')}"
        if monitor.http_version:
            option += f" HTTP/{monitor.http_version:.1f}"
        lines.append(option)
        if monitor.http_version and monitor.http_version >= 1.1 and monitor.domain_name:
            # The header value is a log-format string: % must stay literal.
            lines.append(f"http-check send hdr Host {quote_format(monitor.domain_name)}")
        lines.append(f"http-check expect {_expected_codes(monitor.expected_codes or '200')}")
    elif monitor.type == "TLS-HELLO":
        lines.append("option ssl-hello-chk")
    elif monitor.type not in ("TCP", "PING"):
        raise RenderError(f"health monitor {monitor.id}: type {monitor.type} cannot run")
    # TCP and PING: haproxy's default check is a TCP connection.
    return lines


def _expected_codes(codes: str) -> str:
    """``http-check expect`` for Octavia's forms: ``200``, ``200,202``, ``200-204``."""
    if not EXPECTED_CODES.match(codes):
        raise RenderError(f"expected_codes {codes!r} is invalid")
    if "-" in codes:
        low, high = (int(c) for c in codes.split("-", 1))
        return f"rstatus ^({'|'.join(str(c) for c in range(low, high + 1))})$"
    if "," in codes:
        return f"rstatus ^({'|'.join(str(int(c)) for c in codes.split(','))})$"
    return f"status {int(codes)}"


def server_line(
    listener: ListenerSpec,
    pool: PoolSpec,
    member: MemberSpec,
    *,
    files: TlsFiles,
    target: RenderTarget,
) -> str:
    """``server <member id> <address>:<port> <options>`` (the runtime planner's shape)."""
    address = f"{_address(member.address)}:{int(member.protocol_port)}"
    options = server_options(listener, pool, member, files=files, target=target)
    return f"server {member.id} {address} {options}"


def server_options(
    listener: ListenerSpec,
    pool: PoolSpec,
    member: MemberSpec,
    *,
    files: TlsFiles,
    target: RenderTarget,
) -> str:
    words = [f"weight {int(member.weight)}"]
    monitor = pool.health_monitor
    if monitor is not None and monitor.admin_state_up:
        words.append(f"check inter {int(monitor.delay)}s")
        words.append(f"fall {int(monitor.max_retries_down)} rise {int(monitor.max_retries)}")
        if monitor.type == "HTTPS" and not pool.tls_enabled:
            words.append("check-ssl verify none")  # a re-encrypting pool checks over TLS
        if member.monitor_address:
            words.append(f"addr {_address(member.monitor_address)}")
        if member.monitor_port:
            words.append(f"port {int(member.monitor_port)}")
    if member.backup:
        words.append("backup")
    if not member.admin_state_up:
        words.append("disabled")
    sp = pool.session_persistence
    if sp is not None and sp.type == "HTTP_COOKIE":
        words.append(f"cookie {member.id}")
    if pool.protocol == "PROXY":
        words.append("send-proxy")
    elif pool.protocol == "PROXYV2":
        # Behind a terminated listener, pass the client certificate's CN on too.
        tls_listener = listener.protocol == "TERMINATED_HTTPS"
        words.append("send-proxy-v2-ssl-cn" if tls_listener else "send-proxy-v2")
    words += tls.server_words(listener, pool, target, files)
    return " ".join(words)
