"""Listener bodies (create, update) and the views Octavia returns for one."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from portico.api.schemas.common import (
    Cidr,
    ContainerRef,
    Envelope,
    Strict,
    Tags,
    Text255,
    Uuid,
    no_control_chars,
    ref_list,
    timestamp,
)
from portico.db.models import Listener
from portico.domain import limits
from portico.domain.constants import ClientAuthentication, ListenerProtocol
from portico.domain.tls import ALPN_PROTOCOLS, MAX_TIMEOUT

Timeout = Annotated[int, Field(ge=0, le=MAX_TIMEOUT)]
ConnectionLimit = Annotated[int, Field(ge=-1)]
Ciphers = Annotated[str, StringConstraints(max_length=2048), AfterValidator(no_control_chars)]
TlsVersion = Annotated[str, StringConstraints(max_length=32), AfterValidator(no_control_chars)]
HeaderValue = Annotated[str, StringConstraints(max_length=255), AfterValidator(no_control_chars)]
HeaderName = Annotated[str, StringConstraints(max_length=255), AfterValidator(no_control_chars)]


def _alpn(value: str) -> str:
    if value not in ALPN_PROTOCOLS:
        raise ValueError("Value should be a valid ALPN protocol ID")
    return value


Alpn = Annotated[str, AfterValidator(_alpn)]
# DDoS mitigation (portico extensions): JSON integers only, no numeric strings or booleans.
RateLimit = Annotated[int, Field(strict=True, ge=1, le=limits.MAX_RATE)]
HeaderSize = Annotated[
    int, Field(strict=True, ge=limits.MIN_HEADER_SIZE, le=limits.MAX_HEADER_SIZE)
]
BodySize = Annotated[int, Field(strict=True, ge=0, le=limits.MAX_BODY_SIZE)]


class LimitFields(Strict):
    """The per-listener DDoS limits (``domain/limits.py``); null: no limit."""

    connection_rate_limit: RateLimit | None = None
    request_rate_limit: RateLimit | None = None
    max_request_header_size: HeaderSize | None = None
    max_request_body_size: BodySize | None = None


class ListenerFields(LimitFields):
    """What a listener body may say, whether alone or inside a full-graph create."""

    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: bool | None = True
    protocol: ListenerProtocol
    protocol_port: Annotated[int, Field(ge=1, le=65535)]
    connection_limit: ConnectionLimit | None = None
    default_tls_container_ref: ContainerRef | None = None
    sni_container_refs: list[ContainerRef] | None = None
    default_pool_id: Uuid | None = None
    insert_headers: dict[HeaderName, HeaderValue] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    tags: Tags | None = None
    client_ca_tls_container_ref: ContainerRef | None = None
    client_authentication: ClientAuthentication | None = ClientAuthentication.NONE
    client_crl_container_ref: ContainerRef | None = None
    allowed_cidrs: list[Cidr] | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None
    hsts_max_age: Annotated[int, Field(ge=0)] | None = None
    hsts_include_subdomains: bool | None = False
    hsts_preload: bool | None = False


class ListenerCreate(ListenerFields):
    loadbalancer_id: Uuid
    project_id: Annotated[str, StringConstraints(max_length=36)] | None = None
    tenant_id: Annotated[str, StringConstraints(max_length=36)] | None = None


class ListenerUpdate(LimitFields):
    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: bool | None = None
    connection_limit: ConnectionLimit | None = None
    default_tls_container_ref: ContainerRef | None = None
    sni_container_refs: list[ContainerRef] | None = None
    default_pool_id: Uuid | None = None
    insert_headers: dict[HeaderName, HeaderValue] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    tags: Tags | None = None
    client_ca_tls_container_ref: ContainerRef | None = None
    client_authentication: ClientAuthentication | None = None
    client_crl_container_ref: ContainerRef | None = None
    allowed_cidrs: list[Cidr] | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None
    hsts_max_age: Annotated[int, Field(ge=0)] | None = None
    hsts_include_subdomains: bool | None = None
    hsts_preload: bool | None = None


class ListenerCreateBody(Envelope):
    listener: ListenerCreate


class ListenerUpdateBody(Envelope):
    listener: ListenerUpdate = Field(default_factory=ListenerUpdate)


def _base_view(li: Listener) -> dict[str, Any]:
    return {
        "id": li.id,
        "name": li.name or "",
        "description": li.description or "",
        "provisioning_status": li.provisioning_status,
        "operating_status": li.operating_status,
        "admin_state_up": li.admin_state_up,
        "protocol": li.protocol,
        "protocol_port": li.protocol_port,
        "connection_limit": li.connection_limit,
        "default_tls_container_ref": li.default_tls_container_ref,
        "sni_container_refs": list(li.sni_container_refs or []),
        "project_id": li.project_id,
        "tenant_id": li.project_id,
        "default_pool_id": li.default_pool_id,
        "insert_headers": dict(li.insert_headers or {}),
        "created_at": timestamp(li.created_at),
        "updated_at": timestamp(li.updated_at),
        "timeout_client_data": li.timeout_client_data,
        "timeout_member_connect": li.timeout_member_connect,
        "timeout_member_data": li.timeout_member_data,
        "timeout_tcp_inspect": li.timeout_tcp_inspect,
        "tags": li.tags,
        "client_ca_tls_container_ref": li.client_ca_tls_container_ref,
        "client_authentication": li.client_authentication,
        "client_crl_container_ref": li.client_crl_container_ref,
        "allowed_cidrs": list(li.allowed_cidrs) if li.allowed_cidrs else None,
        "tls_ciphers": li.tls_ciphers,
        "tls_versions": list(li.tls_versions) if li.tls_versions else None,
        "alpn_protocols": list(li.alpn_protocols) if li.alpn_protocols else None,
        "hsts_max_age": li.hsts_max_age,
        "hsts_include_subdomains": li.hsts_include_subdomains,
        "hsts_preload": li.hsts_preload,
        **{name: getattr(li, name) for name in limits.FIELDS},
    }


def listener_view(li: Listener) -> dict[str, Any]:
    view = _base_view(li)
    view["l7policies"] = ref_list([p.id for p in li.l7policies])
    view["loadbalancers"] = ref_list([li.load_balancer_id])
    return view


def listener_full_view(li: Listener, l7policies: list[dict[str, Any]]) -> dict[str, Any]:
    """Inside a full-graph create response: L7 policies expanded, no ``loadbalancers``."""
    view = _base_view(li)
    view["l7policies"] = l7policies
    return view
