"""Pool bodies (create, update, session persistence) and the views Octavia returns for one."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from portico.api.schemas.common import (
    ContainerRef,
    Envelope,
    IpAddress,
    Strict,
    Tags,
    Text255,
    Uuid,
    ref_list,
    timestamp,
)
from portico.api.schemas.listeners import Alpn, Ciphers, TlsVersion
from portico.db.models import Pool
from portico.domain.constants import LbAlgorithm, PoolProtocol, SessionPersistenceType
from portico.domain.persistence import stored

# Octavia's type-level pattern: no whitespace, comma, semicolon or backslash.
CookieName = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\s,;\\]+$")]


class SessionPersistenceCreate(Strict):
    type: SessionPersistenceType
    cookie_name: CookieName | None = None
    persistence_timeout: int | None = None
    persistence_granularity: IpAddress | None = None


class SessionPersistenceUpdate(Strict):
    type: SessionPersistenceType | None = None
    cookie_name: CookieName | None = None
    persistence_timeout: int | None = None
    persistence_granularity: IpAddress | None = None


class PoolFields(Strict):
    """What a pool body may say, alone or inside a full-graph create."""

    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: bool | None = True
    protocol: PoolProtocol
    lb_algorithm: LbAlgorithm
    session_persistence: SessionPersistenceCreate | None = None
    tags: Tags | None = None
    tls_container_ref: ContainerRef | None = None
    ca_tls_container_ref: ContainerRef | None = None
    crl_container_ref: ContainerRef | None = None
    tls_enabled: bool | None = False
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None


class PoolCreate(PoolFields):
    listener_id: Uuid | None = None
    loadbalancer_id: Uuid | None = None
    project_id: Annotated[str, StringConstraints(max_length=36)] | None = None
    tenant_id: Annotated[str, StringConstraints(max_length=36)] | None = None


class PoolUpdate(Strict):
    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: bool | None = None
    lb_algorithm: LbAlgorithm | None = None
    session_persistence: SessionPersistenceUpdate | None = None
    tags: Tags | None = None
    tls_container_ref: ContainerRef | None = None
    ca_tls_container_ref: ContainerRef | None = None
    crl_container_ref: ContainerRef | None = None
    tls_enabled: bool | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None


class PoolCreateBody(Envelope):
    pool: PoolCreate


class PoolUpdateBody(Envelope):
    pool: PoolUpdate = Field(default_factory=PoolUpdate)


def pool_listener_ids(pool: Pool) -> list[str]:
    """Listeners using the pool: by default, or through an enabled L7 policy with rules."""
    ids = [li.id for li in pool.listeners]
    for policy in pool.l7policies:
        if policy.admin_state_up and policy.rules and policy.listener_id not in ids:
            ids.append(policy.listener_id)
    return ids


def _base_view(pool: Pool) -> dict[str, Any]:
    return {
        "id": pool.id,
        "name": pool.name or "",
        "description": pool.description or "",
        "provisioning_status": pool.provisioning_status,
        "operating_status": pool.operating_status,
        "admin_state_up": pool.admin_state_up,
        "protocol": pool.protocol,
        "lb_algorithm": pool.lb_algorithm,
        "session_persistence": stored(pool.session_persistence),
        "project_id": pool.project_id,
        "tenant_id": pool.project_id,
        "listeners": ref_list(pool_listener_ids(pool)),
        "created_at": timestamp(pool.created_at),
        "updated_at": timestamp(pool.updated_at),
        "tags": pool.tags,
        "tls_container_ref": pool.tls_container_ref,
        "ca_tls_container_ref": pool.ca_tls_container_ref,
        "crl_container_ref": pool.crl_container_ref,
        "tls_enabled": pool.tls_enabled,
        "tls_ciphers": pool.tls_ciphers,
        "tls_versions": list(pool.tls_versions) if pool.tls_versions else None,
        "alpn_protocols": list(pool.alpn_protocols) if pool.alpn_protocols else None,
    }


def pool_view(pool: Pool) -> dict[str, Any]:
    view = _base_view(pool)
    view["loadbalancers"] = ref_list([pool.load_balancer_id])
    view["healthmonitor_id"] = pool.health_monitor.id if pool.health_monitor else None
    view["members"] = ref_list([m.id for m in pool.members])
    return view


def pool_full_view(
    pool: Pool, *, members: list[dict[str, Any]], healthmonitor: dict[str, Any] | None
) -> dict[str, Any]:
    """Inside a full-graph create response: members and monitor expanded."""
    view = _base_view(pool)
    view["members"] = members
    if healthmonitor is not None:
        view["healthmonitor"] = healthmonitor
    return view
