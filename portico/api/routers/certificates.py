"""/portico/certificates: the operator loads PEM bundles that listeners and pools name.

A portico extension (Octavia reads Barbican instead), admin only. The ref handed out by
default is the certificate's own URL under ``/v2``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.listing import parse_list_query
from portico.api.responses import many, no_content, one
from portico.api.schemas.certificates import CertificateCreateBody, certificate_view
from portico.services import certificates as svc

PREFIX = "/portico/certificates"
router = APIRouter(prefix=PREFIX, tags=["certificates"])
KEY = "certificate"


@router.post("", status_code=201, operation_id="create_certificate")
def create_certificate(
    body: CertificateCreateBody, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    base_url = f"{str(request.base_url).rstrip('/')}/v2{PREFIX}"
    data = body.certificate.model_dump()
    with ctx.db.writing() as session:
        view = certificate_view(svc.create_certificate(session, caller, data, base_url=base_url))
    return one(KEY, view, request, status=201)


@router.get("", operation_id="list_certificates")
def list_certificates(request: Request, ctx: ContextDep, caller: CallerDep) -> JSONResponse:
    query = parse_list_query(request)
    with ctx.db.reading() as session:
        page = svc.list_certificates(session, caller, query, ctx.settings)
        return many("certificates", page, query, request, certificate_view)


@router.get("/{cert_id}", operation_id="show_certificate")
def show_certificate(
    cert_id: str, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    with ctx.db.reading() as session:
        view = certificate_view(svc.get_certificate(session, caller, cert_id))
    return one(KEY, view, request)


@router.delete("/{cert_id}", status_code=204, operation_id="delete_certificate")
def delete_certificate(cert_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        svc.delete_certificate(session, caller, cert_id)
    return no_content()
