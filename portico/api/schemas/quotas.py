"""Quota bodies and views: Octavia's field names plus the deprecated spellings it still
returns and accepts (``load_balancer``/``health_monitor`` beside ``loadbalancer``/
``healthmonitor``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from portico.api.schemas.common import Envelope, Strict

# -1 (unlimited) .. Octavia's MAX_QUOTA; None: back to the deployment default.
Limit = Annotated[int, Field(ge=-1, le=2_000_000_000, strict=True)] | None


class QuotaUpdate(Strict):
    loadbalancer: Limit = None
    load_balancer: Limit = None
    listener: Limit = None
    pool: Limit = None
    healthmonitor: Limit = None
    health_monitor: Limit = None
    member: Limit = None
    l7policy: Limit = None
    l7rule: Limit = None


class QuotaUpdateBody(Envelope):
    quota: QuotaUpdate


def quota_view(limits: Mapping[str, Any], project_id: str | None = None) -> dict[str, Any]:
    """One quota; the deployment defaults carry no ``project_id``."""
    view: dict[str, Any] = {} if project_id is None else {"project_id": project_id}
    return view | {
        "loadbalancer": limits["load_balancer"],
        "load_balancer": limits["load_balancer"],
        "listener": limits["listener"],
        "pool": limits["pool"],
        "healthmonitor": limits["health_monitor"],
        "health_monitor": limits["health_monitor"],
        "member": limits["member"],
        "l7policy": limits["l7policy"],
        "l7rule": limits["l7rule"],
    }
