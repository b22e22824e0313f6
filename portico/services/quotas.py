"""Quota enforcement: per-project limits checked under a per-project lock.

The check and the insert it guards happen in one transaction that holds the project's quota
row locked, so two API processes creating at once can never overrun a quota.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from portico.db.models import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Quota,
)
from portico.domain.errors import QuotaExceeded
from portico.settings import Settings

# Quota resource name -> (table, name in Octavia's "Quota has been met" message)
QUOTA_RESOURCES: dict[str, tuple[Any, str]] = {
    "load_balancer": (LoadBalancer, "LoadBalancer"),
    "listener": (Listener, "Listener"),
    "pool": (Pool, "Pool"),
    "health_monitor": (HealthMonitor, "HealthMonitor"),
    "member": (Member, "Member"),
    "l7policy": (L7Policy, "L7Policy"),
    "l7rule": (L7Rule, "L7Rule"),
}


def default_limit(settings: Settings, resource: str) -> int:
    value: int = getattr(settings, f"default_quota_{resource}")
    return value


def _lock_quota_row(session: Session, project_id: str) -> Quota | None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(pg_insert(Quota).values(project_id=project_id).on_conflict_do_nothing())
    # On SQLite the write transaction (BEGIN IMMEDIATE) already excludes other writers.
    return session.scalar(select(Quota).where(Quota.project_id == project_id).with_for_update())


def check_quota(
    session: Session, settings: Settings, project_id: str, resource: str, adding: int = 1
) -> None:
    """Raise ``QuotaExceeded`` (403) if ``adding`` more ``resource`` would pass the limit."""
    quota = _lock_quota_row(session, project_id)
    limit = getattr(quota, resource) if quota is not None else None
    if limit is None:
        limit = default_limit(settings, resource)
    if limit < 0:
        return
    model, label = QUOTA_RESOURCES[resource]
    in_use = session.scalar(
        select(func.count()).select_from(model).where(model.project_id == project_id)
    )
    if (in_use or 0) + adding > limit:
        raise QuotaExceeded(label)
