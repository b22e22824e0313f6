"""/lbaas/flavorprofiles: admin-only provider metadata behind flavors."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.paging import page_response
from portico.api.responses import no_content, one
from portico.api.schemas.catalogue import (
    FlavorProfileCreateBody,
    FlavorProfileUpdateBody,
    profile_view,
)
from portico.services import profiles as svc
from portico.services.profiles import FLAVOR_PROFILES as KIND
from portico.services.profiles import Catalogue

router = APIRouter(prefix="/lbaas/flavorprofiles", tags=["flavorprofiles"])
KEY = "flavorprofile"


def _view(profile: object) -> dict[str, object]:
    return profile_view(KIND, profile)


@router.get("", operation_id="list_flavor_profiles")
def list_profiles(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_profiles(session, caller, KIND, query, ctx.settings)
        return page_response(
            request,
            page,
            query,
            items_key="flavorprofiles",
            links_key="flavorprofile_links",
            view=_view,
        )


@router.post("", status_code=201, operation_id="create_flavor_profile")
def create_profile(
    body: FlavorProfileCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    data = body.flavorprofile.model_dump()
    cat = Catalogue(ctx.settings, ctx.providers)
    with ctx.db.writing() as session:
        view = _view(svc.create_profile(session, caller, KIND, cat, data))
    return one(KEY, view, request, status=201)


@router.get("/{profile_id}", operation_id="show_flavor_profile")
def show_profile(
    profile_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        view = _view(svc.get_profile(session, caller, KIND, profile_id))
    return one(KEY, view, request)


@router.put("/{profile_id}", operation_id="update_flavor_profile")
def update_profile(
    profile_id: str,
    body: FlavorProfileUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.flavorprofile.model_dump(exclude_unset=True)
    cat = Catalogue(ctx.settings, ctx.providers)
    with ctx.db.writing() as session:
        view = _view(svc.update_profile(session, caller, KIND, cat, profile_id, changes))
    return one(KEY, view, request)


@router.delete("/{profile_id}", status_code=204, operation_id="delete_flavor_profile")
def delete_profile(profile_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        svc.delete_profile(session, caller, KIND, profile_id)
    return no_content()
