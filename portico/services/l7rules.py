"""L7 rule use cases under ``/l7policies/{id}/rules``, and the builder shared with the
full-graph create.

A rule is validated as a whole (type, compare type, key and value together), so an update
is checked on the rule as it would be after the change, as Octavia does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portico.db.models import L7Policy, L7Rule
from portico.domain import l7
from portico.domain.constants import OperatingStatus as OS
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import ImmutableObject, NotFound
from portico.domain.policy import Access, Caller, require
from portico.domain.status import object_accepts_change, status_after_update
from portico.services.changes import begin_change, lock_load_balancer
from portico.services.listing import ListQuery, Page, apply_filters, run_listing
from portico.services.quotas import check_quota
from portico.services.scope import get_visible
from portico.settings import Settings

LABEL = "L7Rule"
POLICY_LABEL = "L7Policy"

COLUMNS: dict[str, str] = {
    name: name
    for name in (
        "id",
        "type",
        "l7policy_id",
        "compare_type",
        "key",
        "value",
        "invert",
        "admin_state_up",
        "project_id",
        "provisioning_status",
        "operating_status",
        "created_at",
        "updated_at",
    )
}

UPDATABLE = ("type", "compare_type", "key", "value", "invert", "admin_state_up")


def get_policy(session: Session, caller: Caller, policy_id: str, access: Access) -> L7Policy:
    return get_visible(session, L7Policy, policy_id, caller, label=POLICY_LABEL, access=access)


def list_l7rules(
    session: Session, caller: Caller, policy_id: str, query: ListQuery, settings: Settings
) -> Page:
    policy = get_policy(session, caller, policy_id, Access.READ)
    filters = dict(query.filters)
    filters.pop("project_id", None)  # the policy already fixes the project
    narrowed = ListQuery(
        filters=filters,
        tags=query.tags,
        tags_any=query.tags_any,
        not_tags=query.not_tags,
        not_tags_any=query.not_tags_any,
    )
    stmt = select_rules(policy.id)
    stmt = apply_filters(stmt, L7Rule, narrowed, filterable=COLUMNS)
    return run_listing(
        session, stmt, L7Rule, query, sortable=COLUMNS, max_limit=settings.pagination_max_limit
    )


def select_rules(policy_id: str) -> Select[Any]:
    return select(L7Rule).where(L7Rule.l7policy_id == policy_id)


def get_l7rule(
    session: Session, caller: Caller, policy_id: str, rule_id: str, *, access: Access = Access.READ
) -> L7Rule:
    """The rule, which must belong to the policy named in the path (404 otherwise)."""
    policy = get_policy(session, caller, policy_id, access)
    rule = session.get(L7Rule, rule_id)
    if rule is None or rule.l7policy_id != policy.id:
        raise NotFound(LABEL, rule_id)
    require(caller, access, rule.project_id)
    return rule


def _spec(fields: Mapping[str, Any]) -> l7.RuleSpec:
    return l7.RuleSpec(
        type=fields.get("type"),
        compare_type=fields.get("compare_type"),
        value=fields.get("value"),
        key=fields.get("key"),
    )


def _live_rules(policy: L7Policy) -> list[L7Rule]:
    return [r for r in policy.rules if r.provisioning_status != PS.PENDING_DELETE]


def _pending(session: Session, project_id: str) -> int:
    return sum(1 for o in session.new if isinstance(o, L7Rule) and o.project_id == project_id)


def new_l7rule(
    session: Session, caller: Caller, settings: Settings, policy: L7Policy, data: Mapping[str, Any]
) -> L7Rule:
    """Validate and build a PENDING_CREATE rule on ``policy``; no locking, no generation."""
    l7.validate_rule(_spec(data))
    for tag in data.get("tags") or []:
        l7.check_text(tag, "tags")
    if len(_live_rules(policy)) >= l7.MAX_RULES_PER_POLICY:
        raise l7.TooManyRules(policy.id)
    project = policy.project_id
    with session.no_autoflush:
        check_quota(session, settings, project, "l7rule", adding=1 + _pending(session, project))
    rule = L7Rule(
        id=str(uuid.uuid4()),
        project_id=project,
        type=data["type"],
        compare_type=data["compare_type"],
        key=data.get("key"),
        value=data["value"],
        invert=bool(data.get("invert") or False),
        admin_state_up=data.get("admin_state_up", True) is not False,
        provisioning_status=PS.PENDING_CREATE,
        operating_status=OS.OFFLINE,
    )
    rule.set_tags(list(data.get("tags") or []))
    rule.l7policy = policy
    session.add(rule)
    return rule


def _begin(
    session: Session, settings: Settings, policy: L7Policy, rule: L7Rule | None, *, deleting: bool
) -> str:
    """Lock the load balancer; mark it, the listener and the policy as changing."""
    listener = policy.listener
    lb = lock_load_balancer(session, listener.load_balancer_id)
    session.refresh(policy)
    session.refresh(listener)
    strict = settings.strict_pending_lock
    begin_change(session, lb, strict=strict)
    for name, obj in (("Listener", listener), (POLICY_LABEL, policy)):
        if not object_accepts_change(obj.provisioning_status, strict=strict):
            raise ImmutableObject(name, obj.id)
    if rule is not None and not object_accepts_change(
        rule.provisioning_status, strict=strict, deleting=deleting
    ):
        raise ImmutableObject(LABEL, rule.id)
    listener.provisioning_status = status_after_update(listener.provisioning_status)
    policy.provisioning_status = status_after_update(policy.provisioning_status)
    return lb.id


def create_l7rule(
    session: Session, caller: Caller, settings: Settings, policy_id: str, data: Mapping[str, Any]
) -> L7Rule:
    policy = get_policy(session, caller, policy_id, Access.WRITE)
    l7.validate_rule(_spec(data))
    _begin(session, settings, policy, None, deleting=False)
    return new_l7rule(session, caller, settings, policy, data)


def update_l7rule(
    session: Session,
    caller: Caller,
    settings: Settings,
    ids: tuple[str, str],
    data: Mapping[str, Any],
) -> L7Rule:
    policy_id, rule_id = ids
    rule = get_l7rule(session, caller, policy_id, rule_id, access=Access.WRITE)
    changes = {k: v for k, v in data.items() if k in UPDATABLE}
    if "invert" in changes and changes["invert"] is None:
        changes["invert"] = False
    merged = {name: getattr(rule, name) for name in UPDATABLE} | changes
    l7.validate_rule(_spec(merged))
    for tag in data.get("tags") or []:
        l7.check_text(tag, "tags")
    _begin(session, settings, rule.l7policy, rule, deleting=False)
    for name, value in changes.items():
        setattr(rule, name, value is not False if name == "admin_state_up" else value)
    if "tags" in data:
        rule.set_tags(list(data["tags"] or []))
    rule.provisioning_status = status_after_update(rule.provisioning_status)
    return rule


def delete_l7rule(
    session: Session, caller: Caller, settings: Settings, ids: tuple[str, str]
) -> str:
    """Mark the rule PENDING_DELETE; returns the load balancer's id."""
    policy_id, rule_id = ids
    rule = get_l7rule(session, caller, policy_id, rule_id, access=Access.WRITE)
    lb_id = _begin(session, settings, rule.l7policy, rule, deleting=True)
    rule.provisioning_status = PS.PENDING_DELETE
    return lb_id
