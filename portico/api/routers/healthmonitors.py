"""/lbaas/healthmonitors: CRUD of the health monitor a pool may have."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import many, no_content, one
from portico.api.schemas.healthmonitors import (
    HealthMonitorCreateBody,
    HealthMonitorUpdateBody,
    healthmonitor_view,
)
from portico.services import healthmonitors as svc

router = APIRouter(prefix="/lbaas/healthmonitors", tags=["healthmonitors"])


@router.get("", operation_id="list_healthmonitors")
def list_healthmonitors(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_healthmonitors(session, caller, query, ctx.settings)
        return many("healthmonitors", page, query, request, healthmonitor_view)


@router.post("", status_code=201, operation_id="create_healthmonitor")
def create_healthmonitor(
    body: HealthMonitorCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.healthmonitor.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        hm = svc.create_healthmonitor(session, caller, ctx.settings, data, providers=ctx.providers)
        view = healthmonitor_view(hm)
        lb_id = hm.pool.load_balancer_id
    ctx.notify_change(lb_id)
    return one("healthmonitor", view, request, status=201)


@router.get("/{hm_id}", operation_id="show_healthmonitor")
def show_healthmonitor(
    hm_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        hm = svc.get_healthmonitor(session, caller, hm_id)
        return one("healthmonitor", healthmonitor_view(hm), request)


@router.put("/{hm_id}", operation_id="update_healthmonitor")
def update_healthmonitor(
    hm_id: str,
    body: HealthMonitorUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.healthmonitor.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        hm = svc.update_healthmonitor(session, caller, ctx.settings, hm_id, changes)
        view = healthmonitor_view(hm)
        lb_id = hm.pool.load_balancer_id
    ctx.notify_change(lb_id)
    return one("healthmonitor", view, request)


@router.delete("/{hm_id}", status_code=204, operation_id="delete_healthmonitor")
def delete_healthmonitor(hm_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        lb_id = svc.delete_healthmonitor(session, caller, ctx.settings, hm_id)
    ctx.notify_change(lb_id)
    return no_content()
