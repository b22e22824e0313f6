"""L7 policy use cases: list, show, create, update, delete, and the builder the full-graph
create shares with the single create.

Positions are 1-based and contiguous among a listener's live policies (those not on their
way out): inserting or moving one shifts the others, as Octavia's ordering list does.
A policy being deleted leaves the numbering at once rather than when it is purged.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from portico.db.models import L7Policy, Listener, LoadBalancer, Pool
from portico.domain import l7
from portico.domain.constants import L7PolicyAction as Action
from portico.domain.constants import OperatingStatus as OS
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import ImmutableObject, NotFound
from portico.domain.policy import Access, Caller, require
from portico.domain.protocols import check_pool_protocol
from portico.domain.status import status_after_update
from portico.services.changes import begin_change, lock_load_balancer
from portico.services.l7rules import new_l7rule
from portico.services.listing import ListQuery, Page, owned_columns
from portico.services.quotas import check_quota
from portico.services.scope import get_visible, list_owned
from portico.settings import Settings

LABEL = "L7Policy"

COLUMNS = owned_columns(
    "name",
    "description",
    "action",
    "listener_id",
    "redirect_pool_id",
    "redirect_url",
    "redirect_prefix",
    "redirect_http_code",
    "position",
)

UPDATABLE = (
    "name",
    "description",
    "admin_state_up",
    "action",
    "redirect_pool_id",
    "redirect_url",
    "redirect_prefix",
    "redirect_http_code",
)


def list_l7policies(session: Session, caller: Caller, query: ListQuery, settings: Settings) -> Page:
    return list_owned(
        session, caller, L7Policy, query, columns=COLUMNS, max_limit=settings.pagination_max_limit
    )


def get_l7policy(
    session: Session, caller: Caller, policy_id: str, *, access: Access = Access.READ
) -> L7Policy:
    return get_visible(session, L7Policy, policy_id, caller, label=LABEL, access=access)


def live_policies(listener: Listener) -> list[L7Policy]:
    """The listener's policies in evaluation order, leaving out those being deleted."""
    live = [p for p in listener.l7policies if p.provisioning_status != PS.PENDING_DELETE]
    return sorted(live, key=lambda p: p.position or 0)


def _renumber(order: list[L7Policy]) -> None:
    for index, policy in enumerate(order, start=1):
        if policy.position != index:
            policy.position = index


def _check_text_fields(data: Mapping[str, Any]) -> None:
    for field in ("name", "description"):
        l7.check_text(data.get(field), field)
    for tag in data.get("tags") or []:
        l7.check_text(tag, "tags")


def _pending(session: Session, model: Any, project_id: str) -> int:
    """Rows of ``model`` added to this unit of work but not yet flushed (full-graph create)."""
    return sum(1 for o in session.new if isinstance(o, model) and o.project_id == project_id)


def _redirect_pool(session: Session, listener: Listener, pool_id: str) -> Pool:
    """The pool a policy may redirect to: same load balancer and project, compatible protocol."""
    pool = session.get(Pool, pool_id)
    if (
        pool is None
        or pool.provisioning_status == PS.PENDING_DELETE
        or pool.load_balancer_id != listener.load_balancer_id
        or pool.project_id != listener.project_id
    ):
        raise NotFound("Pool", pool_id)
    check_pool_protocol(listener.protocol, pool.protocol)
    return pool


def _provider(listener: Listener) -> str:
    lb = listener.load_balancer
    return lb.provider if lb is not None else "noop"


def new_l7policy(
    session: Session,
    caller: Caller,
    settings: Settings,
    listener: Listener,
    data: Mapping[str, Any],
    *,
    redirect_pool: Pool | None = None,
) -> L7Policy:
    """Validate and build a PENDING_CREATE policy (and its ``rules``) on ``listener``.

    No locking and no generation bump: the caller does both once for the whole change.
    """
    _check_text_fields(data)
    l7.check_listener_protocol(listener.protocol, _provider(listener))
    args = {k: v for k, v in data.items() if k in (*UPDATABLE, "position")}
    args = l7.sanitize_policy(args, create=True, has_redirect_pool=redirect_pool is not None)
    if redirect_pool is not None:
        check_pool_protocol(listener.protocol, redirect_pool.protocol)
    elif args.get("redirect_pool_id"):
        redirect_pool = _redirect_pool(session, listener, args["redirect_pool_id"])
    project = listener.project_id
    with session.no_autoflush:
        check_quota(
            session, settings, project, "l7policy", adding=1 + _pending(session, L7Policy, project)
        )
    policy = L7Policy(
        id=str(uuid.uuid4()),
        project_id=project,
        name=data.get("name"),
        description=data.get("description"),
        admin_state_up=data.get("admin_state_up", True) is not False,
        action=args["action"],
        redirect_url=args.get("redirect_url"),
        redirect_prefix=args.get("redirect_prefix"),
        redirect_http_code=args.get("redirect_http_code"),
        provisioning_status=PS.PENDING_CREATE,
        operating_status=OS.OFFLINE,
    )
    policy.redirect_pool = redirect_pool
    policy.set_tags(list(data.get("tags") or []))
    order = l7.place(live_policies(listener), policy, data.get("position"))
    policy.listener = listener
    _renumber(order)
    session.add(policy)
    rules = list(data.get("rules") or [])
    if len(rules) > l7.MAX_RULES_PER_POLICY:
        raise l7.TooManyRules(policy.id)
    for rule in rules:
        new_l7rule(session, caller, settings, policy, rule)
    return policy


