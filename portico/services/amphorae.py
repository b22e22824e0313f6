"""The operator's view of amphorae: list, show, per-listener statistics, failover, delete.

Admin only, as in Octavia. Deleted amphorae are hidden (their rows stay until housekeeping
purges them). Amphorae carry no project; ``project_id`` filters through the load balancer.
Failover and delete only mark the amphora and ask for its load balancer's reconcile (see
``portico.services.failover``); the controller replaces it, then removes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portico.db.models import Amphora, ListenerStatistics, LoadBalancer
from portico.domain.constants import AmphoraStatus
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import ImmutableObject, NotFound
from portico.domain.policy import Access, Caller, require
from portico.domain.status import MUTABLE_STRICT
from portico.services import failover
from portico.services.changes import bump_generation, lock_load_balancer
from portico.services.listing import ListQuery, Page, apply_filters, run_listing
from portico.settings import Settings

LABEL = "Amphora"

COLUMNS: dict[str, str] = {
    name: name
    for name in (
        "id",
        "compute_id",
        "lb_network_ip",
        "vrrp_ip",
        "ha_ip",
        "vrrp_port_id",
        "ha_port_id",
        "cert_expiration",
        "cert_busy",
        "role",
        "status",
        "vrrp_interface",
        "vrrp_id",
        "vrrp_priority",
        "cached_zone",
        "created_at",
        "updated_at",
        "image_id",
        "compute_flavor",
        # portico extensions: what the agent reported it runs, and the last heartbeat
        "api_version",
        "agent_version",
        "haproxy_version",
        "openssl_version",
        "keepalived_version",
        "compute_driver",
        "last_heartbeat_at",
    )
} | {"loadbalancer_id": "load_balancer_id", "load_balancer_id": "load_balancer_id"}

STAT_COLUMNS = (
    "active_connections",
    "bytes_in",
    "bytes_out",
    "request_errors",
    "total_connections",
)


def list_amphorae(session: Session, caller: Caller, query: ListQuery, settings: Settings) -> Page:
    require(caller, Access.ADMIN, None)
    filters = dict(query.filters)
    project = filters.pop("project_id", None)
    stmt = select(Amphora).where(Amphora.status != AmphoraStatus.DELETED)
    if project is not None:
        stmt = stmt.join(LoadBalancer, LoadBalancer.id == Amphora.load_balancer_id).where(
            LoadBalancer.project_id == project
        )
    stmt = apply_filters(stmt, Amphora, ListQuery(filters=filters), filterable=COLUMNS)
    return run_listing(
        session, stmt, Amphora, query, sortable=COLUMNS, max_limit=settings.pagination_max_limit
    )


def get_amphora(session: Session, caller: Caller, amphora_id: str) -> Amphora:
    require(caller, Access.ADMIN, None)
    amphora = session.get(Amphora, amphora_id)
    if amphora is None or amphora.status == AmphoraStatus.DELETED:
        raise NotFound(LABEL, amphora_id)
    return amphora


def amphora_stats(session: Session, caller: Caller, amphora_id: str) -> list[dict[str, Any]]:
    """One entry per listener the amphora reported on; 404 when it reported nothing yet."""
    require(caller, Access.ADMIN, None)
    rows = session.execute(
        select(ListenerStatistics, Amphora.load_balancer_id)
        .join(Amphora, Amphora.id == ListenerStatistics.amphora_id)
        .where(ListenerStatistics.amphora_id == amphora_id)
        .order_by(ListenerStatistics.listener_id)
    ).all()
    if not rows:
        raise NotFound("Amphora stats for", amphora_id)
    return [
        {
            "id": stat.amphora_id,
            "listener_id": stat.listener_id,
            "loadbalancer_id": lb_id,
            **{name: int(getattr(stat, name) or 0) for name in STAT_COLUMNS},
        }
        for stat, lb_id in rows
    ]


def failover_amphora(session: Session, caller: Caller, amphora_id: str) -> str | None:
    """Replace one amphora; returns its load balancer's id (None for a spare).

    As in Octavia the load balancer must be ACTIVE (409 otherwise). A working amphora keeps
    serving until its replacement does; one in ERROR is replaced and stopped at once. This
    also overrides the circuit breaker for a FAILOVER_STOPPED amphora.
    """
    amphora = get_amphora(session, caller, amphora_id)
    lb_id = amphora.load_balancer_id
    if lb_id is not None:
        lb = lock_load_balancer(session, lb_id)
        if lb.provisioning_status not in MUTABLE_STRICT:
            raise ImmutableObject("Load Balancer", lb_id)
        bump_generation(session, lb)
        # Under the load balancer's lock the health service cannot change it: read it again.
        session.refresh(amphora)
    if amphora.status != AmphoraStatus.ERROR:
        failover.retire(session, [amphora], "failover requested by an operator")
    return lb_id


def delete_amphora(session: Session, caller: Caller, amphora_id: str) -> str | None:
    """Remove an amphora in ERROR (409 otherwise, as Octavia); returns its load balancer."""
    amphora = get_amphora(session, caller, amphora_id)
    lb_id = amphora.load_balancer_id
    # The load balancer's row lock before the amphora's row is read again and written (the
    # health service takes them in that order too).
    lb = lock_load_balancer(session, lb_id) if lb_id is not None else None
    session.refresh(amphora)
    if amphora.status != AmphoraStatus.ERROR:
        raise ImmutableObject(LABEL, amphora_id)
    if lb is not None and lb.provisioning_status != PS.PENDING_DELETE:
        bump_generation(session, lb)
    amphora.status = AmphoraStatus.PENDING_DELETE
    return lb_id


def load_balancer_state(session: Session, lb_id: str | None) -> dict[str, Any] | None:
    """Where the amphora's load balancer stands: statuses, and generation against applied
    (a difference means a change is waiting for the reconciler)."""
    if lb_id is None:
        return None
    row = session.execute(
        select(
            LoadBalancer.id,
            LoadBalancer.provisioning_status,
            LoadBalancer.operating_status,
            LoadBalancer.topology,
            LoadBalancer.generation,
            LoadBalancer.applied_generation,
        ).where(LoadBalancer.id == lb_id)
    ).first()
    return None if row is None else dict(row._mapping)
