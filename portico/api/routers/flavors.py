"""/lbaas/flavors: what users pick at load balancer create; readable by all, admin writes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import many, no_content, one
from portico.api.schemas.catalogue import FlavorCreateBody, FlavorUpdateBody, flavor_view
from portico.services import flavors as svc

router = APIRouter(prefix="/lbaas/flavors", tags=["flavors"])


@router.get("", operation_id="list_flavors")
def list_flavors(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_flavors(session, caller, query, ctx.settings)
        return many("flavors", page, query, request, flavor_view)


@router.post("", status_code=201, operation_id="create_flavor")
def create_flavor(
    body: FlavorCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.flavor.model_dump()
    with ctx.db.writing() as session:
        view = flavor_view(svc.create_flavor(session, caller, data))
    return one("flavor", view, request, status=201)


@router.get("/{flavor_id}", operation_id="show_flavor")
def show_flavor(
    flavor_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        view = flavor_view(svc.get_flavor(session, caller, flavor_id))
    return one("flavor", view, request)


@router.put("/{flavor_id}", operation_id="update_flavor")
def update_flavor(
    flavor_id: str,
    body: FlavorUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.flavor.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        view = flavor_view(svc.update_flavor(session, caller, flavor_id, changes))
    return one("flavor", view, request)


@router.delete("/{flavor_id}", status_code=204, operation_id="delete_flavor")
def delete_flavor(flavor_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        svc.delete_flavor(session, caller, flavor_id)
    return no_content()
