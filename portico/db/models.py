"""Typed tables of the object model (load balancers and their children, catalogue, quotas).

A load balancer carries ``generation`` (bumped by every user write to it or its children) and
``applied_generation`` (what the provider last converged); the reconciler works on the gap.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from portico.db.base import Base, StatusColumns, Timestamps
from portico.db.health_models import last_heartbeat_of

ID = String(36)


class Tag(Base):
    """One tag of any taggable object; ``resource_id`` is the object's UUID."""

    __tablename__ = "tag"
    resource_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


def _tags_relationship(owner: str) -> Any:
    return relationship(
        Tag,
        primaryjoin=f"foreign(Tag.resource_id) == {owner}.id",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by=Tag.tag,
        overlaps="tag_rows",
    )


class Tagged:
    """Mixin for taggable tables; ``tag_rows`` is declared by each table."""

    id: Mapped[str]
    tag_rows: Mapped[list[Tag]]

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]

    def set_tags(self, tags: list[str]) -> None:
        self.tag_rows = [Tag(resource_id=self.id, tag=t) for t in dict.fromkeys(tags)]


class LoadBalancer(Tagged, StatusColumns, Timestamps, Base):
    __tablename__ = "load_balancer"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    provider: Mapped[str] = mapped_column(String(64))
    flavor_id: Mapped[str | None] = mapped_column(ID, ForeignKey("flavor.id"))
    availability_zone: Mapped[str | None] = mapped_column(
        String(255), ForeignKey("availability_zone.name")
    )
    topology: Mapped[str] = mapped_column(String(32), default="SINGLE")
    vip_address: Mapped[str | None] = mapped_column(String(64))
    vip_network_id: Mapped[str | None] = mapped_column(ID)
    vip_subnet_id: Mapped[str | None] = mapped_column(ID)
    vip_port_id: Mapped[str | None] = mapped_column(ID)
    vip_qos_policy_id: Mapped[str | None] = mapped_column(ID)
    vip_vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    vip_sg_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    additional_vips: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    generation: Mapped[int] = mapped_column(BigInteger, default=1)
    applied_generation: Mapped[int] = mapped_column(BigInteger, default=0)
    # Reconciler lease: which worker converges this load balancer, until when.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The image its amphorae run, set by a migrate or a rotation (None: the controller's
    # ``amphora_image``); amphorae of another image are replaced, one of a pair at a time.
    amphora_image: Mapped[str | None] = mapped_column(String(255))

    listeners: Mapped[list[Listener]] = relationship(
        back_populates="load_balancer", cascade="all, delete-orphan", order_by="Listener.created_at"
    )
    pools: Mapped[list[Pool]] = relationship(
        back_populates="load_balancer", cascade="all, delete-orphan", order_by="Pool.created_at"
    )
    tag_rows: Mapped[list[Tag]] = _tags_relationship("LoadBalancer")


