"""``keystone``: tokens validated by keystonemiddleware against a configured Keystone."""

from __future__ import annotations

from fastapi import Request

from portico.domain.policy import Caller
from portico.settings import Settings


class KeystoneAuth:
    def __init__(self, settings: Settings) -> None:
        raise NotImplementedError("auth_strategy = keystone is being built")

    async def authenticate(self, request: Request) -> Caller:
        raise NotImplementedError
