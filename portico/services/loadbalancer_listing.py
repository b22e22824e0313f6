"""Listing load balancers from columns, not ORM objects.

A page holds up to ``pagination_max_limit`` (1,000) load balancers. Building each as an ORM
object, with its listeners, pools and tags loaded through relationships, cost about two thirds
of a page's time (identity map, collection set-up, per-object events). The view needs only the
load balancer's own columns, the ids of its listeners and pools, and its tags: one SELECT of
the columns, then one query each for listener ids, pool ids and tags of the whole page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from portico.db.models import Listener, LoadBalancer, Pool, Tag
from portico.domain.policy import Caller
from portico.services.listing import ListQuery, Page, apply_filters, run_listing
from portico.services.scope import scoped_select
from portico.settings import Settings

# Bounded IN lists (SQLite caps bound parameters per statement).
_CHUNK = 500


@dataclass(frozen=True)
class LoadBalancerSummary:
    """One listed load balancer: its columns (``row``), its children's ids and its tags."""

    row: Row[Any]
    listener_ids: list[str]
    pool_ids: list[str]
    tags: list[str]

    @property
    def id(self) -> str:
        return str(self.row.id)


def list_loadbalancer_summaries(
    session: Session,
    caller: Caller,
    query: ListQuery,
    settings: Settings,
    *,
    columns: dict[str, str],
) -> Page:
    """One page of ``LoadBalancerSummary``; same filters, order and paging as any listing."""
    filters = dict(query.filters)
    project = filters.pop("project_id", None) or filters.pop("tenant_id", None)
    stmt = scoped_select(LoadBalancer, caller, project).with_only_columns(
        *LoadBalancer.__table__.columns
    )
    stmt = apply_filters(
        stmt,
        LoadBalancer,
        ListQuery(
            filters=filters,
            tags=query.tags,
            tags_any=query.tags_any,
            not_tags=query.not_tags,
            not_tags_any=query.not_tags_any,
        ),
        filterable=columns,
    )
    page = run_listing(
        session,
        stmt,
        LoadBalancer,
        query,
        sortable=columns,
        max_limit=settings.pagination_max_limit,
        as_rows=True,
    )
    ids = [row.id for row in page.rows]
    listeners = _grouped(session, Listener.load_balancer_id, Listener.id, Listener.created_at, ids)
    pools = _grouped(session, Pool.load_balancer_id, Pool.id, Pool.created_at, ids)
    tags = _grouped(session, Tag.resource_id, Tag.tag, Tag.tag, ids)
    summaries = [
        LoadBalancerSummary(
            row=row,
            listener_ids=listeners.get(row.id, []),
            pool_ids=pools.get(row.id, []),
            tags=tags.get(row.id, []),
        )
        for row in page.rows
    ]
    return replace(page, rows=summaries)


def _grouped(
    session: Session, key: Any, value: Any, order: Any, ids: Sequence[str]
) -> dict[str, list[str]]:
    """``value`` of the rows whose ``key`` is in ``ids``, grouped by key, in ``order``."""
    found: dict[str, list[str]] = {}
    for start in range(0, len(ids), _CHUNK):
        stmt = select(key, value).where(key.in_(ids[start : start + _CHUNK])).order_by(order)
        for owner, item in session.execute(stmt):
            found.setdefault(owner, []).append(item)
    return found
