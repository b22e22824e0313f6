"""/lbaas/quotas: per-project limits (list, show, defaults, update, reset).

Octavia answers PUT with 202 and the quota in force, and DELETE with 202 and no body (its
api-ref says 204; the server and its own tests say 202, which is what clients meet).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.paging import page_response
from portico.api.responses import accepted, one
from portico.api.schemas.quotas import QuotaUpdateBody, quota_view
from portico.db.models import Quota
from portico.services import quota_limits as svc

router = APIRouter(prefix="/lbaas/quotas", tags=["quotas"])


def _stored_view(quota: Quota) -> dict[str, object]:
    return quota_view(svc.stored_limits(quota), quota.project_id)


@router.get("", operation_id="list_quotas")
def list_quotas(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_quotas(session, caller, query, ctx.settings)
        return page_response(
            request,
            page,
            query,
            items_key="quotas",
            links_key="quotas_links",
            view=_stored_view,
            marker=lambda quota: str(quota.project_id),
        )


@router.get("/defaults", operation_id="show_quota_defaults")
def show_defaults(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    limits = svc.default_quota(caller, ctx.settings, caller.project_id or "")
    return one("quota", quota_view(limits), request)


@router.get("/{project_id}", operation_id="show_quota")
def show_quota(
    project_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        limits = svc.get_quota(session, caller, ctx.settings, project_id)
    return one("quota", quota_view(limits, project_id), request)


@router.get("/{project_id}/default", operation_id="show_project_quota_defaults")
def show_project_defaults(
    project_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    limits = svc.default_quota(caller, ctx.settings, project_id)
    return one("quota", quota_view(limits, project_id), request)


@router.put("/{project_id}", status_code=202, operation_id="update_quota")
def update_quota(
    project_id: str,
    body: QuotaUpdateBody,
    request: Request,
    ctx: ContextDep,
    caller: CallerDep,
) -> JSONResponse:
    changes = body.quota.model_dump(exclude_unset=True)
    with ctx.db.writing() as session:
        limits = svc.update_quota(session, caller, ctx.settings, project_id, changes)
    return one("quota", quota_view(limits, project_id), request, status=202)


@router.delete("/{project_id}", status_code=202, operation_id="reset_quota")
def reset_quota(project_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        svc.reset_quota(session, caller, project_id)
    return accepted()
