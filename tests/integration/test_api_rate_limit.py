"""API rate limiting per project through the API: the project over its budget gets 429 in
Octavia's body with Retry-After while another project is served; admins are exempt unless
configured otherwise; probes stay open; the limit is off by default."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import wait_for

LBS = "/v2/lbaas/loadbalancers"


def _as(project: str, role: str = "member") -> dict[str, str]:
    return {"X-Project-Id": project, "X-Roles": role}


def _statuses(
    client: TestClient, headers: dict[str, str], count: int, path: str = LBS
) -> list[int]:
    return [client.get(path, headers=headers).status_code for _ in range(count)]


def test_a_project_over_its_limit_is_refused_while_another_is_served(
    client_factory: Callable[[Settings], TestClient], settings_factory: Callable[..., Settings]
) -> None:
    # 0.5 request/s refill: the test's own pace cannot earn a project a second token.
    client = client_factory(settings_factory(api_rate_limit=0.5, api_rate_limit_burst=3))
    assert _statuses(client, _as("project-a"), 3) == [200, 200, 200]
    refused = client.get(LBS, headers=_as("project-a"))
    refused_at = time.monotonic()
    assert refused.status_code == 429, refused.text
    assert refused.json() == {
        "faultcode": "Client",
        "faultstring": "Rate limit exceeded: more than 0.5 API requests per second (burst 3) "
        "for this project.",
        "debuginfo": None,
    }
    assert refused.headers["Retry-After"] == "2"
    assert refused.headers["x-openstack-request-id"].startswith("req-")
    # Writes are refused as well, before their body is read.
    post = client.post(LBS, headers=_as("project-a"), json={"loadbalancer": {}})
    assert post.status_code == 429

    assert _statuses(client, _as("project-b"), 3) == [200, 200, 200]
    assert _statuses(client, _as("project-a", "admin"), 10) == [200] * 10
    # Probes and the version document are not rate limited.
    assert _statuses(client, _as("project-a"), 3, "/healthcheck") == [200] * 3
    assert _statuses(client, _as("project-a"), 3, "/") == [200] * 3

    # Served again once a token is back (about two seconds after the refusal).
    wait_for(lambda: client.get(LBS, headers=_as("project-a")).status_code == 200, timeout=5)
    assert time.monotonic() - refused_at > 1.0
    assert client.get(LBS, headers=_as("project-a")).status_code == 429


def test_admins_are_limited_when_not_exempt(
    client_factory: Callable[[Settings], TestClient], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(
        api_rate_limit=0.5, api_rate_limit_burst=2, api_rate_limit_admin_exempt=False
    )
    client = client_factory(settings)
    assert _statuses(client, _as("ops", "admin"), 3) == [200, 200, 429]


def test_without_the_setting_no_project_is_limited(client: TestClient) -> None:
    assert _statuses(client, _as("project-a"), 40) == [200] * 40
