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


@router.api_route("/healthcheck", methods=["GET", "HEAD"], operation_id="healthcheck")
def healthcheck(ctx: ContextDep) -> PlainTextResponse:
    try:
        with ctx.db.reading() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        LOG.warning("healthcheck: database unreachable: %s", exc)
        return PlainTextResponse("Database unavailable", status_code=503)
    return PlainTextResponse("OK")