def _load_listener(session: Session, caller: Caller, listener_id: str) -> Listener:
    listener = session.get(Listener, listener_id)
    if listener is None:
        raise NotFound("Listener", listener_id)
    require(caller, Access.WRITE, listener.project_id)
    return listener


def _lock(session: Session, listener: Listener) -> LoadBalancer:
    """Row-lock the listener's load balancer, then re-read the listener under the lock."""
    lb = lock_load_balancer(session, listener.load_balancer_id)
    session.refresh(listener)
    return lb


def _touch_listener(listener: Listener, *, strict: bool) -> None:
    if listener.provisioning_status == PS.PENDING_DELETE or (
        strict and listener.provisioning_status != PS.ACTIVE
    ):
        raise ImmutableObject("Listener", listener.id)
    listener.provisioning_status = status_after_update(listener.provisioning_status)


def create_l7policy(
    session: Session, caller: Caller, settings: Settings, data: Mapping[str, Any]
) -> L7Policy:
    listener = _load_listener(session, caller, data["listener_id"])
    lb = _lock(session, listener)
    strict = settings.strict_pending_lock
    begin_change(session, lb, strict=strict)
    _touch_listener(listener, strict=strict)
    return new_l7policy(session, caller, settings, listener, data)


def update_l7policy(
    session: Session, caller: Caller, settings: Settings, policy_id: str, data: Mapping[str, Any]
) -> L7Policy:
    policy = get_l7policy(session, caller, policy_id, access=Access.WRITE)
    listener = policy.listener
    if not data:
        raise l7.L7PolicyArgsInvalid("Invalid update options")
    _check_text_fields(data)
    changes = {k: v for k, v in data.items() if k in UPDATABLE}
    if changes:
        changes = l7.clear_for_action(l7.sanitize_policy(changes, create=False))
    repoint = "redirect_pool_id" in changes
    pool_id = changes.pop("redirect_pool_id", None)
    new_pool = _redirect_pool(session, listener, pool_id) if pool_id else None
    lb = _lock(session, listener)
    session.refresh(policy)
    strict = settings.strict_pending_lock
    begin_change(
        session,
        lb,
        strict=strict,
        target_status=policy.provisioning_status,
        target_name=LABEL,
        target_id=policy.id,
    )
    _touch_listener(listener, strict=strict)
    _apply(policy, changes, new_pool if repoint else policy.redirect_pool)
    if "tags" in data:
        policy.set_tags(list(data["tags"] or []))
    if data.get("position") is not None:
        _renumber(l7.place(live_policies(listener), policy, data["position"]))
    policy.provisioning_status = status_after_update(policy.provisioning_status)
    return policy


def _apply(policy: L7Policy, changes: Mapping[str, Any], pool: Pool | None) -> None:
    for name, value in changes.items():
        setattr(policy, name, value is not False if name == "admin_state_up" else value)
    policy.redirect_pool = pool
    l7.check_target(
        policy.action,
        redirect_pool_id=pool.id if pool is not None else None,
        redirect_url=policy.redirect_url,
        redirect_prefix=policy.redirect_prefix,
    )
    redirects = (Action.REDIRECT_TO_URL, Action.REDIRECT_PREFIX)
    if policy.action in redirects and not policy.redirect_http_code:
        policy.redirect_http_code = l7.DEFAULT_REDIRECT_HTTP_CODE


def delete_l7policy(session: Session, caller: Caller, settings: Settings, policy_id: str) -> str:
    """Mark the policy and its rules PENDING_DELETE; the others close up. Returns the LB id."""
    policy = get_l7policy(session, caller, policy_id, access=Access.WRITE)
    listener = policy.listener
    lb = _lock(session, listener)
    session.refresh(policy)
    strict = settings.strict_pending_lock
    begin_change(
        session,
        lb,
        strict=strict,
        target_status=policy.provisioning_status,
        target_name=LABEL,
        target_id=policy.id,
        deleting=True,
    )
    _touch_listener(listener, strict=strict)
    policy.provisioning_status = PS.PENDING_DELETE
    for rule in policy.rules:
        rule.provisioning_status = PS.PENDING_DELETE
    _renumber(live_policies(listener))
    return lb.id
