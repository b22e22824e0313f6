"""Reads one load balancer's desired state from the database as a ``LoadBalancerSpec``.

Column reads, one query per table (no ORM objects): this runs on every reconcile pass, and
a pool of 1,000 members must not cost tens of milliseconds of CPU. Rows in PENDING_DELETE are
left out, so the rendered configuration no longer has them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.models import HealthMonitor, L7Policy, L7Rule, Listener, LoadBalancer, Member, Pool
from portico.domain.constants import ProvisioningStatus as PS
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

# Resolves container refs to TLS material (the certificate store); refs it cannot resolve
# are absent from the answer and the provider reports them.
CertificateResolver = Callable[[Session, set[str]], Mapping[str, CertificateBundle]]


def _live(model: Any) -> Any:
    return model.provisioning_status != PS.PENDING_DELETE


def _columns(model: Any, *names: str) -> list[Any]:
    return [getattr(model, name) for name in names]


def load_spec(
    session: Session, lb_id: str, *, resolve_certificates: CertificateResolver | None = None
) -> LoadBalancerSpec | None:
    lb = session.execute(
        select(
            LoadBalancer.id,
            LoadBalancer.vip_address,
            LoadBalancer.vip_subnet_id,
            LoadBalancer.admin_state_up,
            LoadBalancer.topology,
            LoadBalancer.project_id,
        ).where(LoadBalancer.id == lb_id)
    ).first()
    if lb is None:
        return None
    pools = _pools(session, lb_id)
    listeners = _listeners(session, lb_id)
    refs = _refs(listeners, pools)
    certificates = resolve_certificates(session, refs) if (refs and resolve_certificates) else {}
    return LoadBalancerSpec(
        id=lb.id,
        vip_address=lb.vip_address,
        vip_subnet_id=lb.vip_subnet_id,
        admin_state_up=lb.admin_state_up,
        topology=lb.topology,
        project_id=lb.project_id,
        listeners=listeners,
        pools=pools,
        certificates=certificates,
    )


def _refs(listeners: tuple[ListenerSpec, ...], pools: tuple[PoolSpec, ...]) -> set[str]:
    refs: set[str] = set()
    for li in listeners:
        refs.update(li.sni_container_refs)
        for ref in (
            li.default_tls_container_ref,
            li.client_ca_tls_container_ref,
            li.client_crl_container_ref,
        ):
            if ref:
                refs.add(ref)
    for pool in pools:
        for ref in (pool.tls_container_ref, pool.ca_tls_container_ref, pool.crl_container_ref):
            if ref:
                refs.add(ref)
    return refs


MEMBER_FIELDS = (
    "id", "address", "protocol_port", "weight", "backup", "admin_state_up",
    "monitor_address", "monitor_port", "subnet_id",
)  # fmt: skip
MONITOR_FIELDS = (
    "id", "type", "delay", "timeout", "max_retries", "max_retries_down", "http_method",
    "url_path", "expected_codes", "http_version", "domain_name", "admin_state_up",
)  # fmt: skip
POOL_FIELDS = (
    "id", "protocol", "lb_algorithm", "admin_state_up", "tls_enabled", "tls_container_ref",
    "ca_tls_container_ref", "crl_container_ref", "tls_ciphers",
)  # fmt: skip
LISTENER_FIELDS = (
    "id", "protocol", "protocol_port", "admin_state_up", "connection_limit", "default_pool_id",
    "default_tls_container_ref", "timeout_client_data", "timeout_member_connect",
    "timeout_member_data", "timeout_tcp_inspect", "client_authentication",
    "client_ca_tls_container_ref", "client_crl_container_ref", "tls_ciphers", "hsts_max_age",
    "hsts_include_subdomains", "hsts_preload",
    "connection_rate_limit", "request_rate_limit", "max_request_header_size",
    "max_request_body_size",
)  # fmt: skip
POLICY_FIELDS = (
    "id", "action", "position", "redirect_pool_id", "redirect_url", "redirect_prefix",
    "redirect_http_code", "admin_state_up",
)  # fmt: skip
RULE_FIELDS = ("id", "type", "compare_type", "value", "key", "invert", "admin_state_up")


def _pools(session: Session, lb_id: str) -> tuple[PoolSpec, ...]:
    members: dict[str, list[MemberSpec]] = {}
    for row in session.execute(
        select(Member.pool_id, *_columns(Member, *MEMBER_FIELDS))
        .join(Pool, Pool.id == Member.pool_id)
        .where(Pool.load_balancer_id == lb_id, _live(Member))
        .order_by(Member.created_at, Member.id)
    ):
        values = row._mapping
        members.setdefault(row.pool_id, []).append(
            MemberSpec(**{name: values[name] for name in MEMBER_FIELDS})
        )
    monitors: dict[str, HealthMonitorSpec] = {}
    for row in session.execute(
        select(HealthMonitor.pool_id, *_columns(HealthMonitor, *MONITOR_FIELDS))
        .join(Pool, Pool.id == HealthMonitor.pool_id)
        .where(Pool.load_balancer_id == lb_id, _live(HealthMonitor))
    ):
        values = row._mapping
        monitors[row.pool_id] = HealthMonitorSpec(**{n: values[n] for n in MONITOR_FIELDS})
    result: list[PoolSpec] = []
    for row in session.execute(
        select(
            *_columns(Pool, *POOL_FIELDS),
            Pool.session_persistence,
            Pool.tls_versions,
            Pool.alpn_protocols,
        )
        .where(Pool.load_balancer_id == lb_id, _live(Pool))
        .order_by(Pool.created_at, Pool.id)
    ):
        values = row._mapping
        persistence = row.session_persistence
        result.append(
            PoolSpec(
                **{name: values[name] for name in POOL_FIELDS},
                session_persistence=_persistence(persistence),
                tls_versions=tuple(row.tls_versions or ()),
                alpn_protocols=tuple(row.alpn_protocols or ()),
                members=tuple(members.get(row.id, ())),
                health_monitor=monitors.get(row.id),
            )
        )
    return tuple(result)


def _persistence(raw: Mapping[str, Any] | None) -> SessionPersistenceSpec | None:
    if not raw or not raw.get("type"):
        return None
    return SessionPersistenceSpec(
        type=raw["type"],
        cookie_name=raw.get("cookie_name"),
        persistence_timeout=raw.get("persistence_timeout"),
        persistence_granularity=raw.get("persistence_granularity"),
    )


def _listeners(session: Session, lb_id: str) -> tuple[ListenerSpec, ...]:
    rules: dict[str, list[L7RuleSpec]] = {}
    for row in session.execute(
        select(L7Rule.l7policy_id, *_columns(L7Rule, *RULE_FIELDS))
        .join(L7Policy, L7Policy.id == L7Rule.l7policy_id)
        .join(Listener, Listener.id == L7Policy.listener_id)
        .where(Listener.load_balancer_id == lb_id, _live(L7Rule))
        .order_by(L7Rule.created_at, L7Rule.id)
    ):
        values = row._mapping
        rules.setdefault(row.l7policy_id, []).append(
            L7RuleSpec(**{name: values[name] for name in RULE_FIELDS})
        )
    policies: dict[str, list[L7PolicySpec]] = {}
    for row in session.execute(
        select(L7Policy.listener_id, *_columns(L7Policy, *POLICY_FIELDS))
        .join(Listener, Listener.id == L7Policy.listener_id)
        .where(Listener.load_balancer_id == lb_id, _live(L7Policy))
        .order_by(L7Policy.position)
    ):
        values = row._mapping
        policies.setdefault(row.listener_id, []).append(
            L7PolicySpec(
                **{name: values[name] for name in POLICY_FIELDS},
                rules=tuple(rules.get(row.id, ())),
            )
        )
    result: list[ListenerSpec] = []
    for row in session.execute(
        select(
            *_columns(Listener, *LISTENER_FIELDS),
            Listener.sni_container_refs,
            Listener.insert_headers,
            Listener.allowed_cidrs,
            Listener.tls_versions,
            Listener.alpn_protocols,
        )
        .where(Listener.load_balancer_id == lb_id, _live(Listener))
        .order_by(Listener.created_at, Listener.id)
    ):
        values = row._mapping
        result.append(
            ListenerSpec(
                **{name: values[name] for name in LISTENER_FIELDS},
                sni_container_refs=tuple(row.sni_container_refs or ()),
                insert_headers=dict(row.insert_headers or {}),
                allowed_cidrs=tuple(row.allowed_cidrs or ()),
                tls_versions=tuple(row.tls_versions or ()),
                alpn_protocols=tuple(row.alpn_protocols or ()),
                l7policies=tuple(policies.get(row.id, ())),
            )
        )
    return tuple(result)
