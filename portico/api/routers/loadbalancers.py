"""/lbaas/loadbalancers: CRUD, cascade delete, status tree, stats, failover."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import accepted, many, no_content, one
from portico.api.schemas.loadbalancers import (
    LoadBalancerCreateBody,
    LoadBalancerUpdateBody,
    loadbalancer_summary_view,
    loadbalancer_view,
)
from portico.api.schemas.status import full_loadbalancer_view, status_tree_view
from portico.services import loadbalancers as svc

router = APIRouter(prefix="/lbaas/loadbalancers", tags=["loadbalancers"])


@router.get("", operation_id="list_loadbalancers")
def list_loadbalancers(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_loadbalancers(session, caller, query, ctx.settings)
        return many("loadbalancers", page, query, request, loadbalancer_summary_view)


@router.post("", status_code=201, operation_id="create_loadbalancer")
def create_loadbalancer(
    body: LoadBalancerCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.loadbalancer.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        created = svc.create_loadbalancer(
            session, caller, ctx.settings, data, providers=ctx.providers
        )
        session.flush()
        view = (
            full_loadbalancer_view(created.lb)
            if created.full_graph
            else loadbalancer_view(created.lb)
        )
    ctx.notify_change(created.lb.id)
    return one("loadbalancer", view, request, status=201)


@router.get("/{lb_id}", operation_id="show_loadbalancer")
def show_loadbalancer(
    lb_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        lb = svc.get_loadbalancer(session, caller, lb_id)
        return one("loadbalancer", loadbalancer_view(lb), request)


@router.put("/{lb_id}", operation_id="update_loadbalancer")
def update_loadbalancer(
    lb_id: str,
    body: LoadBalancerUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.loadbalancer.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        lb = svc.update_loadbalancer(session, caller, ctx.settings, lb_id, changes)
        view = loadbalancer_view(lb)
    ctx.notify_change(lb_id)
    return one("loadbalancer", view, request)


@router.delete("/{lb_id}", status_code=204, operation_id="delete_loadbalancer")
def delete_loadbalancer(
    lb_id: str, ctx: ContextDep, caller: CallerDep, cascade: bool = Query(default=False)
) -> Response:
    with ctx.db.writing() as session:
        svc.delete_loadbalancer(session, caller, ctx.settings, lb_id, cascade=cascade)
    ctx.notify_change(lb_id)
    return no_content()


@router.get("/{lb_id}/status", operation_id="show_loadbalancer_status")
def show_status(lb_id: str, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    with ctx.db.reading() as session:
        lb = svc.get_loadbalancer(session, caller, lb_id)
        return JSONResponse({"statuses": status_tree_view(lb)})


@router.get("/{lb_id}/stats", operation_id="show_loadbalancer_stats")
def show_stats(lb_id: str, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    with ctx.db.reading() as session:
        return JSONResponse({"stats": svc.loadbalancer_stats(session, caller, lb_id)})


@router.put("/{lb_id}/failover", status_code=202, operation_id="failover_loadbalancer")
def failover(lb_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        svc.failover_loadbalancer(session, caller, ctx.settings, lb_id)
    ctx.notify_change(lb_id)
    return accepted()
