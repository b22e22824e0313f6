"""``/healthcheck`` for load balancers and orchestrators in front of the API.

Answers ``OK`` (200) when the process can reach its database, 503 otherwise, as Octavia's
oslo healthcheck middleware does with its database check enabled.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portico.api.context import ContextDep

router = APIRouter(tags=["healthcheck"])
LOG = logging.getLogger(__name__)


@router.get("/healthcheck", operation_id="healthcheck")
@router.head("/healthcheck", operation_id="healthcheck_head", include_in_schema=False)
def healthcheck(ctx: ContextDep) -> PlainTextResponse:
    try:
        with ctx.db.reading() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        LOG.warning("healthcheck: database unreachable: %s", exc)
        return PlainTextResponse("Database unavailable", status_code=503)
    return PlainTextResponse("OK")
