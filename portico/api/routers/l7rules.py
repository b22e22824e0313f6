"""/lbaas/l7policies/{policy_id}/rules: CRUD of the rules of one L7 policy."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import many, no_content, one
from portico.api.schemas.l7rules import L7RuleCreateBody, L7RuleUpdateBody, l7rule_view
from portico.services import l7rules as svc

router = APIRouter(prefix="/lbaas/l7policies/{policy_id}/rules", tags=["l7rules"])


@router.get("", operation_id="list_l7rules")
def list_l7rules(
    policy_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_l7rules(session, caller, policy_id, query, ctx.settings)
        return many("rules", page, query, request, l7rule_view)


@router.post("", status_code=201, operation_id="create_l7rule")
def create_l7rule(
    policy_id: str, body: L7RuleCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.rule.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        rule = svc.create_l7rule(session, caller, ctx.settings, policy_id, data)
        session.flush()
        lb_id = rule.l7policy.listener.load_balancer_id
        view = l7rule_view(rule)
    ctx.notify_change(lb_id)
    return one("rule", view, request, status=201)


@router.get("/{rule_id}", operation_id="show_l7rule")
def show_l7rule(
    policy_id: str, rule_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        rule = svc.get_l7rule(session, caller, policy_id, rule_id)
        return one("rule", l7rule_view(rule), request)


@router.put("/{rule_id}", operation_id="update_l7rule")
def update_l7rule(
    policy_id: str,
    rule_id: str,
    body: L7RuleUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.rule.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        rule = svc.update_l7rule(session, caller, ctx.settings, (policy_id, rule_id), changes)
        session.flush()
        lb_id = rule.l7policy.listener.load_balancer_id
        view = l7rule_view(rule)
    ctx.notify_change(lb_id)
    return one("rule", view, request)


@router.delete("/{rule_id}", status_code=204, operation_id="delete_l7rule")
def delete_l7rule(policy_id: str, rule_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        lb_id = svc.delete_l7rule(session, caller, ctx.settings, (policy_id, rule_id))
    ctx.notify_change(lb_id)
    return no_content()
