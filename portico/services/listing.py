"""Octavia's list semantics on any table: equality filters, tags, sorting, keyset pagination.

The API layer parses the query string into a ``ListQuery``; ``run_listing`` applies it to a
SELECT already scoped to what the caller may see.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, exists, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from portico.db.models import Tag
from portico.domain.errors import InvalidInput

DEFAULT_SORT_KEYS = ("created_at", "id")

# Columns every project-owned object (load balancer and its children) filters and sorts on.
OWNED_COLUMNS = (
    "id",
    "admin_state_up",
    "project_id",
    "provisioning_status",
    "operating_status",
    "created_at",
    "updated_at",
)


def owned_columns(*names: str, **renamed: str) -> dict[str, str]:
    """API name -> column for a project-owned table: the common columns, ``names``, the
    ``renamed`` ones (API name=column), and Octavia's ``tenant_id`` alias of ``project_id``."""
    return {n: n for n in (*OWNED_COLUMNS, *names)} | {"tenant_id": "project_id"} | renamed


@dataclass(frozen=True)
class ListQuery:
    """A parsed list request."""

    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False
    sort: tuple[tuple[str, str], ...] = ()
    filters: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    not_tags_any: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    rows: Sequence[Any]
    has_next: bool
    has_previous: bool
    limit: int


def _column(model: Any, name: str, columns: Mapping[str, str]) -> InstrumentedAttribute[Any]:
    attr = columns.get(name, name)
    col = getattr(model, attr, None)
    if not isinstance(col, InstrumentedAttribute) or not hasattr(col, "type"):
        raise InvalidInput(f"Invalid sort key or filter: {name}")
    return col


def _coerce(col: InstrumentedAttribute[Any], value: str) -> Any:
    """Turn a query-string value into the column's type; unparsable means "matches nothing"."""
    python_type = col.type.python_type
    if python_type is bool:
        lowered = value.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise InvalidInput(f"Invalid boolean value for filter {col.key}: {value}")
    if python_type is int:
        try:
            number = int(value)
        except ValueError as exc:
            raise InvalidInput(f"Invalid integer value for filter {col.key}: {value}") from exc
        # Past 64 bits both drivers fail (OverflowError, NumericValueOutOfRange): refuse.
        if not -(2**63) <= number < 2**63:
            raise InvalidInput(f"Invalid integer value for filter {col.key}: {value}")
        return number
    if python_type is float:
        try:
            return float(value)
        except ValueError as exc:
            raise InvalidInput(f"Invalid number value for filter {col.key}: {value}") from exc
    if python_type is dt.datetime:
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInput(f"Invalid date value for filter {col.key}: {value}") from exc
    return value


def _tag_clause(model: Any, query: ListQuery) -> list[ColumnElement[bool]]:
    def has(tag_values: Sequence[str]) -> ColumnElement[bool]:
        return exists().where(Tag.resource_id == model.id, Tag.tag.in_(tag_values))

    clauses: list[ColumnElement[bool]] = []
    for tag in query.tags:
        clauses.append(has([tag]))
    if query.tags_any:
        clauses.append(has(query.tags_any))
    if query.not_tags:
        clauses.append(~and_(*(has([t]) for t in query.not_tags)))
    if query.not_tags_any:
        clauses.append(~has(query.not_tags_any))
    return clauses


def apply_filters(
    stmt: Select[Any],
    model: Any,
    query: ListQuery,
    *,
    filterable: Mapping[str, str],
) -> Select[Any]:
    """Equality filters on the allowed fields (API name -> column name) and tag filters."""
    for name, value in query.filters.items():
        if name not in filterable:
            # Octavia's InvalidFilterArgument, word for word (it names no argument).
            raise InvalidInput("One or more arguments are either duplicate or invalid")
        col = _column(model, name, filterable)
        stmt = stmt.where(col == _coerce(col, value))
    clauses = _tag_clause(model, query) if hasattr(model, "tag_rows") else []
    if clauses:
        stmt = stmt.where(and_(*clauses))
    return stmt


def run_listing(
    session: Session,
    stmt: Select[Any],
    model: Any,
    query: ListQuery,
    *,
    sortable: Mapping[str, str],
    max_limit: int,
    marker_key: str = "id",
    as_rows: bool = False,
) -> Page:
    """Sort, page and run ``stmt``; returns one page and whether neighbours exist.

    ``marker_key`` is the unique column markers name (``id``; ``name`` or ``project_id`` for
    the few tables keyed otherwise); it is always the last sort key, so order is total.
    ``as_rows``: ``stmt`` selects columns, and the page holds its rows rather than objects.
    """
    keys = list(query.sort)
    defaults = (DEFAULT_SORT_KEYS[0], marker_key)
    for default in defaults:
        if default not in (k for k, _ in keys) and hasattr(model, default):
            keys.append((default, "asc"))
    cols = [(_column(model, k, sortable), d) for k, d in keys]
    for key, _ in keys:
        if key not in sortable and key not in defaults:
            raise InvalidInput(f"Invalid sort key: {key}")

    if query.marker is not None:
        stmt = stmt.where(_after_marker(session, model, cols, query, marker_key))

    reverse = query.page_reverse
    order = []
    for col, direction in cols:
        ascending = (direction == "asc") != reverse
        # NULL is the smallest value on every backend (SQLite and PostgreSQL disagree).
        order.append(col.asc().nulls_first() if ascending else col.desc().nulls_last())
    stmt = stmt.order_by(*order)
    limit = max_limit if query.limit is None else min(query.limit, max_limit)
    if as_rows:
        rows: list[Any] = list(session.execute(stmt.limit(limit)).all())
    else:
        rows = list(session.scalars(stmt.limit(limit)).unique())
    # As Octavia: a full page links onward even when nothing follows it.
    full = len(rows) == limit
    if reverse:
        rows.reverse()
        return Page(rows=rows, has_next=query.marker is not None, has_previous=full, limit=limit)
    return Page(rows=rows, has_next=full, has_previous=query.marker is not None, limit=limit)


def _after_marker(
    session: Session,
    model: Any,
    cols: list[tuple[InstrumentedAttribute[Any], str]],
    query: ListQuery,
    marker_key: str,
) -> ColumnElement[bool]:
    """Rows strictly after (or before, when reversed) the marker in the sort order."""
    if marker_key == "id":
        try:
            uuid.UUID(str(query.marker))
        except ValueError as exc:
            raise InvalidInput(f"Invalid marker: {query.marker}") from exc
    marker_col = getattr(model, marker_key)
    marker_row = session.scalar(select(model).where(marker_col == query.marker))
    if marker_row is None:
        raise InvalidInput(f"Invalid marker: {query.marker}")
    criteria = []
    for i, (col, direction) in enumerate(cols):
        parts: list[ColumnElement[bool]] = []
        for prev_col, _ in cols[:i]:
            prev_value = getattr(marker_row, prev_col.key)
            parts.append(prev_col.is_(None) if prev_value is None else prev_col == prev_value)
        value = getattr(marker_row, col.key)
        forward = (direction == "asc") != query.page_reverse
        if value is None:
            parts.append(col.is_not(None) if forward else false())
        else:
            parts.append(col > value if forward else or_(col < value, col.is_(None)))
        criteria.append(and_(*parts))
    return or_(*criteria)
