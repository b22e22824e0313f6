"""Listener use cases: list, show, create (alone or inside a graph), update, delete, stats.

``new_listener`` is the one place a listener row is born, so the single-create route and the
full-graph create apply the same rules; callers own locking and the generation bump.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portico.db.models import Listener, ListenerStatistics, LoadBalancer, Pool
from portico.domain import limits, protocols
from portico.domain import listeners as rules
from portico.domain.constants import OperatingStatus as OS
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import NotFound
from portico.domain.policy import Access, Caller, require
from portico.domain.status import status_after_update
from portico.drivers.providers.base import Provider
from portico.services import provider_checks
from portico.services.certificates import check_container_refs
from portico.services.changes import begin_change, lock_load_balancer
from portico.services.listing import ListQuery, Page, owned_columns
from portico.services.quotas import check_quota
from portico.services.scope import get_visible, list_owned
from portico.settings import Settings

LABEL = "Listener"

COLUMNS = owned_columns(
    "name",
    "description",
    "protocol",
    "protocol_port",
    "connection_limit",
    "default_pool_id",
    "default_tls_container_ref",
    "client_authentication",
    "client_ca_tls_container_ref",
    "client_crl_container_ref",
    "timeout_client_data",
    "timeout_member_connect",
    "timeout_member_data",
    "timeout_tcp_inspect",
    "tls_ciphers",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
    *limits.FIELDS,
    loadbalancer_id="load_balancer_id",
)

# Request fields stored as they are (the rest need translation or checks).
STORED = (
    "name",
    "description",
    "admin_state_up",
    "connection_limit",
    "default_tls_container_ref",
    "client_ca_tls_container_ref",
    "client_authentication",
    "client_crl_container_ref",
    "timeout_client_data",
    "timeout_member_connect",
    "timeout_member_data",
    "timeout_tcp_inspect",
    "tls_ciphers",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
    *limits.FIELDS,
)
LIST_FIELDS = ("sni_container_refs", "tls_versions", "alpn_protocols")


def list_listeners(session: Session, caller: Caller, query: ListQuery, settings: Settings) -> Page:
    return list_owned(
        session, caller, Listener, query, columns=COLUMNS, max_limit=settings.pagination_max_limit
    )


def get_listener(session: Session, caller: Caller, listener_id: str) -> Listener:
    return get_visible(session, Listener, listener_id, caller, label=LABEL)


def pool_on(session: Session, lb: LoadBalancer, pool_id: str) -> Pool:
    """A pool of ``lb`` that is not being deleted; 404 otherwise."""
    pool = session.scalar(select(Pool).where(Pool.id == pool_id, Pool.load_balancer_id == lb.id))
    if pool is None or pool.provisioning_status == PS.PENDING_DELETE:
        raise NotFound("Pool", pool_id)
    return pool


def _check_default_pool(session: Session, lb: LoadBalancer, protocol: str, pool_id: str) -> None:
    protocols.check_no_children(protocol)
    pool = pool_on(session, lb, pool_id)
    protocols.check_pool_protocol(protocol, pool.protocol)


def _vips(lb: LoadBalancer) -> list[str]:
    extra = [v.get("ip_address") for v in lb.additional_vips or []]
    return [a for a in [lb.vip_address, *extra] if a]


def _check_cidrs(lb: LoadBalancer, cidrs: list[str]) -> None:
    protocols.check_cidrs_match_vips(cidrs, _vips(lb), custom_security_groups=bool(lb.vip_sg_ids))


def new_listener(
    session: Session, caller: Caller, settings: Settings, lb: LoadBalancer, data: Mapping[str, Any]
) -> Listener:
    """Validate ``data`` and add a PENDING_CREATE listener to ``lb`` (no generation bump)."""
    protocol = str(data["protocol"])
    port = int(data["protocol_port"])
    if data.get("default_pool_id"):
        _check_default_pool(session, lb, protocol, data["default_pool_id"])
    rules.check_create(data)
    check_container_refs(session, lb, data)
    existing = session.execute(
        select(Listener.protocol, Listener.protocol_port).where(Listener.load_balancer_id == lb.id)
    )
    protocols.check_port_free(protocol, port, [(p, n) for p, n in existing])
    full = rules.with_defaults(data)
    _check_cidrs(lb, full["allowed_cidrs"])
    check_quota(session, settings, lb.project_id, "listener")
    listener = Listener(
        id=str(uuid.uuid4()),
        project_id=lb.project_id,
        load_balancer_id=lb.id,
        protocol=protocol,
        protocol_port=port,
        default_pool_id=full.get("default_pool_id"),
        insert_headers=dict(full.get("insert_headers") or {}),
        allowed_cidrs=full["allowed_cidrs"],
        provisioning_status=PS.PENDING_CREATE,
        operating_status=OS.OFFLINE,
    )
    for name in STORED:
        if full.get(name) is not None:
            setattr(listener, name, full[name])
    for name in LIST_FIELDS:
        setattr(listener, name, list(full.get(name) or []))
    listener.set_tags(list(full.get("tags") or []))
    listener.load_balancer = lb
    session.add(listener)
    session.flush()
    return listener


def create_listener(
    session: Session,
    caller: Caller,
    settings: Settings,
    data: Mapping[str, Any],
    *,
    providers: Mapping[str, Provider],
) -> Listener:
    lb = lock_load_balancer(session, data["loadbalancer_id"])
    require(caller, Access.WRITE, lb.project_id)
    provider_checks.refuse_unsupported(
        providers, lb.provider, provider_checks.listener_features(data)
    )
    begin_change(session, lb, strict=settings.strict_pending_lock)
    return new_listener(session, caller, settings, lb, data)


def _locked(session: Session, caller: Caller, listener_id: str) -> tuple[LoadBalancer, Listener]:
    """The listener and its load balancer, the latter row-locked, for a write."""
    listener = get_visible(session, Listener, listener_id, caller, label=LABEL)
    lb = lock_load_balancer(session, listener.load_balancer_id)
    session.refresh(listener)
    require(caller, Access.WRITE, lb.project_id)
    return lb, listener


def _current(listener: Listener) -> dict[str, Any]:
    names = ("protocol", "hsts_max_age", "client_ca_tls_container_ref", "client_crl_container_ref")
    return {name: getattr(listener, name) for name in names}


def update_listener(
    session: Session,
    caller: Caller,
    settings: Settings,
    listener_id: str,
    changes: Mapping[str, Any],
) -> Listener:
    lb, listener = _locked(session, caller, listener_id)
    begin_change(
        session,
        lb,
        strict=settings.strict_pending_lock,
        target_status=listener.provisioning_status,
        target_name=LABEL,
        target_id=listener.id,
    )
    rules.check_update(_current(listener), changes)
    check_container_refs(session, lb, changes)
    if changes.get("allowed_cidrs"):
        _check_cidrs(lb, protocols.normalize_cidrs(changes["allowed_cidrs"]))
    if changes.get("default_pool_id"):
        _check_default_pool(session, lb, listener.protocol, changes["default_pool_id"])
    for name, value in changes.items():
        if value is None and name in rules.RESET_ON_NULL:
            value = rules.RESET_ON_NULL[name]
        if name == "tags":
            listener.set_tags(list(value or []))
        elif name == "allowed_cidrs":
            listener.allowed_cidrs = protocols.normalize_cidrs(value)
        elif name in LIST_FIELDS or name == "insert_headers":
            setattr(listener, name, type(value)(value))
        elif name in STORED or name == "default_pool_id":
            setattr(listener, name, value)
    listener.provisioning_status = status_after_update(listener.provisioning_status)
    session.flush()
    return listener


def delete_listener(session: Session, caller: Caller, settings: Settings, listener_id: str) -> str:
    """Mark the listener and its L7 policies for deletion; returns its load balancer id."""
    lb, listener = _locked(session, caller, listener_id)
    begin_change(
        session,
        lb,
        strict=settings.strict_pending_lock,
        target_status=listener.provisioning_status,
        target_name=LABEL,
        target_id=listener.id,
        deleting=True,
    )
    mark_deleted(listener)
    session.flush()
    return lb.id


def mark_deleted(listener: Listener) -> None:
    listener.provisioning_status = PS.PENDING_DELETE
    for policy in listener.l7policies:
        policy.provisioning_status = PS.PENDING_DELETE
        for rule in policy.rules:
            rule.provisioning_status = PS.PENDING_DELETE


def listener_stats(session: Session, caller: Caller, listener_id: str) -> dict[str, int]:
    """Counters summed over the listener's amphorae (zeros before any traffic)."""
    listener = get_listener(session, caller, listener_id)
    cols = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")
    row = session.execute(
        select(*(func.coalesce(func.sum(getattr(ListenerStatistics, c)), 0) for c in cols)).where(
            ListenerStatistics.listener_id == listener.id
        )
    ).one()
    return {c: int(v) for c, v in zip(cols, row, strict=True)}
