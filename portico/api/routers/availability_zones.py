"""/lbaas/availabilityzones: named placement choices, keyed by name; admin writes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.paging import page_response
from portico.api.responses import no_content, one
from portico.api.schemas.catalogue import (
    AvailabilityZoneCreateBody,
    AvailabilityZoneUpdateBody,
    zone_view,
)
from portico.services import availability_zones as svc

router = APIRouter(prefix="/lbaas/availabilityzones", tags=["availabilityzones"])
KEY = "availability_zone"


@router.get("", operation_id="list_availability_zones")
def list_zones(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_zones(session, caller, query, ctx.settings)
        return page_response(
            request,
            page,
            query,
            items_key="availability_zones",
            links_key="availability_zones_links",
            view=zone_view,
            marker=lambda zone: str(zone.name),
        )


@router.post("", status_code=201, operation_id="create_availability_zone")
def create_zone(
    body: AvailabilityZoneCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.availability_zone.model_dump()
    with ctx.db.writing() as session:
        view = zone_view(svc.create_zone(session, caller, data))
    return one(KEY, view, request, status=201)


@router.get("/{name}", operation_id="show_availability_zone")
def show_zone(name: str, request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    with ctx.db.reading() as session:
        view = zone_view(svc.get_zone(session, caller, name))
    return one(KEY, view, request)


@router.put("/{name}", operation_id="update_availability_zone")
def update_zone(
    name: str,
    body: AvailabilityZoneUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.availability_zone.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        view = zone_view(svc.update_zone(session, caller, name, changes))
    return one(KEY, view, request)


@router.delete("/{name}", status_code=204, operation_id="delete_availability_zone")
def delete_zone(name: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        svc.delete_zone(session, caller, name)
    return no_content()
