"""The frontend and backend sections of a configuration, as lists of directive lines.

Every user value reaches a line through ``quote`` (or is a validated number, enum or
address), so no value can add a word, a directive or a comment.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from portico.domain.desired import (
    CertificateBundle,
    HealthMonitorSpec,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)
from portico.render import l7
from portico.render.capabilities import RenderTarget
from portico.render.errors import RenderError
from portico.render.quoting import quote
from portico.wire.capabilities import Capability

__all__ = ["Capability", "Section", "TlsFiles", "backend", "frontend", "server_line"]

MODES = {
    "HTTP": "http",
    "TERMINATED_HTTPS": "http",
    "PROMETHEUS": "http",
    "HTTPS": "tcp",
    "TCP": "tcp",
    "PROXY": "tcp",
    "PROXYV2": "tcp",
}
ALGORITHMS = {
    "ROUND_ROBIN": ["balance roundrobin"],
    "LEAST_CONNECTIONS": ["balance leastconn"],
    # Consistent hashing keeps the algorithm dynamic (servers can be added at runtime) and
    # moves few clients when members change.
    "SOURCE_IP": ["balance source", "hash-type consistent"],
    "SOURCE_IP_PORT": ["balance hash src,concat(:,src_port)", "hash-type consistent"],
}


@dataclass
class Section:
    """One ``frontend`` or ``backend``: its name and its directive lines."""

    kind: str
    name: str
    lines: list[str] = field(default_factory=list)


class TlsFiles:
    """Collects the PEM files a configuration names; each file is named by its content hash."""

    def __init__(self, certificates: Mapping[str, CertificateBundle]) -> None:
        self._bundles = certificates
        self._files: dict[str, str] = {}

    def bundle(self, ref: str) -> CertificateBundle:
        found = self._bundles.get(ref)
        if found is None:
            raise RenderError(f"TLS container {ref} could not be found in the certificate store")
        return found

    def add(self, content: str, suffix: str) -> str:
        name = hashlib.sha256(content.encode()).hexdigest()[:32] + suffix
        self._files[name] = content
        return f"certs/{name}"

    def keypair(self, ref: str) -> str:
        """A combined PEM (certificate, intermediates, key) as haproxy's ``crt`` wants it."""
        bundle = self.bundle(ref)
        parts = [bundle.certificate.strip()]
        if bundle.intermediates:
            parts.append(bundle.intermediates.strip())
        if bundle.private_key:
            parts.append(bundle.private_key.strip())
        return self.add("\n".join(parts) + "\n", ".pem")

    def ca(self, ref: str) -> str:
        return self.add(self.bundle(ref).certificate.strip() + "\n", ".ca.pem")

    def items(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self._files.items()))


def _ms(value: int) -> str:
    return f"{int(value)}ms"


