"""What every request handler gets: settings, database, the caller, and the reconciler's bell.

Built once by the composition root and stored on ``app.state.portico``; handlers take the
pieces through ``Annotated`` dependencies instead of reading globals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request

from portico.db.engine import Database
from portico.domain.policy import Caller
from portico.drivers.providers.base import Provider
from portico.settings import Settings


class Authenticator(Protocol):
    """Turns a request into a caller, or raises ``NotAuthorized``/401."""

    async def authenticate(self, request: Request) -> Caller: ...


@dataclass
class ApiContext:
    settings: Settings
    db: Database
    authenticator: Authenticator
    # Called after a write commits so the in-process reconciler starts at once.
    notify_change: Callable[[str], None]
    # The enabled provider drivers by name (capabilities, flavor/AZ metadata validation).
    providers: Mapping[str, Provider] = field(default_factory=dict)


def get_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.portico
    return ctx


async def get_caller(request: Request) -> Caller:
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    caller = await get_context(request).authenticator.authenticate(request)
    request.state.caller = caller
    return caller


ContextDep = Annotated[ApiContext, Depends(get_context)]
CallerDep = Annotated[Caller, Depends(get_caller)]
