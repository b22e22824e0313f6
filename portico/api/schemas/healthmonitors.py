"""Health monitor bodies and the view Octavia returns for one monitor.

Formats (url_path, expected_codes, domain_name, http_version) are checked here, at the edge,
with the pure rules of ``portico.domain.healthmonitors``; combinations are checked by the
service, which knows the pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from portico.api.schemas.common import Envelope, Strict, Tags, Text255, Uuid, timestamp
from portico.db.models import HealthMonitor
from portico.domain import healthmonitors as rules
from portico.domain.constants import HealthMonitorType, HttpMethod

INT32_MAX = 2**31 - 1


def _url_path(value: str) -> str:
    if not rules.is_url_path(value):
        raise ValueError("Value must be a valid URL Path string")
    return value


def _expected_codes(value: str) -> str:
    if not rules.is_expected_codes(value):
        raise ValueError('expected "200", "200,202" or "200-204"')
    return value


def _domain_name(value: str) -> str:
    if not rules.is_domain_name(value):
        raise ValueError("not a valid domain name")
    return value


def _http_version(value: float) -> float:
    if value not in rules.HTTP_VERSIONS:
        raise ValueError("must be 1.0 or 1.1")
    return value


Seconds = Annotated[int, Field(ge=0, le=INT32_MAX)]
Retries = Annotated[int, Field(ge=rules.MIN_RETRIES, le=rules.MAX_RETRIES)]
UrlPath = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_url_path)]
ExpectedCodes = Annotated[str, StringConstraints(max_length=64), AfterValidator(_expected_codes)]
DomainName = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_domain_name)
]
HttpVersion = Annotated[float, AfterValidator(_http_version)]


class _Settable(Strict):
    name: Text255 | None = None
    http_method: HttpMethod | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    tags: Tags | None = None
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None


class HealthMonitorGraphCreate(_Settable):
    """A monitor inside a full-graph create (Octavia's HealthMonitorSingleCreate)."""

    type: HealthMonitorType
    delay: Seconds
    timeout: Seconds
    max_retries: Retries
    max_retries_down: Retries | None = rules.DEFAULT_MAX_RETRIES_DOWN
    admin_state_up: bool = True


class HealthMonitorCreate(HealthMonitorGraphCreate):
    pool_id: Uuid
    # Deprecated in Octavia and ignored: a monitor belongs to its load balancer's project.
    project_id: Text255 | None = None
    tenant_id: Text255 | None = None


class HealthMonitorUpdate(_Settable):
    delay: Seconds | None = None
    timeout: Seconds | None = None
    max_retries: Retries | None = None
    max_retries_down: Retries | None = None
    admin_state_up: bool | None = None


class HealthMonitorCreateBody(Envelope):
    healthmonitor: HealthMonitorCreate


class HealthMonitorUpdateBody(Envelope):
    healthmonitor: HealthMonitorUpdate = Field(default_factory=HealthMonitorUpdate)


def healthmonitor_view(hm: HealthMonitor) -> dict[str, Any]:
    return {
        "id": hm.id,
        "name": hm.name or "",
        "type": hm.type,
        "delay": hm.delay,
        "timeout": hm.timeout,
        "max_retries": hm.max_retries,
        "max_retries_down": hm.max_retries_down,
        "http_method": hm.http_method,
        "url_path": hm.url_path,
        "expected_codes": hm.expected_codes,
        "admin_state_up": hm.admin_state_up,
        "project_id": hm.project_id,
        "tenant_id": hm.project_id,
        "pools": [{"id": hm.pool_id}],
        "provisioning_status": hm.provisioning_status,
        "operating_status": hm.operating_status,
        "created_at": timestamp(hm.created_at),
        "updated_at": timestamp(hm.updated_at),
        "tags": hm.tags,
        "http_version": hm.http_version,
        "domain_name": hm.domain_name,
    }
