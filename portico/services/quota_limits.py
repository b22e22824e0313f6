"""Per-project quota limits as the quota API reads and writes them.

Enforcement lives in ``services.quotas``; this module is the admin side. A stored NULL means
"the configured default" (shown as the default when one project is read, as ``null`` in the
list, like Octavia); -1 means unlimited. Octavia's API names ``loadbalancer`` and
``healthmonitor`` are accepted as well as the older ``load_balancer``/``health_monitor``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from portico.db.models import Quota
from portico.domain.errors import InvalidInput, NotFound
from portico.domain.policy import Access, Caller, require
from portico.services.listing import ListQuery, Page, apply_filters, run_listing
from portico.services.quotas import QUOTA_RESOURCES, default_limit
from portico.settings import Settings

FIELDS: tuple[str, ...] = tuple(QUOTA_RESOURCES)
# Octavia's current API names -> the column (which carries the older, deprecated name).
ALIASES = {"loadbalancer": "load_balancer", "healthmonitor": "health_monitor"}
COLUMNS = {name: name for name in (*FIELDS, "project_id")} | ALIASES
MIN_QUOTA = -1
MAX_QUOTA = 2_000_000_000
MAX_PROJECT_ID = 255  # the column's width; PostgreSQL refuses longer values on insert

Limits = dict[str, int | None]


def defaults(settings: Settings) -> Limits:
    return {name: default_limit(settings, name) for name in FIELDS}


def effective(settings: Settings, quota: Quota | None) -> Limits:
    """The limits in force: stored values, the configured default where NULL."""
    stored = stored_limits(quota)
    return {
        name: default_limit(settings, name) if value is None else value
        for name, value in stored.items()
    }


def stored_limits(quota: Quota | None) -> Limits:
    return {name: getattr(quota, name) if quota is not None else None for name in FIELDS}


def normalize(changes: Mapping[str, Any]) -> Limits:
    """Column name -> value; the current API name wins over the deprecated one if both come."""
    out: Limits = {name: changes[name] for name in FIELDS if name in changes}
    for alias, column in ALIASES.items():
        if alias in changes:
            out[column] = changes[alias]
    return out


def list_quotas(session: Session, caller: Caller, query: ListQuery, settings: Settings) -> Page:
    """Every stored quota for global readers; otherwise the caller's own (or 403)."""
    filters = dict(query.filters)
    project = filters.pop("project_id", None)
    if not caller.reads_quotas_globally:
        project = project or caller.project_id
        require(caller, Access.READ_QUOTA, project)
    stmt = select(Quota)
    if project is not None:
        stmt = stmt.where(Quota.project_id == project)
    narrowed = ListQuery(filters=filters)
    stmt = apply_filters(stmt, Quota, narrowed, filterable=COLUMNS)
    return run_listing(
        session,
        stmt,
        Quota,
        query,
        sortable=COLUMNS,
        max_limit=settings.pagination_max_limit,
        marker_key="project_id",
    )


def get_quota(session: Session, caller: Caller, settings: Settings, project_id: str) -> Limits:
    require(caller, Access.READ_QUOTA, project_id)
    return effective(settings, session.get(Quota, project_id))


def default_quota(caller: Caller, settings: Settings, project_id: str) -> Limits:
    require(caller, Access.READ_QUOTA, project_id)
    return defaults(settings)


def update_quota(
    session: Session,
    caller: Caller,
    settings: Settings,
    project_id: str,
    changes: Mapping[str, Any],
) -> Limits:
    """Set the given limits (``None``: back to the default); others keep their value."""
    require(caller, Access.WRITE_QUOTA, project_id)
    if len(project_id) > MAX_PROJECT_ID:
        raise InvalidInput(f"Invalid project_id: longer than {MAX_PROJECT_ID} characters.")
    if session.get_bind().dialect.name == "postgresql":
        # Two first PUTs for a project must not both INSERT; SQLite's BEGIN IMMEDIATE already
        # serializes writers.
        session.execute(pg_insert(Quota).values(project_id=project_id).on_conflict_do_nothing())
    quota = session.scalar(select(Quota).where(Quota.project_id == project_id).with_for_update())
    if quota is None:
        quota = Quota(project_id=project_id)
        session.add(quota)
    for name, value in normalize(changes).items():
        setattr(quota, name, value)
    session.flush()
    return effective(settings, quota)


def reset_quota(session: Session, caller: Caller, project_id: str) -> None:
    """Back to the configured defaults; 404 if the project never had a quota row."""
    require(caller, Access.WRITE_QUOTA, project_id)
    quota = session.scalar(select(Quota).where(Quota.project_id == project_id).with_for_update())
    if quota is None:
        raise NotFound("Quotas", project_id)
    for name in FIELDS:
        setattr(quota, name, None)
    session.flush()
