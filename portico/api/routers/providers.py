"""/lbaas/providers: the enabled provider drivers and what flavor/zone metadata each takes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import requested_fields, select_fields
from portico.services import providers as svc
from portico.services.providers import MetadataKind

router = APIRouter(prefix="/lbaas/providers", tags=["providers"])


def _answer(key: str, items: list[dict[str, str]], request: Request) -> JSONResponse:
    fields = requested_fields(request)
    return JSONResponse({key: [select_fields(item, fields) for item in items]})


def _filters(request: Request) -> dict[str, str]:
    params = request.query_params
    return {name: params[name] for name in ("name", "description") if name in params}


@router.get("", operation_id="list_providers")
def list_providers(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    return _answer("providers", svc.list_providers(caller, ctx.settings), request)


@router.get("/{provider}/flavor_capabilities", operation_id="list_flavor_capabilities")
def flavor_capabilities(
    provider: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    items = svc.capabilities(
        caller,
        ctx.settings,
        ctx.providers,
        provider,
        MetadataKind.FLAVOR,
        filters=_filters(request),
    )
    return _answer("flavor_capabilities", items, request)


@router.get(
    "/{provider}/availability_zone_capabilities",
    operation_id="list_availability_zone_capabilities",
)
def availability_zone_capabilities(
    provider: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    items = svc.capabilities(
        caller,
        ctx.settings,
        ctx.providers,
        provider,
        MetadataKind.AVAILABILITY_ZONE,
        filters=_filters(request),
    )
    return _answer("availability_zone_capabilities", items, request)
