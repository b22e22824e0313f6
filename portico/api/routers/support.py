"""/portico/amphorae and /portico/loadbalancers: support staff's calls (portico extensions).

Admin only, as Octavia's amphora calls. Diagnostics and logs ask the amphora's agent; an
agent that does not answer is reported in Octavia's error body (503 when no amphora asked
answered; in diagnostics an ``agent_error`` beside the database's facts), never a 500.
Resync asks the reconciler to render and push a load balancer again, as an update would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from portico.api.context import ApiContext, CallerDep, ContextDep
from portico.api.log_query import LogQueryDep, answer
from portico.api.responses import accepted
from portico.api.schemas.amphorae import amphora_view
from portico.api.schemas.diagnostics import DbFacts, diagnostics_view
from portico.db.base import utcnow
from portico.domain.errors import NotFound, ProviderNotFound
from portico.orchestrator import amphora_logs, diagnostics
from portico.orchestrator.provider import AmphoraProvider
from portico.services import amphora_records as records
from portico.services import amphorae as amphora_svc
from portico.services import lb_resync
from portico.services.amphora_records import AmphoraRecord

router = APIRouter(prefix="/portico", tags=["support"])
R = TypeVar("R")


async def _read(ctx: ApiContext, fn: Callable[[Session], R]) -> R:
    """A read transaction off the event loop: these handlers also wait on agents."""

    def run() -> R:
        with ctx.db.reading() as session:
            return fn(session)

    return await asyncio.to_thread(run)


def _provider(ctx: ApiContext) -> AmphoraProvider:
    provider = ctx.providers.get("amphora")
    if not isinstance(provider, AmphoraProvider):
        raise ProviderNotFound("amphora")
    return provider


def _record(session: Session, amphora_id: str) -> AmphoraRecord:
    found = records.get(session, amphora_id)
    if found is None:
        raise NotFound(amphora_svc.LABEL, amphora_id)
    return found


@router.get("/amphorae/{amphora_id}/diagnostics", operation_id="show_amphora_diagnostics")
async def show_amphora_diagnostics(
    amphora_id: str, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    def facts(session: Session) -> tuple[DbFacts, AmphoraRecord]:
        amp = amphora_svc.get_amphora(session, caller, amphora_id)
        lb = amphora_svc.load_balancer_state(session, amp.load_balancer_id)
        found = DbFacts(
            amphora=amphora_view(amp, now=utcnow()),
            load_balancer=lb,
            recorded_hash=amp.config_hash,
            recorded_generation=amp.applied_generation,
        )
        return found, _record(session, amphora_id)

    found, amphora = await _read(ctx, facts)
    provider = _provider(ctx)
    expected, report = await asyncio.gather(
        diagnostics.expected(provider, amphora), diagnostics.ask_agent(provider, amphora)
    )
    return JSONResponse({"diagnostics": diagnostics_view(found, expected, report)})


@router.get("/amphorae/{amphora_id}/logs", operation_id="show_amphora_logs")
async def show_amphora_logs(
    amphora_id: str, query: LogQueryDep, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:

    def find(session: Session) -> AmphoraRecord:
        amphora_svc.get_amphora(session, caller, amphora_id)
        return _record(session, amphora_id)

    amphora = await _read(ctx, find)
    [tail] = await amphora_logs.read_logs(_provider(ctx), [amphora], query)
    if tail.error is not None:
        raise tail.error
    body = answer(request, query, [tail])
    return JSONResponse({"logs": body.lines, "logs_links": body.links})


@router.get("/loadbalancers/{lb_id}/logs", operation_id="show_loadbalancer_logs")
async def show_loadbalancer_logs(
    lb_id: str, query: LogQueryDep, request: Request, ctx: ContextDep, caller: CallerDep
) -> JSONResponse:
    amphorae = await _read(ctx, lambda session: lb_resync.amphorae_of(session, caller, lb_id))
    tails = await amphora_logs.read_logs(_provider(ctx), amphorae, query) if amphorae else []
    failed = [tail.error for tail in tails if tail.error is not None]
    if failed and len(failed) == len(tails):
        raise failed[0]
    body = answer(request, query, tails)
    return JSONResponse(
        {"logs": body.lines, "logs_links": body.links, "unreachable": body.unreachable}
    )


@router.put("/loadbalancers/{lb_id}/resync", status_code=202, operation_id="resync_loadbalancer")
def resync_loadbalancer(lb_id: str, ctx: ContextDep, caller: CallerDep) -> Response:
    with ctx.db.writing() as session:
        lb_resync.resync(session, caller, lb_id)
    ctx.notify_change(lb_id)
    return accepted()
