"""/lbaas/listeners: list, create, show, update, delete, stats."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import many, no_content, one
from portico.api.schemas.listeners import (
    ListenerCreateBody,
    ListenerUpdateBody,
    listener_view,
)
from portico.services import listeners as svc

router = APIRouter(prefix="/lbaas/listeners", tags=["listeners"])


@router.get("", operation_id="list_listeners")
def list_listeners(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_listeners(session, caller, query, ctx.settings)
        return many("listeners", page, query, request, listener_view)


@router.post("", status_code=201, operation_id="create_listener")
def create_listener(
    body: ListenerCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.listener.model_dump(exclude_unset=True, mode="json")
    with ctx.db.writing() as session:
        listener = svc.create_listener(session, caller, ctx.settings, data, providers=ctx.providers)
        view = listener_view(listener)
    ctx.notify_change(listener.load_balancer_id)
    return one("listener", view, request, status=201)


@router.get("/{listener_id}", operation_id="show_listener")
def show_listener(
    listener_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        listener = svc.get_listener(session, caller, listener_id)
        return one("listener", listener_view(listener), request)


@router.put("/{listener_id}", operation_id="update_listener")
def update_listener(
    listener_id: str,
    body: ListenerUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.listener.model_dump(exclude_unset=True, mode="json")
    with ctx.db.writing() as session:
        listener = svc.update_listener(session, caller, ctx.settings, listener_id, changes)
        view = listener_view(listener)
    ctx.notify_change(listener.load_balancer_id)
    return one("listener", view, request)


@router.delete("/{listener_id}", status_code=204, operation_id="delete_listener")
def delete_listener(listener_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        lb_id = svc.delete_listener(session, caller, ctx.settings, listener_id)
    ctx.notify_change(lb_id)
    return no_content()


@router.get("/{listener_id}/stats", operation_id="show_listener_stats")
def show_stats(listener_id: str, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    with ctx.db.reading() as session:
        return JSONResponse({"stats": svc.listener_stats(session, caller, listener_id)})
