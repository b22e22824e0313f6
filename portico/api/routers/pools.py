"""/lbaas/pools: list, create, show, update, delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import many, no_content, one
from portico.api.schemas.pools import (
    PoolCreateBody,
    PoolUpdateBody,
    pool_view,
)
from portico.services import pools as svc

router = APIRouter(prefix="/lbaas/pools", tags=["pools"])


@router.get("", operation_id="list_pools")
def list_pools(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_pools(session, caller, query, ctx.settings)
        return many("pools", page, query, request, pool_view)


@router.post("", status_code=201, operation_id="create_pool")
def create_pool(
    body: PoolCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.pool.model_dump(exclude_unset=True, mode="json")
    with ctx.db.writing() as session:
        pool = svc.create_pool(session, caller, ctx.settings, data, providers=ctx.providers)
        view = pool_view(pool)
    ctx.notify_change(pool.load_balancer_id)
    return one("pool", view, request, status=201)


@router.get("/{pool_id}", operation_id="show_pool")
def show_pool(pool_id: str, request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    with ctx.db.reading() as session:
        pool = svc.get_pool(session, caller, pool_id)
        return one("pool", pool_view(pool), request)


@router.put("/{pool_id}", operation_id="update_pool")
def update_pool(
    pool_id: str,
    body: PoolUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.pool.model_dump(exclude_unset=True, mode="json")
    with ctx.db.writing() as session:
        pool = svc.update_pool(session, caller, ctx.settings, pool_id, changes)
        view = pool_view(pool)
    ctx.notify_change(pool.load_balancer_id)
    return one("pool", view, request)


@router.delete("/{pool_id}", status_code=204, operation_id="delete_pool")
def delete_pool(pool_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        lb_id = svc.delete_pool(session, caller, ctx.settings, pool_id)
    ctx.notify_change(lb_id)
    return no_content()