class Listener(Tagged, StatusColumns, Timestamps, Base):
    __tablename__ = "listener"
    __table_args__ = (UniqueConstraint("load_balancer_id", "protocol", "protocol_port"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    load_balancer_id: Mapped[str] = mapped_column(ID, ForeignKey("load_balancer.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    protocol: Mapped[str] = mapped_column(String(32))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(ID, ForeignKey("pool.id"), index=True)
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    sni_container_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    insert_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    timeout_client_data: Mapped[int] = mapped_column(Integer, default=50000)
    timeout_member_connect: Mapped[int] = mapped_column(Integer, default=5000)
    timeout_member_data: Mapped[int] = mapped_column(Integer, default=50000)
    timeout_tcp_inspect: Mapped[int] = mapped_column(Integer, default=0)
    client_authentication: Mapped[str] = mapped_column(String(16), default="NONE")
    client_ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    client_crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    allowed_cidrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    alpn_protocols: Mapped[list[str]] = mapped_column(JSON, default=list)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)
    # DDoS mitigation (portico extensions, domain/limits.py): per-source rates per second
    # and request sizes in bytes; None: no limit.
    connection_rate_limit: Mapped[int | None] = mapped_column(Integer)
    request_rate_limit: Mapped[int | None] = mapped_column(Integer)
    max_request_header_size: Mapped[int | None] = mapped_column(Integer)
    max_request_body_size: Mapped[int | None] = mapped_column(BigInteger)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    default_pool: Mapped[Pool | None] = relationship(foreign_keys=[default_pool_id])
    l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="listener",
        cascade="all, delete-orphan",
        order_by="L7Policy.position",
        foreign_keys="L7Policy.listener_id",
    )
    tag_rows: Mapped[list[Tag]] = _tags_relationship("Listener")


class Pool(Tagged, StatusColumns, Timestamps, Base):
    __tablename__ = "pool"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    load_balancer_id: Mapped[str] = mapped_column(ID, ForeignKey("load_balancer.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    protocol: Mapped[str] = mapped_column(String(32))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    alpn_protocols: Mapped[list[str]] = mapped_column(JSON, default=list)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="pools")
    members: Mapped[list[Member]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", order_by="Member.created_at"
    )
    health_monitor: Mapped[HealthMonitor | None] = relationship(
        back_populates="pool", cascade="all, delete-orphan"
    )
    listeners: Mapped[list[Listener]] = relationship(
        foreign_keys="Listener.default_pool_id", viewonly=True
    )
    l7policies: Mapped[list[L7Policy]] = relationship(
        foreign_keys="L7Policy.redirect_pool_id", viewonly=True
    )
    tag_rows: Mapped[list[Tag]] = _tags_relationship("Pool")


class Member(Tagged, StatusColumns, Timestamps, Base):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("pool_id", "address", "protocol_port"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    pool_id: Mapped[str] = mapped_column(ID, ForeignKey("pool.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    subnet_id: Mapped[str | None] = mapped_column(ID)
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None] = mapped_column(Integer)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")

    pool: Mapped[Pool] = relationship(back_populates="members")
    tag_rows: Mapped[list[Tag]] = _tags_relationship("Member")


class HealthMonitor(Tagged, StatusColumns, Timestamps, Base):
    __tablename__ = "health_monitor"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    pool_id: Mapped[str] = mapped_column(ID, ForeignKey("pool.id"), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(36))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    max_retries_down: Mapped[int] = mapped_column(Integer, default=3)
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(2048))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    http_version: Mapped[float | None] = mapped_column(Float)
    domain_name: Mapped[str | None] = mapped_column(String(255))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)

    pool: Mapped[Pool] = relationship(back_populates="health_monitor")
    tag_rows: Mapped[list[Tag]] = _tags_relationship("HealthMonitor")


class L7Policy(Tagged, StatusColumns, Timestamps, Base):
    __tablename__ = "l7policy"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    listener_id: Mapped[str] = mapped_column(ID, ForeignKey("listener.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(36))
    position: Mapped[int] = mapped_column(Integer)
    redirect_pool_id: Mapped[str | None] = mapped_column(ID, ForeignKey("pool.id"), index=True)
    redirect_url: Mapped[str | None] = mapped_column(String(2048))
    redirect_prefix: Mapped[str | None] = mapped_column(String(2048))
    redirect_http_code: Mapped[int | None] = mapped_column(Integer)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)

    listener: Mapped[Listener] = relationship(
        back_populates="l7policies", foreign_keys=[listener_id]
    )
    redirect_pool: Mapped[Pool | None] = relationship(foreign_keys=[redirect_pool_id])
    rules: Mapped[list[L7Rule]] = relationship(
        back_populates="l7policy", cascade="all, delete-orphan", order_by="L7Rule.created_at"
    )
    tag_rows: Mapped[list[Tag]] = _tags_relationship("L7Policy")


class L7Rule(Tagged, StatusColumns, Timestamps, Base):
    __tablename__ = "l7rule"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    l7policy_id: Mapped[str] = mapped_column(ID, ForeignKey("l7policy.id"), index=True)
    type: Mapped[str] = mapped_column(String(36))
    compare_type: Mapped[str] = mapped_column(String(36))
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)

    l7policy: Mapped[L7Policy] = relationship(back_populates="rules")
    tag_rows: Mapped[list[Tag]] = _tags_relationship("L7Rule")


class Quota(Base):
    """Per-project limits; NULL means "the configured default"; -1 means unlimited."""

    __tablename__ = "quota"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer)
    listener: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[int | None] = mapped_column(Integer)
    health_monitor: Mapped[int | None] = mapped_column(Integer)
    member: Mapped[int | None] = mapped_column(Integer)
    l7policy: Mapped[int | None] = mapped_column(Integer)
    l7rule: Mapped[int | None] = mapped_column(Integer)


class FlavorProfile(Base):
    __tablename__ = "flavor_profile"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(Text)


class Flavor(Base):
    __tablename__ = "flavor"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(ID, ForeignKey("flavor_profile.id"))


class AvailabilityZoneProfile(Base):
    __tablename__ = "availability_zone_profile"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(Text)


class AvailabilityZone(Base):
    __tablename__ = "availability_zone"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(
        ID, ForeignKey("availability_zone_profile.id")
    )


class Amphora(Timestamps, Base):
    __tablename__ = "amphora"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    load_balancer_id: Mapped[str | None] = mapped_column(ID, index=True)
    compute_id: Mapped[str | None] = mapped_column(String(255))
    compute_flavor: Mapped[str | None] = mapped_column(String(255))
    image_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(36))
    role: Mapped[str | None] = mapped_column(String(36))
    lb_network_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_ip: Mapped[str | None] = mapped_column(String(64))
    ha_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_port_id: Mapped[str | None] = mapped_column(ID)
    ha_port_id: Mapped[str | None] = mapped_column(ID)
    vrrp_interface: Mapped[str | None] = mapped_column(String(16))
    vrrp_id: Mapped[int | None] = mapped_column(Integer)
    vrrp_priority: Mapped[int | None] = mapped_column(Integer)
    cert_expiration: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    cached_zone: Mapped[str | None] = mapped_column(String(255))
    # Where and what it runs, as its compute driver and agent (``/1.0/info``) report.
    compute_driver: Mapped[str | None] = mapped_column(String(64))
    agent_endpoint: Mapped[str | None] = mapped_column(String(255))
    api_version: Mapped[str | None] = mapped_column(String(16))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    haproxy_version: Mapped[str | None] = mapped_column(String(64))
    openssl_version: Mapped[str | None] = mapped_column(String(64))
    keepalived_version: Mapped[str | None] = mapped_column(String(64))
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Legs on member subnets the compute driver plugged: subnet id -> the amphora's address.
    network_legs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # What the agent confirmed it runs.
    applied_generation: Mapped[int] = mapped_column(BigInteger, default=0)
    # Heartbeat targets an operator's ``PUT .../config`` asked to push to the agent; None
    # once pushed (the controller that converges the amphora next pushes them).
    agent_config_pending: Mapped[list[str] | None] = mapped_column(JSON)
    config_hash: Mapped[str | None] = mapped_column(String(64))
    # Its last accepted heartbeat, read from the narrow table the health service writes.
    last_heartbeat_at: Mapped[dt.datetime | None] = column_property(last_heartbeat_of(id))


class Event(Base):
    """Something the controller saw or did that operators should know: failovers, alerts."""

    __tablename__ = "event"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    amphora_id: Mapped[str | None] = mapped_column(ID, index=True)
    load_balancer_id: Mapped[str | None] = mapped_column(ID, index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    # Whether the controller has queued this event for the webhooks (an EventDelivery row per
    # webhook). Set by the delivery task, not by ``record``, which knows no settings: an event
    # recorded while no controller ran is queued by the next one.
    delivery_queued: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class EventDelivery(Base):
    """The outbox: one event to one webhook, until it is delivered or given up."""

    __tablename__ = "event_delivery"
    __table_args__ = (UniqueConstraint("event_id", "target"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    event_id: Mapped[str] = mapped_column(ID, ForeignKey("event.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(2048))
    # The event's own time, so due deliveries go out oldest first without a join.
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    # pending, delivered or failed (given up after the last attempt).
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Which delivery task is posting it, until when: the POST runs outside any transaction.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class PurgedEvents(Base):
    """How many events of each kind housekeeping purged, so counts by kind never go down
    (``portico_events_total`` adds these to the rows still kept)."""

    __tablename__ = "purged_events"
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class Certificate(Timestamps, Base):
    """TLS material loaded by an operator; listeners and pools name it by ``ref``."""

    __tablename__ = "certificate"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str | None] = mapped_column(String(255), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    # The container ref users put in listeners and pools (unique; the id also resolves).
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    certificate: Mapped[str] = mapped_column(Text)
    private_key: Mapped[str | None] = mapped_column(Text)
    intermediates: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ListenerStatistics(Base):
    """Counters per listener and amphora, kept cumulative by the health service."""

    __tablename__ = "listener_statistics"
    listener_id: Mapped[str] = mapped_column(ID, primary_key=True)
    amphora_id: Mapped[str] = mapped_column(ID, primary_key=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    # haproxy's own values in the last heartbeat: a drop means a new haproxy process, whose
    # counts are added to the totals above rather than replacing them.
    raw_bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    raw_bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    raw_total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    raw_request_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    # Sequence of the heartbeat these came from: health services that share the database
    # write only over an older one, so no heartbeat is counted twice or after a newer one.
    heartbeat_sequence: Mapped[int] = mapped_column(BigInteger, default=0)


__all__ = [
    "Amphora",
    "AvailabilityZone",
    "AvailabilityZoneProfile",
    "Base",
    "Certificate",
    "Event",
    "Flavor",
    "FlavorProfile",
    "HealthMonitor",
    "L7Policy",
    "L7Rule",
    "Listener",
    "ListenerStatistics",
    "LoadBalancer",
    "Member",
    "Pool",
    "PurgedEvents",
    "Quota",
    "Tag",
]
