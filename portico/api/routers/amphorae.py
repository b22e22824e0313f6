"""/octavia/amphorae: the operator's view of amphorae, their statistics, failover and delete."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import accepted, many, one
from portico.api.schemas.amphorae import amphora_view
from portico.db.base import utcnow
from portico.services import amphorae as svc
from portico.services import upgrades

router = APIRouter(prefix="/octavia/amphorae", tags=["amphorae"])


@router.get("", operation_id="list_amphorae")
def list_amphorae(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_amphorae(session, caller, query, ctx.settings)
        return many("amphorae", page, query, request, partial(amphora_view, now=utcnow()))


@router.get("/{amphora_id}", operation_id="show_amphora")
def show_amphora(
    amphora_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        view = amphora_view(svc.get_amphora(session, caller, amphora_id), now=utcnow())
    return one("amphora", view, request)


@router.get("/{amphora_id}/stats", operation_id="show_amphora_stats")
def show_amphora_stats(amphora_id: str, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    with ctx.db.reading() as session:
        return JSONResponse({"amphora_stats": svc.amphora_stats(session, caller, amphora_id)})


@router.put("/{amphora_id}/failover", status_code=202, operation_id="failover_amphora")
def failover_amphora(amphora_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        lb_id = svc.failover_amphora(session, caller, amphora_id)
    if lb_id is not None:
        ctx.notify_change(lb_id)
    return accepted()


@router.put("/{amphora_id}/config", status_code=202, operation_id="configure_amphora")
def configure_amphora(amphora_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    """Octavia's "Configure Amphora": push this controller's agent settings (heartbeat
    targets) to the amphora; how amphorae move to a new controller's health services."""
    targets = ctx.settings.effective_heartbeat_targets
    with ctx.db.writing() as session:
        lb_id = upgrades.configure(session, caller, amphora_id, targets=targets)
    if lb_id is not None:
        ctx.notify_change(lb_id)
    return accepted()


@router.delete("/{amphora_id}", status_code=204, operation_id="delete_amphora")
def delete_amphora(amphora_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        lb_id = svc.delete_amphora(session, caller, amphora_id)
    if lb_id is not None:
        ctx.notify_change(lb_id)
    return Response(status_code=204)
