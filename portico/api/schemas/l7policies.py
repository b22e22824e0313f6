"""L7 policy bodies and the policy view (``rules`` as ids, or expanded in a full graph)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from portico.api.schemas.common import Envelope, Strict, Tags, Text255, Uuid, ref_list
from portico.api.schemas.l7rules import L7RuleCreate, l7rule_view
from portico.db.models import L7Policy
from portico.domain.constants import L7PolicyAction
from portico.domain.l7 import MAX_POSITION, MIN_POSITION

# Checked as a URL by the domain (Octavia's rules); the length is the column's.
Url = Annotated[str, StringConstraints(max_length=2048)]
Position = Annotated[int, Field(ge=MIN_POSITION, le=MAX_POSITION)]
RedirectCode = Literal[301, 302, 303, 307, 308]


class L7PolicyCreate(Strict):
    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: bool = True
    project_id: Text255 | None = None
    action: L7PolicyAction
    redirect_pool_id: Uuid | None = None
    redirect_url: Url | None = None
    redirect_prefix: Url | None = None
    redirect_http_code: RedirectCode | None = None
    position: Position | None = None
    listener_id: Uuid
    rules: list[L7RuleCreate] | None = None
    tags: Tags | None = None


class L7PolicyUpdate(Strict):
    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: bool | None = None
    action: L7PolicyAction | None = None
    redirect_pool_id: Uuid | None = None
    redirect_url: Url | None = None
    redirect_prefix: Url | None = None
    redirect_http_code: RedirectCode | None = None
    position: Position | None = None
    tags: Tags | None = None


class L7PolicyCreateBody(Envelope):
    l7policy: L7PolicyCreate


class L7PolicyUpdateBody(Envelope):
    l7policy: L7PolicyUpdate = Field(default_factory=L7PolicyUpdate)


def _timestamp(value: Any) -> str | None:
    return value.replace(microsecond=0).isoformat() if value is not None else None


def l7policy_view(policy: L7Policy, *, full: bool = False) -> dict[str, Any]:
    """Octavia's policy; ``full`` (full-graph create response) expands the rules."""
    rules: list[dict[str, Any]] = (
        [l7rule_view(r) for r in policy.rules] if full else ref_list([r.id for r in policy.rules])
    )
    return {
        "id": policy.id,
        "name": policy.name if policy.name is not None else "",
        "description": policy.description if policy.description is not None else "",
        "provisioning_status": policy.provisioning_status,
        "operating_status": policy.operating_status,
        "admin_state_up": policy.admin_state_up,
        "project_id": policy.project_id,
        "action": policy.action,
        "listener_id": policy.listener_id,
        "redirect_pool_id": policy.redirect_pool_id,
        "redirect_url": policy.redirect_url,
        "redirect_prefix": policy.redirect_prefix,
        "position": policy.position,
        "rules": rules,
        "created_at": _timestamp(policy.created_at),
        "updated_at": _timestamp(policy.updated_at),
        "tags": policy.tags,
        "redirect_http_code": policy.redirect_http_code,
    }
