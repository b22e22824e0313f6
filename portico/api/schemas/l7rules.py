"""L7 rule bodies (create, update, nested in a policy or a full graph) and the rule view.

Types and enums are checked here; whether a rule makes sense as a whole (compare type for
the rule type, key and value character sets, regexes) is ``portico.domain.l7``'s job.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from portico.api.schemas.common import Envelope, Strict, Tags, Text255, no_control_chars
from portico.db.models import L7Rule
from portico.domain.constants import L7RuleCompareType, L7RuleType

RuleText = Annotated[str, StringConstraints(max_length=255), AfterValidator(no_control_chars)]


class L7RuleCreate(Strict):
    """A rule in ``POST .../rules``, in a policy's ``rules`` and in a full-graph create."""

    type: L7RuleType
    compare_type: L7RuleCompareType
    key: RuleText | None = None
    value: RuleText
    invert: bool = False
    admin_state_up: bool = True
    project_id: Text255 | None = None
    tags: Tags | None = None


class L7RuleUpdate(Strict):
    type: L7RuleType | None = None
    compare_type: L7RuleCompareType | None = None
    key: RuleText | None = None
    value: RuleText | None = None
    invert: bool | None = None
    admin_state_up: bool | None = None
    tags: Tags | None = None


class L7RuleCreateBody(Envelope):
    rule: L7RuleCreate


class L7RuleUpdateBody(Envelope):
    rule: L7RuleUpdate = Field(default_factory=L7RuleUpdate)


def _timestamp(value: Any) -> str | None:
    return value.replace(microsecond=0).isoformat() if value is not None else None


def l7rule_view(rule: L7Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "type": rule.type,
        "compare_type": rule.compare_type,
        "key": rule.key,
        "value": rule.value,
        "invert": rule.invert,
        "provisioning_status": rule.provisioning_status,
        "operating_status": rule.operating_status,
        "created_at": _timestamp(rule.created_at),
        "updated_at": _timestamp(rule.updated_at),
        "project_id": rule.project_id,
        "admin_state_up": rule.admin_state_up,
        "tags": rule.tags,
    }
