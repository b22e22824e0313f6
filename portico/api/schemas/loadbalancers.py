"""Load balancer bodies and the view Octavia returns for one."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from portico.api.schemas.common import (
    Envelope,
    IpAddress,
    Strict,
    Tags,
    Text255,
    Uuid,
    ref_list,
)
from portico.api.schemas.common import (
    timestamp as timestamp,  # re-exported: other schemas import it from here
)
from portico.api.schemas.graph import GraphListener, GraphPool
from portico.db.models import LoadBalancer
from portico.services.loadbalancer_listing import LoadBalancerSummary


class AdditionalVip(Strict):
    subnet_id: Uuid
    ip_address: IpAddress | None = None


class LoadBalancerCreate(Strict):
    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: bool = True
    project_id: Text255 | None = None
    tenant_id: Text255 | None = None
    provider: Text255 | None = None
    flavor_id: Uuid | None = None
    availability_zone: Text255 | None = None
    vip_address: IpAddress | None = None
    vip_network_id: Uuid | None = None
    vip_subnet_id: Uuid | None = None
    vip_port_id: Uuid | None = None
    vip_qos_policy_id: Uuid | None = None
    vip_sg_ids: list[Uuid] | None = None
    additional_vips: list[AdditionalVip] | None = None
    tags: Tags | None = None
    listeners: list[GraphListener] | None = None
    pools: list[GraphPool] | None = None


class LoadBalancerUpdate(Strict):
    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: bool | None = None
    vip_qos_policy_id: Uuid | None = None
    vip_sg_ids: list[Uuid] | None = None
    tags: Tags | None = None


class LoadBalancerCreateBody(Envelope):
    loadbalancer: LoadBalancerCreate


class LoadBalancerUpdateBody(Envelope):
    loadbalancer: LoadBalancerUpdate = Field(default_factory=LoadBalancerUpdate)


def loadbalancer_view(lb: LoadBalancer) -> dict[str, Any]:
    return loadbalancer_fields(
        lb,
        listener_ids=[li.id for li in lb.listeners],
        pool_ids=[p.id for p in lb.pools],
        tags=lb.tags,
    )


def loadbalancer_summary_view(summary: LoadBalancerSummary) -> dict[str, Any]:
    """The same view from a listing's columns (no ORM object behind it)."""
    return loadbalancer_fields(
        summary.row,
        listener_ids=summary.listener_ids,
        pool_ids=summary.pool_ids,
        tags=summary.tags,
    )


def loadbalancer_fields(
    lb: Any, *, listener_ids: list[str], pool_ids: list[str], tags: list[str]
) -> dict[str, Any]:
    """Octavia's load balancer body from anything with the table's columns as attributes."""
    return {
        "id": lb.id,
        "name": lb.name or "",
        "description": lb.description or "",
        "admin_state_up": lb.admin_state_up,
        "project_id": lb.project_id,
        "tenant_id": lb.project_id,
        "provisioning_status": lb.provisioning_status,
        "operating_status": lb.operating_status,
        "provider": lb.provider,
        "flavor_id": lb.flavor_id,
        "availability_zone": lb.availability_zone,
        "vip_address": lb.vip_address,
        "vip_network_id": lb.vip_network_id,
        "vip_subnet_id": lb.vip_subnet_id,
        "vip_port_id": lb.vip_port_id,
        "vip_qos_policy_id": lb.vip_qos_policy_id,
        "vip_vnic_type": lb.vip_vnic_type,
        "vip_sg_ids": list(lb.vip_sg_ids or []),
        "additional_vips": list(lb.additional_vips or []),
        "listeners": ref_list(listener_ids),
        "pools": ref_list(pool_ids),
        "tags": tags,
        "created_at": timestamp(lb.created_at),
        "updated_at": timestamp(lb.updated_at),
    }
