"""/lbaas/pools/{pool_id}/members: CRUD of one member and the batch update of all of them."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import accepted, many, no_content, one
from portico.api.schemas.members import (
    MemberCreateBody,
    MembersBatchBody,
    MemberUpdateBody,
    member_view,
)
from portico.services import member_batch
from portico.services import members as svc

router = APIRouter(prefix="/lbaas/pools/{pool_id}/members", tags=["members"])

# oslo's bool_from_string: anything else (including a typo) means False.
_TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})


@router.get("", operation_id="list_members")
def list_members(
    pool_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_members(session, caller, ctx.settings, pool_id, query)
        return many("members", page, query, request, member_view)


@router.post("", status_code=201, operation_id="create_member")
def create_member(
    pool_id: str, body: MemberCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.member.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        member = svc.create_member(session, caller, ctx.settings, pool_id, data)
        view = member_view(member)
        lb_id = member.pool.load_balancer_id
    ctx.notify_change(lb_id)
    return one("member", view, request, status=201)


@router.put("", status_code=202, operation_id="batch_update_members")
def batch_update_members(
    pool_id: str,
    body: MembersBatchBody,
    ctx: ContextDep,
    caller: CallerDep,
    additive_only: str = Query(default="false"),
) -> Response:
    members = [m.model_dump(exclude_unset=True) for m in body.members]
    with ctx.db.writing() as session:
        changed = member_batch.batch_update_members(
            session,
            caller,
            ctx.settings,
            pool_id,
            members,
            additive_only=additive_only.strip().lower() in _TRUE,
        )
        lb_id = svc.load_balancer_of_pool(session, pool_id)
    if changed and lb_id:
        ctx.notify_change(lb_id)
    return accepted()


@router.get("/{member_id}", operation_id="show_member")
def show_member(
    pool_id: str, member_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        member = svc.get_member(session, caller, pool_id, member_id)
        return one("member", member_view(member), request)


@router.put("/{member_id}", operation_id="update_member")
def update_member(
    pool_id: str,
    member_id: str,
    body: MemberUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.member.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        member = svc.update_member(session, caller, ctx.settings, pool_id, member_id, changes)
        view = member_view(member)
        lb_id = member.pool.load_balancer_id
    ctx.notify_change(lb_id)
    return one("member", view, request)


@router.delete("/{member_id}", status_code=204, operation_id="delete_member")
def delete_member(pool_id: str, member_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        svc.delete_member(session, caller, ctx.settings, pool_id, member_id)
        lb_id = svc.load_balancer_of_pool(session, pool_id)
    if lb_id:
        ctx.notify_change(lb_id)
    return no_content()
