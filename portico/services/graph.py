"""The object graph under a load balancer: full-graph create and cascade marking.

A full-graph create names pools rather than pointing at ids: a listener's ``default_pool`` or
an L7 policy's ``redirect_pool`` is either a full definition or a bare ``{"name": …}`` that
refers to a pool defined elsewhere in the request. Pools are created first, then listeners
(with their L7 policies), each through the same builder the single-object routes use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from portico.db.models import Listener, LoadBalancer, Pool
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import InvalidInput, ValidationException
from portico.domain.policy import Caller
from portico.domain.protocols import check_no_children
from portico.services.healthmonitors import new_healthmonitor
from portico.services.l7policies import new_l7policy
from portico.services.listeners import new_listener
from portico.services.members import new_member
from portico.services.pools import new_pool
from portico.settings import Settings

_UNNAMED = "Pools must be named when creating a fully populated loadbalancer."


def _is_definition(pool: Mapping[str, Any]) -> bool:
    """More than a name means a full definition, not a reference."""
    return any(key != "name" for key in pool)


def _collect(
    listeners: Sequence[Mapping[str, Any]], pools: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], set[str]]:
    """All pool definitions (top level and inline) and the names referenced."""
    definitions = [dict(p) for p in pools]
    referenced: set[str] = set()
    nested = [li.get("default_pool") for li in listeners]
    nested += [p.get("redirect_pool") for li in listeners for p in li.get("l7policies") or []]
    for pool in nested:
        if not pool:
            continue
        if not pool.get("name"):
            raise ValidationException(_UNNAMED)
        if _is_definition(pool):
            definitions.append(dict(pool))
        else:
            referenced.add(pool["name"])
    names = [p.get("name") for p in definitions]
    if len(set(names)) != len(names):
        raise ValidationException(
            "Pool names must be unique when creating a fully populated loadbalancer."
        )
    for name in sorted(referenced):
        if name not in names:
            raise ValidationException(
                f"Pool '{name}' was referenced but no full definition was found."
            )
    return definitions, referenced


def build(
    session: Session,
    caller: Caller,
    settings: Settings,
    lb: LoadBalancer,
    *,
    listeners: Sequence[Any],
    pools: Sequence[Any],
) -> None:
    """Create pools (members, monitors), listeners and L7 policies in one transaction."""
    definitions, _ = _collect(listeners, pools)
    by_name: dict[str, Pool] = {}
    for spec in definitions:
        pool = _build_pool(session, caller, settings, lb, spec)
        if pool.name is not None:
            by_name[pool.name] = pool
    for spec in listeners:
        data = {k: v for k, v in spec.items() if k not in ("default_pool", "l7policies")}
        if spec.get("default_pool"):
            data["default_pool_id"] = _named(by_name, spec["default_pool"]["name"]).id
        listener = new_listener(session, caller, settings, lb, data)
        _build_policies(session, caller, settings, listener, spec, by_name)
    session.flush()


def _named(by_name: Mapping[str, Pool], name: str) -> Pool:
    pool = by_name.get(name)
    if pool is None:
        raise InvalidInput(f"Missing details for Pool object: {name}")
    return pool


def _build_pool(
    session: Session, caller: Caller, settings: Settings, lb: LoadBalancer, spec: Mapping[str, Any]
) -> Pool:
    for attr in ("protocol", "lb_algorithm"):
        if spec.get(attr) is None:
            raise ValidationException(
                f"Pool definition for '{spec.get('name')}' missing required attribute: {attr}"
            )
    data = {k: v for k, v in spec.items() if k not in ("members", "healthmonitor")}
    pool = new_pool(session, caller, settings, lb, data)
    if spec.get("healthmonitor"):
        new_healthmonitor(session, caller, settings, pool, spec["healthmonitor"])
        session.flush()
    for member in spec.get("members") or []:
        new_member(session, caller, settings, pool, member)
        session.flush()
    return pool


def _build_policies(
    session: Session,
    caller: Caller,
    settings: Settings,
    listener: Listener,
    spec: Mapping[str, Any],
    by_name: Mapping[str, Pool],
) -> None:
    policies = spec.get("l7policies") or []
    if not policies:
        return
    check_no_children(listener.protocol)
    for policy in policies:
        data = {k: v for k, v in policy.items() if k != "redirect_pool"}
        redirect = policy.get("redirect_pool")
        target = _named(by_name, redirect["name"]) if redirect else None
        new_l7policy(session, caller, settings, listener, data, redirect_pool=target)
        session.flush()


def mark_deleted(lb: LoadBalancer) -> None:
    """Every object under ``lb`` to PENDING_DELETE (cascade delete)."""
    for listener in lb.listeners:
        listener.provisioning_status = PS.PENDING_DELETE
        for policy in listener.l7policies:
            policy.provisioning_status = PS.PENDING_DELETE
            for rule in policy.rules:
                rule.provisioning_status = PS.PENDING_DELETE
    for pool in lb.pools:
        pool.provisioning_status = PS.PENDING_DELETE
        for member in pool.members:
            member.provisioning_status = PS.PENDING_DELETE
        if pool.health_monitor is not None:
            pool.health_monitor.provisioning_status = PS.PENDING_DELETE
