"""Representative load balancers for golden files and ``haproxy -c``: every variant of the
amphora issue (protocols, algorithms, persistence, monitors, TLS, L7), with fixed ids.

The TLS material is real (``tests/golden/haproxy/pki``, made once, valid until 2046), so
``haproxy -c`` loads it exactly as an amphora would.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from portico.domain.desired import (
    CertificateBundle,
    HealthMonitorSpec,
    L7PolicySpec,
    L7RuleSpec,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
    SessionPersistenceSpec,
)
from portico.render.capabilities import FULL, RenderTarget
from portico.wire.capabilities import Capability

PKI = Path(__file__).resolve().parents[2] / "golden" / "haproxy" / "pki"
LB = "0a000000-0000-4000-8000-000000000001"

# An image built before these features: haproxy 2.4, no runtime server add/remove, no HTTP/2,
# no Prometheus exporter, no idle-close-on-response, OpenSSL without TLS 1.3.
OLD_IMAGE = RenderTarget(
    haproxy_version=(2, 4, 22),
    capabilities=frozenset({Capability.PROXY_V2.value, Capability.LUA.value}),
)


def uid(kind: int, n: int) -> str:
    """A fixed, readable UUID: kind 1 listener, 2 pool, 3 member, 4 monitor, 5 policy, 6 rule."""
    return f"{kind:08x}-0000-4000-8000-{n:012x}"


def _pem(name: str) -> str:
    return (PKI / name).read_text()


def certificates() -> dict[str, CertificateBundle]:
    bundles = {
        f"ref-{host}": CertificateBundle(
            ref=f"ref-{host}",
            certificate=_pem(f"{host}.pem"),
            private_key=_pem(f"{host}.key"),
            intermediates=_pem("ca.pem"),
        )
        for host in ("www", "api", "static", "client")
    }
    bundles["ref-ca"] = CertificateBundle(ref="ref-ca", certificate=_pem("ca.pem"))
    bundles["ref-crl"] = CertificateBundle(ref="ref-crl", certificate=_pem("crl.pem"))
    return bundles


def members(pool: int, count: int = 3, *, base: str = "127.0.0.") -> tuple[MemberSpec, ...]:
    found = [
        MemberSpec(id=uid(3, pool * 100 + i), address=f"{base}{10 + i}", protocol_port=8080 + i)
        for i in range(count)
    ]
    if count >= 3:
        found[1] = replace(found[1], weight=5, monitor_address=f"{base}99", monitor_port=9000)
        found[2] = replace(found[2], backup=True, admin_state_up=False, weight=0)
    return tuple(found)


def http_monitor(n: int) -> HealthMonitorSpec:
    return HealthMonitorSpec(
        id=uid(4, n),
        type="HTTP",
        delay=5,
        timeout=3,
        max_retries=2,
        max_retries_down=4,
        http_method="HEAD",
        url_path="/health?full=1",
        expected_codes="200-204",
        http_version=1.1,
        domain_name="www.example.com",
    )


def http_basic() -> LoadBalancerSpec:
    pool = PoolSpec(
        id=uid(2, 1),
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members(1),
        health_monitor=http_monitor(1),
    )
    listener = ListenerSpec(
        id=uid(1, 1),
        protocol="HTTP",
        protocol_port=80,
        connection_limit=1000,
        default_pool_id=pool.id,
        insert_headers={
            "X-Forwarded-For": "true",
            "X-Forwarded-Port": "true",
            "X-Forwarded-Proto": "True",
        },
        timeout_client_data=40000,
        timeout_member_connect=3000,
        timeout_member_data=45000,
        timeout_tcp_inspect=100,
        allowed_cidrs=("192.0.2.0/24", "10.0.0.0/8", "2001:db8::/32", "::1/128"),
    )
    return LoadBalancerSpec(id=LB, vip_address="127.0.0.1", listeners=(listener,), pools=(pool,))


def tcp_algorithms() -> LoadBalancerSpec:
    """TCP listeners over SOURCE_IP_PORT, SOURCE_IP (with persistence) and PROXY pools."""
    by_port = PoolSpec(
        id=uid(2, 1),
        protocol="TCP",
        lb_algorithm="SOURCE_IP_PORT",
        members=members(1),
        health_monitor=HealthMonitorSpec(
            id=uid(4, 1), type="TCP", delay=2, timeout=1, max_retries=3
        ),
    )
    by_ip = PoolSpec(
        id=uid(2, 2),
        protocol="TCP",
        lb_algorithm="SOURCE_IP",
        session_persistence=SessionPersistenceSpec(type="SOURCE_IP", persistence_timeout=600),
        members=members(2, 2),
        health_monitor=HealthMonitorSpec(
            id=uid(4, 2), type="PING", delay=10, timeout=5, max_retries=1, max_retries_down=1
        ),
    )
    proxied = PoolSpec(
        id=uid(2, 3), protocol="PROXYV2", lb_algorithm="LEAST_CONNECTIONS", members=members(3, 2)
    )
    listeners = tuple(
        ListenerSpec(
            id=uid(1, n),
            protocol="TCP",
            protocol_port=7000 + n,
            default_pool_id=pool.id,
            timeout_tcp_inspect=500 if n == 1 else 0,
        )
        for n, pool in enumerate((by_port, by_ip, proxied), 1)
    )
    return LoadBalancerSpec(
        id=LB, vip_address="127.0.0.1", listeners=listeners, pools=(by_port, by_ip, proxied)
    )


def https_passthrough() -> LoadBalancerSpec:
    pool = PoolSpec(
        id=uid(2, 1),
        protocol="HTTPS",
        lb_algorithm="SOURCE_IP",
        session_persistence=SessionPersistenceSpec(type="SOURCE_IP"),
        members=members(1),
        health_monitor=HealthMonitorSpec(
            id=uid(4, 1), type="TLS-HELLO", delay=3, timeout=2, max_retries=2
        ),
    )
    listener = ListenerSpec(
        id=uid(1, 1),
        protocol="HTTPS",
        protocol_port=443,
        default_pool_id=pool.id,
        connection_limit=0,
    )
    return LoadBalancerSpec(id=LB, vip_address="127.0.0.1", listeners=(listener,), pools=(pool,))


def terminated_https() -> LoadBalancerSpec:
    reencrypt = PoolSpec(
        id=uid(2, 1),
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        tls_enabled=True,
        tls_container_ref="ref-client",
        ca_tls_container_ref="ref-ca",
        crl_container_ref="ref-crl",
        tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384",
        tls_versions=("TLSv1.2", "TLSv1.3"),
        alpn_protocols=("h2", "http/1.1"),
        members=members(1),
        health_monitor=replace(http_monitor(1), type="HTTPS", http_version=1.0),
    )
    proxied = PoolSpec(
        id=uid(2, 2),
        protocol="PROXYV2",
        lb_algorithm="ROUND_ROBIN",
        members=members(2, 1),
        health_monitor=replace(
            http_monitor(2), type="HTTPS", http_version=None, expected_codes="200,301,302"
        ),
    )
    headers = {
        name: "true"
        for name in (
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "X-SSL-Client-Verify",
            "X-SSL-Client-Has-Cert",
            "X-SSL-Client-DN",
            "X-SSL-Client-CN",
            "X-SSL-Issuer",
            "X-SSL-Client-SHA1",
            "X-SSL-Client-Not-Before",
            "X-SSL-Client-Not-After",
        )
    }
    to_proxied = L7PolicySpec(
        id=uid(5, 1),
        action="REDIRECT_TO_POOL",
        position=1,
        redirect_pool_id=proxied.id,
        rules=(
            L7RuleSpec(
                id=uid(6, 1), type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO", value="tRUe"
            ),
            L7RuleSpec(id=uid(6, 2), type="SSL_VERIFY_RESULT", compare_type="EQUAL_TO", value="0"),
            L7RuleSpec(
                id=uid(6, 3),
                type="SSL_DN_FIELD",
                compare_type="STARTS_WITH",
                key="CN",
                value="client",
            ),
        ),
    )
    listener = ListenerSpec(
        id=uid(1, 1),
        protocol="TERMINATED_HTTPS",
        protocol_port=443,
        default_pool_id=reencrypt.id,
        default_tls_container_ref="ref-www",
        sni_container_refs=("ref-api", "ref-static"),
        insert_headers=headers,
        client_authentication="OPTIONAL",
        client_ca_tls_container_ref="ref-ca",
        client_crl_container_ref="ref-crl",
        tls_ciphers="ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
        tls_versions=("TLSv1.1", "TLSv1.2", "TLSv1.3"),
        alpn_protocols=("h2", "http/1.1"),
        hsts_max_age=31536000,
        hsts_include_subdomains=True,
        hsts_preload=True,
        l7policies=(to_proxied,),
    )
    return LoadBalancerSpec(
        id=LB,
        vip_address="127.0.0.1",
        listeners=(listener,),
        pools=(reencrypt, proxied),
        certificates=certificates(),
    )


def _rule(
    n: int, type_: str, compare: str, value: str, key: str | None = None, invert: bool = False
) -> L7RuleSpec:
    return L7RuleSpec(
        id=uid(6, n), type=type_, compare_type=compare, value=value, key=key, invert=invert
    )


def l7_policies() -> LoadBalancerSpec:
    """Every action, rule type and compare type; positions given out of order."""
    default = PoolSpec(
        id=uid(2, 1), protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(1, 1)
    )
    api = PoolSpec(
        id=uid(2, 2),
        protocol="HTTP",
        lb_algorithm="LEAST_CONNECTIONS",
        members=members(2, 2),
        session_persistence=SessionPersistenceSpec(type="APP_COOKIE", cookie_name="JSESSIONID"),
    )
    static = PoolSpec(
        id=uid(2, 3),
        protocol="PROXY",
        lb_algorithm="ROUND_ROBIN",
        members=members(3, 2),
        session_persistence=SessionPersistenceSpec(type="HTTP_COOKIE"),
    )
    switched_off = PoolSpec(
        id=uid(2, 4),
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        admin_state_up=False,
        members=members(4, 1),
    )
    policies = (
        L7PolicySpec(
            id=uid(5, 3),
            action="REJECT",
            position=3,
            rules=(
                _rule(1, "PATH", "STARTS_WITH", "/admin"),
                _rule(2, "HEADER", "EQUAL_TO", "yes", key="X-Internal", invert=True),
            ),
        ),
        L7PolicySpec(
            id=uid(5, 1),
            action="REDIRECT_TO_POOL",
            position=1,
            redirect_pool_id=api.id,
            rules=(
                _rule(3, "HOST_NAME", "EQUAL_TO", "API.example.com"),
                _rule(4, "PATH", "REGEX", r"^/v[0-9]+/"),
            ),
        ),
        L7PolicySpec(
            id=uid(5, 2),
            action="REDIRECT_TO_POOL",
            position=2,
            redirect_pool_id=static.id,
            rules=(
                _rule(5, "FILE_TYPE", "EQUAL_TO", "jpg"),
                _rule(6, "COOKIE", "CONTAINS", "beta", key="features"),
            ),
        ),
        L7PolicySpec(
            id=uid(5, 4),
            action="REDIRECT_TO_URL",
            position=4,
            redirect_url="https://example.com/moved?from=%2Fold",
            redirect_http_code=301,
            rules=(_rule(7, "HOST_NAME", "ENDS_WITH", ".old.example.com"),),
        ),
        L7PolicySpec(
            id=uid(5, 5),
            action="REDIRECT_PREFIX",
            position=5,
            redirect_prefix="https://secure.example.com",
            redirect_http_code=308,
            rules=(
                _rule(8, "FILE_TYPE", "REGEX", r"\.(php|asp)$"),
                _rule(9, "HEADER", "CONTAINS", '"a b"', key="User-Agent"),
            ),
        ),
        L7PolicySpec(
            id=uid(5, 6),
            action="REJECT",
            position=6,
            admin_state_up=False,
            rules=(_rule(10, "PATH", "EQUAL_TO", "/never"),),
        ),
        L7PolicySpec(id=uid(5, 7), action="REJECT", position=7, rules=()),
        L7PolicySpec(
            id=uid(5, 8),
            action="REDIRECT_TO_POOL",
            position=8,
            redirect_pool_id=switched_off.id,
            rules=(_rule(11, "PATH", "ENDS_WITH", "/off"),),
        ),
        L7PolicySpec(
            id=uid(5, 9),
            action="REDIRECT_TO_URL",
            position=9,
            redirect_url="http://example.com/",
            rules=(
                _rule(12, "HOST_NAME", "REGEX", r"^www\d+\.example\.com$"),
                _rule(13, "PATH", "CONTAINS", "-f"),
                _rule(14, "COOKIE", "STARTS_WITH", "x", key="session", invert=True),
            ),
        ),
    )
    listener = ListenerSpec(
        id=uid(1, 1),
        protocol="HTTP",
        protocol_port=8080,
        default_pool_id=default.id,
        l7policies=policies,
    )
    return LoadBalancerSpec(
        id=LB,
        vip_address="127.0.0.1",
        listeners=(listener,),
        pools=(default, api, static, switched_off),
    )


def prometheus() -> LoadBalancerSpec:
    listener = ListenerSpec(
        id=uid(1, 1), protocol="PROMETHEUS", protocol_port=9100, allowed_cidrs=("127.0.0.0/8",)
    )
    return LoadBalancerSpec(id=LB, vip_address="127.0.0.1", listeners=(listener,))


def ipv6() -> LoadBalancerSpec:
    pool = PoolSpec(
        id=uid(2, 1),
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=(
            MemberSpec(
                id=uid(3, 1),
                address="::1",
                protocol_port=8081,
                monitor_address="::1",
                monitor_port=8082,
            ),
            MemberSpec(id=uid(3, 2), address="127.0.0.2", protocol_port=8081),
        ),
        health_monitor=replace(
            http_monitor(1),
            http_version=None,
            domain_name=None,
            http_method="GET",
            url_path="/",
            expected_codes="200",
        ),
    )
    listener = ListenerSpec(
        id=uid(1, 1),
        protocol="HTTP",
        protocol_port=80,
        default_pool_id=pool.id,
        admin_state_up=True,
        allowed_cidrs=("::1/128", "127.0.0.0/8"),
    )
    stopped = ListenerSpec(
        id=uid(1, 2),
        protocol="TCP",
        protocol_port=81,
        admin_state_up=False,
        default_pool_id=pool.id,
    )
    return LoadBalancerSpec(id=LB, vip_address="::1", listeners=(listener, stopped), pools=(pool,))


def ddos_limits() -> LoadBalancerSpec:
    """Every DDoS limit on HTTP, a connection rate on TCP and HTTPS passthrough, a request
    rate on PROMETHEUS; beside allowed_cidrs and inserted headers, whose lines they order."""
    web = PoolSpec(id=uid(2, 1), protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(1))
    tcp = PoolSpec(id=uid(2, 2), protocol="TCP", lb_algorithm="SOURCE_IP", members=members(2))
    http = ListenerSpec(
        id=uid(1, 1),
        protocol="HTTP",
        protocol_port=80,
        default_pool_id=web.id,
        insert_headers={"X-Forwarded-For": "true"},
        allowed_cidrs=("127.0.0.0/8",),
        connection_rate_limit=50,
        request_rate_limit=100,
        max_request_header_size=8192,
        max_request_body_size=1048576,
    )
    passthrough = ListenerSpec(
        id=uid(1, 2),
        protocol="TCP",
        protocol_port=5432,
        default_pool_id=tcp.id,
        timeout_tcp_inspect=100,
        connection_rate_limit=20,
    )
    https = replace(passthrough, id=uid(1, 3), protocol="HTTPS", protocol_port=443)
    metrics = ListenerSpec(
        id=uid(1, 4), protocol="PROMETHEUS", protocol_port=9100, request_rate_limit=5
    )
    body_only = ListenerSpec(
        id=uid(1, 5),
        protocol="HTTP",
        protocol_port=8080,
        default_pool_id=web.id,
        max_request_body_size=0,
    )
    return LoadBalancerSpec(
        id=LB,
        vip_address="127.0.0.1",
        listeners=(http, passthrough, https, metrics, body_only),
        pools=(web, tcp),
    )


# name -> (spec, target); each is rendered to tests/golden/haproxy/<name>.cfg
VARIANTS: dict[str, tuple[LoadBalancerSpec, RenderTarget]] = {
    "http_basic": (http_basic(), FULL),
    "tcp_algorithms": (tcp_algorithms(), FULL),
    "https_passthrough": (https_passthrough(), FULL),
    "terminated_https": (terminated_https(), FULL),
    "l7_policies": (l7_policies(), FULL),
    "prometheus": (prometheus(), FULL),
    "ipv6": (ipv6(), FULL),
    "old_image_http_basic": (http_basic(), OLD_IMAGE),
    "old_image_terminated_https": (terminated_https(), OLD_IMAGE),
    "disabled_load_balancer": (replace(http_basic(), admin_state_up=False), FULL),
    "ddos_limits": (ddos_limits(), FULL),
}
