"""/portico/events: what the controller saw or did (failovers, alerts), for operators.

A portico extension (Octavia has no such call), admin only. Newest first unless ``sort``
says otherwise; filters on ``kind``, ``severity``, ``amphora_id``, ``loadbalancer_id`` and a
time window (``since``, ``until``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import many, one
from portico.api.schemas.events import event_detail_view
from portico.services import events as svc

router = APIRouter(prefix="/portico/events", tags=["events"])


@router.get("", operation_id="list_events")
def list_events(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_events(session, caller, query, ctx.settings)
        return many("events", page, query, request, svc.event_view)


@router.get("/{event_id}", operation_id="show_event")
def show_event(event_id: str, request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    with ctx.db.reading() as session:
        event = svc.get_event(session, caller, event_id)
        view = event_detail_view(event, svc.deliveries(session, event_id))
    return one("event", view, request)
