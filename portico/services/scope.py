"""Tenancy: which rows a caller may see, and fetching one object with Octavia's answers.

Listing is scoped in SQL (a non-admin sees their own project only); fetching one object of
another project answers 403 as Octavia does, a missing one 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portico.domain.errors import NotAuthorized, NotFound
from portico.domain.policy import Access, Caller, may, require
from portico.services.listing import ListQuery, Page, apply_filters, run_listing

T = TypeVar("T")


def scoped_select(model: Any, caller: Caller, project_filter: str | None) -> Select[Any]:
    """SELECT of ``model`` limited to what ``caller`` may list."""
    stmt = select(model)
    if caller.reads_globally:
        if project_filter is not None:
            stmt = stmt.where(model.project_id == project_filter)
        return stmt
    if not may(caller, Access.READ, caller.project_id):
        raise NotAuthorized()
    if project_filter is not None and project_filter != caller.project_id:
        # As Octavia: naming another project in the filter is refused, not silently ignored.
        raise NotAuthorized()
    return stmt.where(model.project_id == caller.project_id)


def get_visible(
    session: Session,
    model: type[T],
    object_id: str,
    caller: Caller,
    *,
    label: str,
    access: Access = Access.READ,
    lock: bool = False,
) -> T:
    """Fetch one object the caller may ``access``: 404 if absent, 403 if not theirs."""
    stmt = select(model).where(model.id == object_id)  # type: ignore[attr-defined]
    if lock:
        stmt = stmt.with_for_update()
    obj = session.scalar(stmt)
    if obj is None:
        raise NotFound(label, object_id)
    require(caller, access, obj.project_id)  # type: ignore[attr-defined]
    return obj


def list_owned(
    session: Session,
    caller: Caller,
    model: Any,
    query: ListQuery,
    *,
    columns: Mapping[str, str],
    max_limit: int,
) -> Page:
    """One page of a project-owned table: ``project_id``/``tenant_id`` pick the project
    (refused for another project unless the caller reads globally), the rest filter."""
    filters = dict(query.filters)
    project = filters.pop("project_id", None) or filters.pop("tenant_id", None)
    stmt = scoped_select(model, caller, project)
    stmt = apply_filters(stmt, model, replace(query, filters=filters), filterable=columns)
    return run_listing(session, stmt, model, query, sortable=columns, max_limit=max_limit)
