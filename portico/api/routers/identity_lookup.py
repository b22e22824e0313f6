"""Keystone-shaped project lookups, so ``openstack loadbalancer quota set … <project>`` works
without Keystone.

The quota commands (``set``, ``reset``, ``unset``, and ``show`` for a non-UUID name) resolve the
project through Keystone's v3 API with python-keystoneclient before calling the load-balancer
API. Without a service catalog the client sends that to the load-balancer endpoint itself:
``GET /projects/<name or id>``, then ``GET /projects?name=<name>``. Under noauth a project is just
the name a request carries (``X-Project-Id``, or the default project), so every name exists and
is its own id. Mounted only under noauth; with Keystone the real one answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from portico.api.context import ContextDep

router = APIRouter(tags=["identity lookup"])


def project_view(project_id: str) -> dict[str, Any]:
    return {
        "id": project_id,
        "name": project_id,
        "domain_id": "default",
        "parent_id": "default",
        "is_domain": False,
        "enabled": True,
        "description": "",
        "tags": [],
        "options": {},
        "links": {},
    }


@router.get("/projects", operation_id="lookup_projects")
def list_projects(request: Request, ctx: ContextDep) -> JSONResponse:
    names = request.query_params.getlist("name") or [ctx.settings.noauth_default_project]
    return JSONResponse({"projects": [project_view(name) for name in names], "links": {}})


@router.get("/projects/{project_id}", operation_id="lookup_project")
def show_project(project_id: str) -> JSONResponse:
    return JSONResponse({"project": project_view(project_id)})
