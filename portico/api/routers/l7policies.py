"""/lbaas/l7policies: CRUD of L7 policies (their rules live in ``l7rules``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import many, no_content, one
from portico.api.schemas.l7policies import (
    L7PolicyCreateBody,
    L7PolicyUpdateBody,
    l7policy_view,
)
from portico.services import l7policies as svc

router = APIRouter(prefix="/lbaas/l7policies", tags=["l7policies"])


@router.get("", operation_id="list_l7policies")
def list_l7policies(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_l7policies(session, caller, query, ctx.settings)
        return many("l7policies", page, query, request, l7policy_view)


@router.post("", status_code=201, operation_id="create_l7policy")
def create_l7policy(
    body: L7PolicyCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.l7policy.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        policy = svc.create_l7policy(session, caller, ctx.settings, data)
        session.flush()
        lb_id = policy.listener.load_balancer_id
        view = l7policy_view(policy)
    ctx.notify_change(lb_id)
    return one("l7policy", view, request, status=201)


@router.get("/{policy_id}", operation_id="show_l7policy")
def show_l7policy(
    policy_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        policy = svc.get_l7policy(session, caller, policy_id)
        return one("l7policy", l7policy_view(policy), request)


@router.put("/{policy_id}", operation_id="update_l7policy")
def update_l7policy(
    policy_id: str,
    body: L7PolicyUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.l7policy.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        policy = svc.update_l7policy(session, caller, ctx.settings, policy_id, changes)
        session.flush()
        lb_id = policy.listener.load_balancer_id
        view = l7policy_view(policy)
    ctx.notify_change(lb_id)
    return one("l7policy", view, request)


@router.delete("/{policy_id}", status_code=204, operation_id="delete_l7policy")
def delete_l7policy(policy_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        lb_id = svc.delete_l7policy(session, caller, ctx.settings, policy_id)
    ctx.notify_change(lb_id)
    return no_content()
