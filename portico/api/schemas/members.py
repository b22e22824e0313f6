"""Member bodies (create, update, batch) and the view Octavia returns for one member."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from portico.api.schemas.common import (
    Envelope,
    IpAddress,
    Port,
    Strict,
    Tags,
    Text255,
    Uuid,
    timestamp,
)
from portico.db.models import Member
from portico.domain.members import DEFAULT_WEIGHT, MAX_WEIGHT, MIN_WEIGHT

Weight = Annotated[int, Field(ge=MIN_WEIGHT, le=MAX_WEIGHT)]


class MemberGraphCreate(Strict):
    """A member inside a full-graph load balancer create (Octavia's MemberSingleCreate)."""

    name: Text255 | None = None
    admin_state_up: bool = True
    address: IpAddress
    protocol_port: Port
    weight: Weight = DEFAULT_WEIGHT
    backup: bool = False
    subnet_id: Uuid | None = None
    monitor_address: IpAddress | None = None
    monitor_port: Port | None = None
    tags: Tags | None = None
    request_sriov: bool = False


class MemberCreate(MemberGraphCreate):
    # Deprecated in Octavia and ignored: a member belongs to its load balancer's project.
    project_id: Text255 | None = None
    tenant_id: Text255 | None = None


class MemberUpdate(Strict):
    name: Text255 | None = None
    admin_state_up: bool | None = None
    weight: Weight | None = None
    backup: bool | None = None
    monitor_address: IpAddress | None = None
    monitor_port: Port | None = None
    tags: Tags | None = None


class MemberCreateBody(Envelope):
    member: MemberCreate


class MemberUpdateBody(Envelope):
    member: MemberUpdate = Field(default_factory=MemberUpdate)


class MembersBatchBody(Envelope):
    members: Annotated[list[MemberCreate], Field(max_length=10000)]


def member_view(m: Member) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name or "",
        "operating_status": m.operating_status,
        "provisioning_status": m.provisioning_status,
        "admin_state_up": m.admin_state_up,
        "address": m.address,
        "protocol_port": m.protocol_port,
        "weight": m.weight,
        "backup": m.backup,
        "subnet_id": m.subnet_id,
        "project_id": m.project_id,
        "tenant_id": m.project_id,
        "created_at": timestamp(m.created_at),
        "updated_at": timestamp(m.updated_at),
        "monitor_address": m.monitor_address,
        "monitor_port": m.monitor_port,
        "tags": m.tags,
        "vnic_type": m.vnic_type,
    }
