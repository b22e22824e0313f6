"""``noauth``: the embedded default. The caller is whoever the headers say.

Project from ``X-Project-Id`` (else the configured default project, so the unmodified
``openstack`` CLI works without Keystone), roles from ``X-Roles`` (else the configured default
roles). Any ``X-Auth-Token`` the clients send is ignored.
"""

from __future__ import annotations

from fastapi import Request

from portico.domain.policy import Caller
from portico.settings import Settings


class NoAuth:
    def __init__(self, settings: Settings) -> None:
        self._project = settings.noauth_default_project
        self._roles = frozenset(settings.noauth_default_roles)

    async def authenticate(self, request: Request) -> Caller:
        project = request.headers.get("x-project-id") or request.headers.get("x-tenant-id")
        roles_header = request.headers.get("x-roles")
        roles = (
            frozenset(r.strip() for r in roles_header.split(",") if r.strip())
            if roles_header is not None
            else self._roles
        )
        return Caller(
            project_id=project or self._project,
            roles=roles,
            user_id=request.headers.get("x-user-id"),
        )