def _address(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _bind_address(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"ipv6@{ip}" if ip.version == 6 else str(ip)


def frontend(
    spec: LoadBalancerSpec, listener: ListenerSpec, target: RenderTarget, files: TlsFiles
) -> Section:
    section = Section("frontend", listener.id)
    add = section.lines.append
    mode = MODES[listener.protocol]
    vip = spec.vip_address or "0.0.0.0"
    bind = f"bind {_bind_address(vip)}:{int(listener.protocol_port)}"
    if listener.protocol == "TERMINATED_HTTPS":
        bind += _tls_bind_options(listener, target, files)
    add(bind)
    add(f"mode {mode}")
    if not listener.admin_state_up:
        add("disabled")
    if listener.connection_limit is not None and listener.connection_limit >= 0:
        add(f"maxconn {int(listener.connection_limit)}")
    add(f"timeout client {_ms(listener.timeout_client_data)}")
    if listener.allowed_cidrs:
        cidrs = " ".join(str(ipaddress.ip_network(c, strict=False)) for c in listener.allowed_cidrs)
        add(f"acl allowed-cidr src {cidrs}")
        add("tcp-request connection reject unless allowed-cidr")
    if mode == "tcp":
        if listener.timeout_tcp_inspect:
            add(f"tcp-request inspect-delay {_ms(listener.timeout_tcp_inspect)}")
    else:
        add("option forwardfor" if listener.insert_headers.get("X-Forwarded-For") else "")
        section.lines[:] = [line for line in section.lines if line]
        section.lines.extend(_insert_headers(listener))
        if listener.protocol == "TERMINATED_HTTPS" and listener.hsts_max_age is not None:
            value = f"max-age={int(listener.hsts_max_age)}"
            if listener.hsts_include_subdomains:
                value += "; includeSubDomains"
            if listener.hsts_preload:
                value += "; preload"
            add(f"http-response set-header Strict-Transport-Security {quote(value)}")
    if listener.protocol == "PROMETHEUS":
        if not target.has(Capability.PROMETHEUS_EXPORTER):
            raise RenderError(
                f"listener {listener.id}: this amphora's haproxy has no Prometheus exporter"
            )
        add("http-request use-service prometheus-exporter")
        return section
    section.lines.extend(l7.policies(listener))
    if listener.default_pool_id and spec.pool(listener.default_pool_id) is not None:
        add(f"default_backend {listener.default_pool_id}:{listener.id}")
    return section


def _insert_headers(listener: ListenerSpec) -> list[str]:
    headers = listener.insert_headers
    lines: list[str] = []

    def enabled(name: str) -> bool:
        return str(headers.get(name, "")).lower() == "true"

    if enabled("X-Forwarded-Port"):
        lines.append("http-request set-header X-Forwarded-Port %[dst_port]")
    if enabled("X-Forwarded-Proto"):
        lines.append("http-request set-header X-Forwarded-Proto https if { ssl_fc }")
        lines.append("http-request set-header X-Forwarded-Proto http if !{ ssl_fc }")
    if listener.protocol == "TERMINATED_HTTPS":
        for name, fetch in (
            ("X-SSL-Client-Verify", "%[ssl_c_verify]"),
            ("X-SSL-Client-Has-Cert", "%[ssl_c_used]"),
            ("X-SSL-Client-DN", "%{+Q}[ssl_c_s_dn]"),
            ("X-SSL-Client-CN", "%{+Q}[ssl_c_s_dn(cn)]"),
            ("X-SSL-Issuer", "%{+Q}[ssl_c_i_dn]"),
            ("X-SSL-Client-SHA1", "%{+Q}[ssl_c_sha1,hex]"),
            ("X-SSL-Client-Not-Before", "%{+Q}[ssl_c_notbefore]"),
            ("X-SSL-Client-Not-After", "%{+Q}[ssl_c_notafter]"),
        ):
            if enabled(name):
                lines.append(f"http-request set-header {name} {fetch}")
    return lines


TLS_VERSIONS = {"SSLv3": "SSLv3", "TLSv1": "TLSv1.0", "TLSv1.1": "TLSv1.1"}


def _tls_version_words(versions: tuple[str, ...]) -> list[str]:
    """``ssl-min-ver``/``ssl-max-ver`` covering the requested versions."""
    order = ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    chosen = [v for v in order if v in versions]
    if not chosen:
        return []
    low, high = chosen[0], chosen[-1]
    return [
        f"ssl-min-ver {TLS_VERSIONS.get(low, low)}",
        f"ssl-max-ver {TLS_VERSIONS.get(high, high)}",
    ]


def _tls_bind_options(listener: ListenerSpec, target: RenderTarget, files: TlsFiles) -> str:
    if not listener.default_tls_container_ref:
        raise RenderError(f"listener {listener.id}: TERMINATED_HTTPS needs a certificate")
    words = [" ssl", f"crt {files.keypair(listener.default_tls_container_ref)}"]
    for ref in listener.sni_container_refs:
        words.append(f"crt {files.keypair(ref)}")
    words += _tls_version_words(listener.tls_versions)
    if listener.tls_ciphers:
        words.append(f"ciphers {quote(listener.tls_ciphers)}")
    alpn = [p for p in listener.alpn_protocols if p != "h2" or target.has(Capability.HTTP2)]
    if alpn:
        words.append(f"alpn {quote(','.join(alpn))}")
    if listener.client_authentication != "NONE" and listener.client_ca_tls_container_ref:
        verify = "required" if listener.client_authentication == "MANDATORY" else "optional"
        words.append(f"verify {verify} ca-file {files.ca(listener.client_ca_tls_container_ref)}")
        if listener.client_crl_container_ref:
            words.append(f"crl-file {files.ca(listener.client_crl_container_ref)}")
    return " ".join(words)


def backend(
    listener: ListenerSpec, pool: PoolSpec, target: RenderTarget, files: TlsFiles
) -> Section:
    section = Section("backend", f"{pool.id}:{listener.id}")
    add = section.lines.append
    mode = MODES.get(listener.protocol, "tcp")
    add(f"mode {mode}")
    if not pool.admin_state_up:
        add("disabled")
    for line in ALGORITHMS[pool.lb_algorithm]:
        add(line)
    add(f"timeout connect {_ms(listener.timeout_member_connect)}")
    add(f"timeout server {_ms(listener.timeout_member_data)}")
    if mode == "http":
        add("option http-keep-alive")
    persistence = pool.session_persistence
    if persistence is not None:
        section.lines.extend(_persistence(pool, mode))
    monitor = pool.health_monitor
    if monitor is not None and monitor.admin_state_up:
        section.lines.extend(_monitor(monitor, mode))
    for member in pool.members:
        add(server_line(pool, member, files=files, target=target))
    return section


def _persistence(pool: PoolSpec, mode: str) -> list[str]:
    sp = pool.session_persistence
    assert sp is not None
    if sp.type == "SOURCE_IP":
        expire = f"{int(sp.persistence_timeout)}s" if sp.persistence_timeout else "30m"
        size = "10k"
        return [f"stick-table type ipv6 size {size} expire {expire}", "stick on src"]
    if mode != "http":
        return []
    if sp.type == "HTTP_COOKIE":
        return ["cookie SRV insert indirect nocache"]
    if sp.type == "APP_COOKIE" and sp.cookie_name:
        name = quote(sp.cookie_name)
        return [
            "stick-table type string len 64 size 10k expire 30m",
            f"stick store-response res.cook({name})",
            f"stick match req.cook({name})",
        ]
    return []


def _monitor(monitor: HealthMonitorSpec, mode: str) -> list[str]:
    lines: list[str] = [f"timeout check {int(monitor.timeout)}s"]
    if monitor.type in ("HTTP", "HTTPS"):
        method = monitor.http_method or "GET"
        path = monitor.url_path or "/"
        option = f"option httpchk {method} {quote(path)}"
        if monitor.http_version:
            option += f" HTTP/{monitor.http_version:.1f}"
        lines.append(option)
        if monitor.http_version and monitor.http_version >= 1.1 and monitor.domain_name:
            lines.append(f"http-check send hdr Host {quote(monitor.domain_name)}")
        expect = _expected_codes(monitor.expected_codes or "200")
        lines.append(f"http-check expect {expect}")
    elif monitor.type == "TLS-HELLO":
        lines.append("option ssl-hello-chk")
    elif monitor.type == "PING":
        # haproxy has no ICMP check; Octavia's amphora uses an external ping script. A TCP
        # connect check to the member is what we can do without root: documented.
        lines.append("option tcp-check")
    else:
        lines.append("option tcp-check" if mode == "tcp" else "")
    return [line for line in lines if line]


def _expected_codes(codes: str) -> str:
    if "-" in codes:
        low, high = codes.split("-", 1)
        return f"rstatus ^({'|'.join(str(c) for c in range(int(low), int(high) + 1))})$"
    if "," in codes:
        return f"rstatus ^({'|'.join(c.strip() for c in codes.split(','))})$"
    return f"status {int(codes)}"


def server_line(
    pool: PoolSpec, member: MemberSpec, *, files: TlsFiles, target: RenderTarget
) -> str:
    """The ``server`` directive of one member (also used for runtime ``add server``)."""
    return f"server {member.id} {_address(member.address)}:{int(member.protocol_port)} " + (
        server_options(pool, member, files=files, target=target)
    )


def server_options(
    pool: PoolSpec, member: MemberSpec, *, files: TlsFiles, target: RenderTarget
) -> str:
    words = [f"weight {int(member.weight)}"]
    monitor = pool.health_monitor
    if monitor is not None and monitor.admin_state_up:
        words.append("check")
        words.append(f"inter {int(monitor.delay)}s")
        words.append(f"fall {int(monitor.max_retries_down)}")
        words.append(f"rise {int(monitor.max_retries)}")
        if monitor.type == "HTTPS":
            words.append("check-ssl verify none")
        if member.monitor_address:
            words.append(f"addr {ipaddress.ip_address(member.monitor_address)}")
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
        words.append("send-proxy-v2")
    if pool.tls_enabled:
        words.append("ssl")
        if pool.ca_tls_container_ref:
            words.append(f"verify required ca-file {files.ca(pool.ca_tls_container_ref)}")
            if pool.crl_container_ref:
                words.append(f"crl-file {files.ca(pool.crl_container_ref)}")
        else:
            words.append("verify none")
        if pool.tls_container_ref:
            words.append(f"crt {files.keypair(pool.tls_container_ref)}")
        words += _tls_version_words(pool.tls_versions)
        if pool.tls_ciphers:
            words.append(f"ciphers {quote(pool.tls_ciphers)}")
        alpn = [p for p in pool.alpn_protocols if p != "h2" or target.has(Capability.HTTP2)]
        if alpn:
            words.append(f"alpn {quote(','.join(alpn))}")
    return " ".join(words)
