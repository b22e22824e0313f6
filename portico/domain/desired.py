"""The desired state of one load balancer as typed, immutable values.

The reconciler reads it from the database at one generation and hands it to the provider;
the renderer turns it into haproxy configuration. Objects in PENDING_DELETE are left out:
desired state is what should run, not what the database still holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CertificateBundle:
    """TLS material resolved from a container ref: PEM certificate, key and chain."""

    ref: str
    certificate: str
    private_key: str | None = None
    intermediates: str | None = None


@dataclass(frozen=True)
class MemberSpec:
    id: str
    address: str
    protocol_port: int
    weight: int = 1
    backup: bool = False
    admin_state_up: bool = True
    monitor_address: str | None = None
    monitor_port: int | None = None
    subnet_id: str | None = None


@dataclass(frozen=True)
class HealthMonitorSpec:
    id: str
    type: str
    delay: int
    timeout: int
    max_retries: int
    max_retries_down: int = 3
    http_method: str | None = None
    url_path: str | None = None
    expected_codes: str | None = None
    http_version: float | None = None
    domain_name: str | None = None
    admin_state_up: bool = True


@dataclass(frozen=True)
class SessionPersistenceSpec:
    type: str
    cookie_name: str | None = None
    persistence_timeout: int | None = None
    persistence_granularity: str | None = None


@dataclass(frozen=True)
class PoolSpec:
    id: str
    protocol: str
    lb_algorithm: str
    admin_state_up: bool = True
    session_persistence: SessionPersistenceSpec | None = None
    tls_enabled: bool = False
    tls_container_ref: str | None = None
    ca_tls_container_ref: str | None = None
    crl_container_ref: str | None = None
    tls_ciphers: str | None = None
    tls_versions: tuple[str, ...] = ()
    alpn_protocols: tuple[str, ...] = ()
    members: tuple[MemberSpec, ...] = ()
    health_monitor: HealthMonitorSpec | None = None


@dataclass(frozen=True)
class L7RuleSpec:
    id: str
    type: str
    compare_type: str
    value: str
    key: str | None = None
    invert: bool = False
    admin_state_up: bool = True


@dataclass(frozen=True)
class L7PolicySpec:
    id: str
    action: str
    position: int
    redirect_pool_id: str | None = None
    redirect_url: str | None = None
    redirect_prefix: str | None = None
    redirect_http_code: int | None = None
    admin_state_up: bool = True
    rules: tuple[L7RuleSpec, ...] = ()


@dataclass(frozen=True)
class ListenerSpec:
    id: str
    protocol: str
    protocol_port: int
    admin_state_up: bool = True
    connection_limit: int = -1
    default_pool_id: str | None = None
    default_tls_container_ref: str | None = None
    sni_container_refs: tuple[str, ...] = ()
    insert_headers: Mapping[str, str] = field(default_factory=dict)
    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    client_authentication: str = "NONE"
    client_ca_tls_container_ref: str | None = None
    client_crl_container_ref: str | None = None
    allowed_cidrs: tuple[str, ...] = ()
    tls_ciphers: str | None = None
    tls_versions: tuple[str, ...] = ()
    alpn_protocols: tuple[str, ...] = ()
    hsts_max_age: int | None = None
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False
    # DDoS mitigation (domain/limits.py): per-source rates per second, sizes in bytes.
    connection_rate_limit: int | None = None
    request_rate_limit: int | None = None
    max_request_header_size: int | None = None
    max_request_body_size: int | None = None
    l7policies: tuple[L7PolicySpec, ...] = ()  # in position order


@dataclass(frozen=True)
class LoadBalancerSpec:
    """Everything that runs for one load balancer at one generation."""

    id: str
    vip_address: str | None
    admin_state_up: bool = True
    topology: str = "SINGLE"
    # The owner, named in every tenant flow log line (as on Octavia's amphorae).
    project_id: str | None = None
    vip_subnet_id: str | None = None
    listeners: tuple[ListenerSpec, ...] = ()
    pools: tuple[PoolSpec, ...] = ()
    # TLS material by container ref, for every ref the listeners and pools name.
    certificates: Mapping[str, CertificateBundle] = field(default_factory=dict)

    def pool(self, pool_id: str) -> PoolSpec | None:
        return next((p for p in self.pools if p.id == pool_id), None)
