"""Pool use cases: list, show, create (alone, as a listener's default, or in a graph), update,
delete.

``new_pool`` is the one place a pool row is born; callers own locking and the generation bump.
Deleting a pool that is a listener's default pool is allowed, as in Octavia: once the delete
is applied the listener's ``default_pool_id`` is cleared. A pool an L7 policy redirects to
cannot be deleted (409) until the policy lets go of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from portico.db.models import Listener, LoadBalancer, Pool
from portico.domain import persistence, protocols, tls
from portico.domain.constants import OperatingStatus as OS
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import (
    Conflict,
    ImmutableObject,
    InvalidInput,
    NotFound,
    ValidationException,
)
from portico.domain.policy import Access, Caller, require
from portico.domain.status import object_accepts_change, status_after_update
from portico.drivers.providers.base import Provider
from portico.services import provider_checks
from portico.services.certificates import check_container_refs
from portico.services.changes import begin_change, lock_load_balancer
from portico.services.listing import ListQuery, Page, owned_columns
from portico.services.quotas import check_quota
from portico.services.scope import get_visible, list_owned
from portico.settings import Settings

LABEL = "Pool"

COLUMNS = owned_columns(
    "name",
    "description",
    "protocol",
    "lb_algorithm",
    "tls_enabled",
    "tls_container_ref",
    "ca_tls_container_ref",
    "crl_container_ref",
    "tls_ciphers",
    loadbalancer_id="load_balancer_id",
)

STORED = (
    "name",
    "description",
    "admin_state_up",
    "lb_algorithm",
    "tls_enabled",
    "tls_container_ref",
    "ca_tls_container_ref",
    "crl_container_ref",
    "tls_ciphers",
)
LIST_FIELDS = ("tls_versions", "alpn_protocols")


def list_pools(session: Session, caller: Caller, query: ListQuery, settings: Settings) -> Page:
    return list_owned(
        session, caller, Pool, query, columns=COLUMNS, max_limit=settings.pagination_max_limit
    )


def get_pool(session: Session, caller: Caller, pool_id: str) -> Pool:
    return get_visible(session, Pool, pool_id, caller, label=LABEL)


def _check_tls(data: Mapping[str, Any]) -> None:
    if data.get("crl_container_ref") and not data.get("ca_tls_container_ref"):
        raise ValidationException(
            "A CA certificate reference is required to specify a revocation list."
        )
    tls.check_tls_options(data)


def new_pool(
    session: Session,
    caller: Caller,
    settings: Settings,
    lb: LoadBalancer,
    data: Mapping[str, Any],
    *,
    listener: Listener | None = None,
) -> Pool:
    """Validate ``data`` and add a PENDING_CREATE pool to ``lb``; with ``listener``, the pool
    becomes its default pool (409 if it already has one)."""
    protocol = str(data["protocol"])
    if listener is not None:
        protocols.check_no_children(listener.protocol)
        protocols.check_pool_protocol(listener.protocol, protocol)
    sp = data.get("session_persistence")
    persistence.check_session_persistence(protocol, sp)
    check_quota(session, settings, lb.project_id, "pool")
    if listener is not None and listener.default_pool_id is not None:
        raise Conflict("This listener already has a default pool")
    _check_tls(data)
    check_container_refs(session, lb, data)
    full = dict(data)
    if full.get("admin_state_up") is None:
        full["admin_state_up"] = True
    full["tls_enabled"] = bool(full.get("tls_enabled"))
    if full["tls_enabled"]:
        full.update(tls.tls_defaults(full))
    pool = Pool(
        id=str(uuid.uuid4()),
        project_id=lb.project_id,
        load_balancer_id=lb.id,
        protocol=protocol,
        session_persistence=persistence.stored(sp),
        provisioning_status=PS.PENDING_CREATE,
        operating_status=OS.OFFLINE,
    )
    for name in STORED:
        if full.get(name) is not None:
            setattr(pool, name, full[name])
    for name in LIST_FIELDS:
        setattr(pool, name, list(full.get(name) or []))
    pool.set_tags(list(full.get("tags") or []))
    pool.load_balancer = lb
    session.add(pool)
    session.flush()
    if listener is not None:
        listener.default_pool_id = pool.id
        listener.provisioning_status = status_after_update(listener.provisioning_status)
        session.flush()
    return pool


def create_pool(
    session: Session,
    caller: Caller,
    settings: Settings,
    data: Mapping[str, Any],
    *,
    providers: Mapping[str, Provider],
) -> Pool:
    listener = None
    if data.get("loadbalancer_id"):
        lb = lock_load_balancer(session, data["loadbalancer_id"])
    elif data.get("listener_id"):
        listener = get_visible(session, Listener, data["listener_id"], caller, label="Listener")
        lb = lock_load_balancer(session, listener.load_balancer_id)
        session.refresh(listener)
    else:
        raise ValidationException("Must provide at least one of: loadbalancer_id, listener_id")
    require(caller, Access.WRITE, lb.project_id)
    provider_checks.refuse_unsupported(providers, lb.provider, provider_checks.pool_features(data))
    if data.get("listener_id") and listener is None:
        listener = session.get(Listener, data["listener_id"])
        if listener is None or listener.load_balancer_id != lb.id:
            raise NotFound("Listener", data["listener_id"])
    strict = settings.strict_pending_lock
    if listener is not None and not object_accepts_change(
        listener.provisioning_status, strict=strict
    ):
        raise_immutable(lb)
    begin_change(session, lb, strict=strict)
    return new_pool(session, caller, settings, lb, data, listener=listener)


def raise_immutable(lb: LoadBalancer) -> None:
    raise ImmutableObject("Load Balancer", lb.id)


def _locked(session: Session, caller: Caller, pool_id: str) -> tuple[LoadBalancer, Pool]:
    pool = get_visible(session, Pool, pool_id, caller, label=LABEL)
    lb = lock_load_balancer(session, pool.load_balancer_id)
    session.refresh(pool)
    require(caller, Access.WRITE, lb.project_id)
    return lb, pool


def _begin(
    session: Session, settings: Settings, lb: LoadBalancer, pool: Pool, *, deleting: bool
) -> None:
    """Accept the change (pool and the listeners using it must allow it), then record it."""
    strict = settings.strict_pending_lock
    for listener in pool.listeners:
        if listener.provisioning_status != PS.PENDING_DELETE and not object_accepts_change(
            listener.provisioning_status, strict=strict
        ):
            raise_immutable(lb)
    begin_change(
        session,
        lb,
        strict=strict,
        target_status=pool.provisioning_status,
        target_name=LABEL,
        target_id=pool.id,
        deleting=deleting,
    )
    for listener in pool.listeners:
        if listener.provisioning_status != PS.PENDING_DELETE:
            listener.provisioning_status = status_after_update(listener.provisioning_status)


def update_pool(
    session: Session, caller: Caller, settings: Settings, pool_id: str, changes: Mapping[str, Any]
) -> Pool:
    lb, pool = _locked(session, caller, pool_id)
    _begin(session, settings, lb, pool, deleting=False)
    changes = dict(changes)
    if "lb_algorithm" in changes and changes["lb_algorithm"] is None:
        # The column is NOT NULL: null would reach the database and answer 500.
        raise InvalidInput("Invalid input for field/attribute lb_algorithm. Value: 'None'.")
    for name in ("tls_versions", "tls_ciphers"):
        if name in changes and changes[name] is None:
            changes[name] = tls.tls_defaults({})[name]
    sp_change = changes.get("session_persistence")
    if sp_change is not None:
        changes["session_persistence"] = persistence.merged(pool.session_persistence, sp_change)
        persistence.check_session_persistence(pool.protocol, changes["session_persistence"])
    _check_tls_update(pool, changes)
    check_container_refs(session, lb, changes)
    for name, value in changes.items():
        if name == "tags":
            pool.set_tags(list(value or []))
        elif name == "session_persistence":
            pool.session_persistence = persistence.stored(value)
        elif name in LIST_FIELDS:
            setattr(pool, name, list(value or []))
        elif name == "admin_state_up":
            pool.admin_state_up = True if value is None else bool(value)
        elif name == "tls_enabled":
            pool.tls_enabled = bool(value)
        elif name in STORED:
            setattr(pool, name, value)
    pool.provisioning_status = status_after_update(pool.provisioning_status)
    session.flush()
    return pool


def _check_tls_update(pool: Pool, changes: Mapping[str, Any]) -> None:
    ca_changed = "ca_tls_container_ref" in changes
    ca = changes.get("ca_tls_container_ref", pool.ca_tls_container_ref)
    crl = changes.get("crl_container_ref", pool.crl_container_ref)
    if crl and not ca:
        if ca_changed and pool.ca_tls_container_ref:
            raise ValidationException(
                "A CA reference cannot be removed when a certificate revocation list is present."
            )
        raise ValidationException(
            "A CA reference is required to specify a certificate revocation list."
        )
    tls.check_tls_options(changes)


def delete_pool(session: Session, caller: Caller, settings: Settings, pool_id: str) -> str:
    """Mark the pool, its members and monitor for deletion; returns the load balancer id."""
    lb, pool = _locked(session, caller, pool_id)
    for policy in pool.l7policies:
        if policy.provisioning_status != PS.PENDING_DELETE:
            raise Conflict(f"Pool {pool.id} is in use by L7 policy {policy.id}")
    _begin(session, settings, lb, pool, deleting=True)
    mark_deleted(pool)
    session.flush()
    return lb.id


def mark_deleted(pool: Pool) -> None:
    pool.provisioning_status = PS.PENDING_DELETE
    for member in pool.members:
        member.provisioning_status = PS.PENDING_DELETE
    if pool.health_monitor is not None:
        pool.health_monitor.provisioning_status = PS.PENDING_DELETE
