"""The controller's bookkeeping of amphorae: which run a load balancer, where, and what.

Rows are written before the compute driver is called (status BOOTING) so a controller that
dies mid-boot leaves a row the next pass finds and finishes or replaces: nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from portico.db.base import utcnow
from portico.db.models import Amphora, ListenerStatistics, LoadBalancer, Member
from portico.domain.constants import AmphoraRole, AmphoraStatus
from portico.domain.network import pick_address
from portico.services.placement import Placement


@dataclass(frozen=True)
class AmphoraRecord:
    id: str
    load_balancer_id: str | None
    status: str
    role: str | None
    compute_id: str | None
    agent_endpoint: str | None
    haproxy_version: str | None
    capabilities: tuple[str, ...]
    applied_generation: int
    cert_expiration: dt.datetime | None
    image_id: str | None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    network_legs: Mapping[str, str] = field(default_factory=dict)
    # ACTIVE_STANDBY: the amphora's own address on the VIP network, the interface carrying
    # it (as the agent names it), its priority and the pair's virtual router id.
    vrrp_ip: str | None = None
    vrrp_interface: str | None = None
    vrrp_priority: int | None = None
    vrrp_id: int | None = None
    # Heartbeat targets an operator asked to push to its agent (``PUT .../config``).
    agent_config_pending: tuple[str, ...] | None = None
    api_version: str | None = None
    # Where it was booted: the compute driver's name and the compute zone (Octavia's
    # ``cached_zone``; None: the driver's default), compared with its load balancer's
    # placement to find amphorae a migrate moves (services/placement.py).
    compute_driver: str | None = None
    compute_zone: str | None = None


def _record(row: Amphora) -> AmphoraRecord:
    return AmphoraRecord(
        id=row.id,
        load_balancer_id=row.load_balancer_id,
        status=row.status,
        role=row.role,
        compute_id=row.compute_id,
        agent_endpoint=row.agent_endpoint,
        haproxy_version=row.haproxy_version,
        capabilities=tuple(row.capabilities or ()),
        applied_generation=row.applied_generation,
        cert_expiration=row.cert_expiration,
        image_id=row.image_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        network_legs=dict(row.network_legs or {}),
        vrrp_ip=row.vrrp_ip,
        vrrp_interface=row.vrrp_interface,
        vrrp_priority=row.vrrp_priority,
        vrrp_id=row.vrrp_id,
        agent_config_pending=(
            None if row.agent_config_pending is None else tuple(row.agent_config_pending)
        ),
        api_version=row.api_version,
        compute_driver=row.compute_driver,
        compute_zone=row.cached_zone,
    )


LIVE = (AmphoraStatus.BOOTING, AmphoraStatus.ALLOCATED, AmphoraStatus.READY)


def for_load_balancer(session: Session, lb_id: str) -> list[AmphoraRecord]:
    """The amphorae (not deleted) serving ``lb_id``, oldest first."""
    rows = session.scalars(
        select(Amphora)
        .where(Amphora.load_balancer_id == lb_id, Amphora.status != AmphoraStatus.DELETED)
        .order_by(Amphora.created_at, Amphora.id)
    )
    return [_record(row) for row in rows]


def spares(session: Session) -> list[AmphoraRecord]:
    """Amphorae of no load balancer (the spares pool, booting or not), oldest first."""
    rows = session.scalars(
        select(Amphora)
        .where(Amphora.load_balancer_id.is_(None), Amphora.status != AmphoraStatus.DELETED)
        .order_by(Amphora.created_at, Amphora.id)
    )
    return [_record(row) for row in rows]


def claim_spare(
    session: Session, lb_id: str, *, image: str | None, placement: Placement
) -> AmphoraRecord | None:
    """Give the oldest ready spare of ``image`` booted where ``placement`` says to
    ``lb_id``; None when the pool has none (spares boot on the default driver, no zone).

    ``SKIP LOCKED`` on PostgreSQL: two controllers claiming at once take different spares.
    """
    row = session.scalar(
        select(Amphora)
        .where(
            Amphora.load_balancer_id.is_(None),
            Amphora.status == AmphoraStatus.READY,
            Amphora.image_id.is_(None) if image is None else Amphora.image_id == image,
            Amphora.compute_driver == placement.compute_driver,
            _zone_is(placement.compute_zone),
        )
        .order_by(Amphora.created_at, Amphora.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return None
    row.load_balancer_id = lb_id
    row.status = AmphoraStatus.ALLOCATED
    row.updated_at = utcnow()
    session.flush()
    return _record(row)


def _zone_is(zone: str | None) -> ColumnElement[bool]:
    return Amphora.cached_zone.is_(None) if zone is None else Amphora.cached_zone == zone


def get(session: Session, amphora_id: str) -> AmphoraRecord | None:
    row = session.get(Amphora, amphora_id)
    return _record(row) if row is not None else None


def create(
    session: Session,
    *,
    amphora_id: str,
    lb_id: str | None,
    compute_driver: str,
    image: str | None,
    compute_zone: str | None = None,
    role: AmphoraRole = AmphoraRole.STANDALONE,
) -> None:
    now = utcnow()
    session.add(
        Amphora(
            id=amphora_id,
            load_balancer_id=lb_id,
            status=AmphoraStatus.BOOTING,
            role=role,
            compute_driver=compute_driver,
            cached_zone=compute_zone,
            image_id=image,
            capabilities=[],
            network_legs={},
            applied_generation=0,
            created_at=now,
            updated_at=now,
        )
    )


def record_boot(
    session: Session,
    amphora_id: str,
    *,
    compute_id: str,
    agent_endpoint: str,
    cert_expiration: dt.datetime,
) -> None:
    host = agent_endpoint.rsplit(":", 1)[0].strip("[]")
    _update(
        session,
        amphora_id,
        compute_id=compute_id,
        agent_endpoint=agent_endpoint,
        lb_network_ip=host,
        cert_expiration=cert_expiration,
    )


def record_info(
    session: Session,
    amphora_id: str,
    *,
    api_version: str,
    agent_version: str,
    haproxy_version: str | None,
    openssl_version: str | None,
    keepalived_version: str | None,
    capabilities: list[str],
    status: AmphoraStatus = AmphoraStatus.ALLOCATED,
) -> None:
    """The agent answered: the amphora is live (ALLOCATED, or READY for a spare)."""
    _update(
        session,
        amphora_id,
        status=status,
        api_version=api_version,
        agent_version=agent_version,
        haproxy_version=haproxy_version,
        openssl_version=openssl_version,
        keepalived_version=keepalived_version,
        capabilities=capabilities,
    )


def record_applied(session: Session, amphora_id: str, *, generation: int, config_hash: str) -> None:
    _update(session, amphora_id, applied_generation=generation, config_hash=config_hash)


def record_vrrp(
    session: Session,
    amphora_id: str,
    *,
    role: AmphoraRole,
    vrrp_ip: str,
    ha_ip: str,
    interface: str,
    priority: int,
    vrrp_id: int,
) -> None:
    """The amphora's place in its ACTIVE_STANDBY pair (shown by the amphora API, as Octavia:
    ``ha_ip`` is the VIP the pair moves)."""
    _update(
        session,
        amphora_id,
        role=role,
        vrrp_ip=vrrp_ip,
        ha_ip=ha_ip,
        vrrp_interface=interface,
        vrrp_priority=priority,
        vrrp_id=vrrp_id,
    )


def certificates_due(session: Session, *, before: dt.datetime) -> list[AmphoraRecord]:
    """Live amphorae with an agent whose certificate expires before ``before``."""
    rows = session.scalars(
        select(Amphora)
        .where(
            Amphora.status.in_(LIVE),
            Amphora.agent_endpoint.is_not(None),
            Amphora.cert_expiration < before,
        )
        .order_by(Amphora.cert_expiration, Amphora.id)
    )
    return [_record(row) for row in rows]


def record_certificate(session: Session, amphora_id: str, *, expiration: dt.datetime) -> None:
    _update(session, amphora_id, cert_expiration=expiration, cert_busy=False)


def allocate_leg(session: Session, amphora_id: str, *, subnet_id: str, cidr: str) -> str:
    """The amphora's address on a member subnet: kept if it has one, else a free one recorded.

    Free means used by no other amphora's leg, no VIP and no member on that subnet.
    """
    row = session.get(Amphora, amphora_id, with_for_update=True)
    if row is None:
        raise LookupError(amphora_id)
    legs = dict(row.network_legs or {})
    if subnet_id in legs:
        return legs[subnet_id]
    taken = {
        address
        for other in session.scalars(select(Amphora).where(Amphora.status != AmphoraStatus.DELETED))
        for leg_subnet, address in (other.network_legs or {}).items()
        if leg_subnet == subnet_id
    }
    taken.update(
        session.scalars(
            select(LoadBalancer.vip_address).where(LoadBalancer.vip_subnet_id == subnet_id)
        )
    )
    taken.update(session.scalars(select(Member.address).where(Member.subnet_id == subnet_id)))
    address = pick_address(cidr, taken=taken.__contains__, rng=random.Random())
    legs[subnet_id] = address
    _update(session, amphora_id, network_legs=legs)
    return address


def release_leg(session: Session, amphora_id: str, *, subnet_id: str) -> None:
    row = session.get(Amphora, amphora_id, with_for_update=True)
    if row is not None and subnet_id in (row.network_legs or {}):
        legs = {k: v for k, v in row.network_legs.items() if k != subnet_id}
        _update(session, amphora_id, network_legs=legs)


def mark(session: Session, amphora_id: str, status: AmphoraStatus) -> None:
    _update(session, amphora_id, status=status)
    if status == AmphoraStatus.DELETED:
        # Its counted traffic stays in the listeners' totals; its open connections are gone.
        session.execute(
            update(ListenerStatistics)
            .where(ListenerStatistics.amphora_id == amphora_id)
            .values(active_connections=0)
            .execution_options(synchronize_session=False)
        )


def _update(session: Session, amphora_id: str, **values: object) -> None:
    session.execute(
        update(Amphora)
        .where(Amphora.id == amphora_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
