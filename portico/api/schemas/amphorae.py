"""The amphora view of Octavia's admin API, plus portico's extensions.

Octavia's fields come first, exactly as Octavia names them (``loadbalancer_id``). The
extensions (documented in docs/admin-api.md): what the amphora's agent reported it runs
(``/1.0/info``), and its last accepted heartbeat with its age at the time of the answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from portico.api.schemas.loadbalancers import timestamp
from portico.db.models import Amphora

EXTENSION_FIELDS = (
    "api_version",
    "agent_version",
    "haproxy_version",
    "openssl_version",
    "keepalived_version",
    "compute_driver",
    "last_heartbeat_at",
    "heartbeat_age_seconds",
)


def amphora_view(amp: Amphora, *, now: dt.datetime) -> dict[str, Any]:
    """Every Octavia field, then the extensions; ``now`` (UTC, naive) dates the heartbeat."""
    return {
        "id": amp.id,
        "loadbalancer_id": amp.load_balancer_id,
        "compute_id": amp.compute_id,
        "lb_network_ip": amp.lb_network_ip,
        "vrrp_ip": amp.vrrp_ip,
        "ha_ip": amp.ha_ip,
        "vrrp_port_id": amp.vrrp_port_id,
        "ha_port_id": amp.ha_port_id,
        "cert_expiration": timestamp(amp.cert_expiration),
        "cert_busy": bool(amp.cert_busy),
        "role": amp.role,
        "status": amp.status,
        "vrrp_interface": amp.vrrp_interface,
        "vrrp_id": amp.vrrp_id,
        "vrrp_priority": amp.vrrp_priority,
        "cached_zone": amp.cached_zone,
        "created_at": timestamp(amp.created_at),
        "updated_at": timestamp(amp.updated_at),
        "image_id": amp.image_id,
        "compute_flavor": amp.compute_flavor,
        # portico extensions
        "api_version": amp.api_version,
        "agent_version": amp.agent_version,
        "haproxy_version": amp.haproxy_version,
        "openssl_version": amp.openssl_version,
        "keepalived_version": amp.keepalived_version,
        # the compute driver that booted it (one per availability zone profile)
        "compute_driver": amp.compute_driver,
        "last_heartbeat_at": timestamp(amp.last_heartbeat_at),
        "heartbeat_age_seconds": _age(amp.last_heartbeat_at, now),
    }


def _age(then: dt.datetime | None, now: dt.datetime) -> float | None:
    if then is None:
        return None
    return round(max((now - then).total_seconds(), 0.0), 3)
