"""Health monitor use cases: list, show, create, update, delete, and the full-graph builder.

A pool has at most one monitor. ``new_healthmonitor`` validates and constructs it under a pool
the caller already holds (load balancer locked; the caller bumps the generation once).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.models import HealthMonitor, Pool
from portico.domain import healthmonitors as rules
from portico.domain.constants import OperatingStatus as OS
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import DuplicateEntry, NotFound
from portico.domain.policy import Access, Caller, require
from portico.domain.status import status_after_update
from portico.drivers.providers.base import Provider
from portico.services import provider_checks
from portico.services.listing import ListQuery, Page, owned_columns
from portico.services.pool_children import begin_pool_change, check_pool_change, lock_pool
from portico.services.quotas import check_quota
from portico.services.scope import get_visible, list_owned
from portico.settings import Settings

LABEL = "Health Monitor"

COLUMNS = owned_columns(
    "name",
    "type",
    "delay",
    "timeout",
    "max_retries",
    "max_retries_down",
    "http_method",
    "url_path",
    "expected_codes",
    "http_version",
    "domain_name",
    "pool_id",
)

FIELDS = (
    "name",
    "delay",
    "timeout",
    "max_retries",
    "max_retries_down",
    "http_method",
    "url_path",
    "expected_codes",
    "http_version",
    "domain_name",
    "admin_state_up",
)


def list_healthmonitors(
    session: Session, caller: Caller, query: ListQuery, settings: Settings
) -> Page:
    return list_owned(
        session,
        caller,
        HealthMonitor,
        query,
        columns=COLUMNS,
        max_limit=settings.pagination_max_limit,
    )


def get_healthmonitor(session: Session, caller: Caller, hm_id: str) -> HealthMonitor:
    return get_visible(session, HealthMonitor, hm_id, caller, label=LABEL)


def _plain(value: Any) -> Any:
    """Enum members (from request models) stored as their plain values."""
    return str(value) if isinstance(value, str) else value


def new_healthmonitor(
    session: Session, caller: Caller, settings: Settings, pool: Pool, data: Mapping[str, Any]
) -> HealthMonitor:
    """Validate and attach a monitor to ``pool`` (PENDING_CREATE); the caller holds the lock."""
    lb = pool.load_balancer
    require(caller, Access.WRITE, lb.project_id)
    state = rules.resolve_create({k: _plain(v) for k, v in data.items()})
    rules.check_type_for_pool(state["type"], pool.protocol, delay=state["delay"])
    if pool.health_monitor is not None:
        raise DuplicateEntry("This pool already has a health monitor")
    check_quota(session, settings, lb.project_id, "health_monitor")
    hm = HealthMonitor(
        id=str(uuid.uuid4()),
        project_id=lb.project_id,
        type=state["type"],
        provisioning_status=PS.PENDING_CREATE,
        operating_status=OS.OFFLINE,
    )
    for name in FIELDS:
        setattr(hm, name, state.get(name))
    if hm.admin_state_up is None:
        hm.admin_state_up = True
    hm.set_tags(list(data.get("tags") or []))
    hm.pool = pool
    session.add(hm)
    return hm


def create_healthmonitor(
    session: Session,
    caller: Caller,
    settings: Settings,
    data: Mapping[str, Any],
    *,
    providers: Mapping[str, Provider],
) -> HealthMonitor:
    pool = lock_pool(session, caller, str(data["pool_id"]))
    provider_checks.refuse_unsupported(
        providers, pool.load_balancer.provider, provider_checks.healthmonitor_features(data)
    )
    # As Octavia: a pending pool or load balancer answers 409 before a duplicate does.
    check_pool_change(pool, strict=settings.strict_pending_lock)
    hm = new_healthmonitor(session, caller, settings, pool, data)
    begin_pool_change(session, pool, strict=settings.strict_pending_lock)
    session.flush()
    return hm


def _locked_hm(session: Session, caller: Caller, hm_id: str) -> tuple[Pool, HealthMonitor]:
    pool_id = session.scalar(select(HealthMonitor.pool_id).where(HealthMonitor.id == hm_id))
    if pool_id is None:
        raise NotFound(LABEL, hm_id)
    pool = lock_pool(session, caller, pool_id)
    hm = session.scalar(
        select(HealthMonitor)
        .where(HealthMonitor.id == hm_id)
        .execution_options(populate_existing=True)
    )
    if hm is None:
        raise NotFound(LABEL, hm_id)
    return pool, hm


def _current(hm: HealthMonitor) -> dict[str, Any]:
    return {"type": hm.type, **{name: getattr(hm, name) for name in FIELDS}}


def update_healthmonitor(
    session: Session, caller: Caller, settings: Settings, hm_id: str, changes: Mapping[str, Any]
) -> HealthMonitor:
    pool, hm = _locked_hm(session, caller, hm_id)
    values = rules.resolve_update(_current(hm), {k: _plain(v) for k, v in changes.items()})
    rules.check_type_for_pool(hm.type, pool.protocol, delay=values.get("delay"))
    begin_pool_change(
        session,
        pool,
        strict=settings.strict_pending_lock,
        target_status=hm.provisioning_status,
        target_name=LABEL,
        target_id=hm.id,
    )
    for name in FIELDS:
        if name in values:
            setattr(hm, name, values[name])
    if hm.admin_state_up is None:
        hm.admin_state_up = True
    if "tags" in values:
        hm.set_tags(list(values["tags"] or []))
    hm.provisioning_status = status_after_update(hm.provisioning_status)
    session.flush()
    return hm


def delete_healthmonitor(session: Session, caller: Caller, settings: Settings, hm_id: str) -> str:
    """Mark the monitor PENDING_DELETE; returns its load balancer's id."""
    pool, hm = _locked_hm(session, caller, hm_id)
    begin_pool_change(
        session,
        pool,
        strict=settings.strict_pending_lock,
        target_status=hm.provisioning_status,
        target_name=LABEL,
        target_id=hm.id,
        deleting=True,
    )
    hm.provisioning_status = PS.PENDING_DELETE
    return pool.load_balancer_id
