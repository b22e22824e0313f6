"""``auth_strategy = keystone``: the real keystonemiddleware against a Keystone stand-in.

Proves that the caller comes from the token alone (project, roles), that a missing or bad
token is a 401 with the ``WWW-Authenticate`` challenge clients follow, that headers a client
sets cannot claim another project or role, and that Octavia's policy applies on top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import create_lb
from tests.support.keystone_stub import SERVICE_PASSWORD, SERVICE_USER, KeystoneStub

LBS = "/v2/lbaas/loadbalancers"


@pytest.fixture
def keystone() -> Iterator[KeystoneStub]:
    stub = KeystoneStub().start()
    try:
        yield stub
    finally:
        stub.stop()


def keystone_settings(
    settings_factory: Callable[..., Settings], keystone: KeystoneStub, **overrides: Any
) -> Settings:
    return settings_factory(
        auth_strategy="keystone",
        keystone_auth_url=f"{keystone.url}/v3",
        keystone_service_username=SERVICE_USER,
        keystone_service_password=SERVICE_PASSWORD,
        **overrides,
    )


@pytest.fixture
def api(
    client_factory: Callable[[Settings], TestClient],
    settings_factory: Callable[..., Settings],
    keystone: KeystoneStub,
) -> TestClient:
    return client_factory(keystone_settings(settings_factory, keystone))


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"X-Auth-Token": token, **extra}


def test_valid_token_makes_its_project_the_owner(api: TestClient, keystone: KeystoneStub) -> None:
    token = keystone.add_token("project-a", "member", "reader")
    lb_id = create_lb(api, auth(token))
    body = api.get(f"{LBS}/{lb_id}", headers=auth(token)).json()["loadbalancer"]
    assert body["project_id"] == "project-a"


@pytest.mark.parametrize("token", [None, "not-a-known-token"])
def test_missing_or_invalid_token_is_401_with_keystone_challenge(
    api: TestClient, keystone: KeystoneStub, token: str | None
) -> None:
    headers = auth(token) if token else {}
    response = api.get(LBS, headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "faultcode": "Client",
        "faultstring": "The request you have made requires authentication.",
        "debuginfo": None,
    }
    assert response.headers["www-authenticate"] == f'Keystone uri="{keystone.url}/v3"'


def test_www_authenticate_uri_setting_is_advertised(
    client_factory: Callable[[Settings], TestClient],
    settings_factory: Callable[..., Settings],
    keystone: KeystoneStub,
) -> None:
    settings = keystone_settings(
        settings_factory, keystone, keystone_www_authenticate_uri="https://keystone.example/v3"
    )
    response = client_factory(settings).get(LBS)
    assert response.headers["www-authenticate"] == 'Keystone uri="https://keystone.example/v3"'


def test_spoofed_project_and_role_headers_are_ignored(
    api: TestClient, keystone: KeystoneStub
) -> None:
    a_member = keystone.add_token("project-a", "member", "reader")
    b_member = keystone.add_token("project-b", "member", "reader")
    b_lb = create_lb(api, auth(b_member))
    spoof = {"X-Project-Id": "project-b", "X-Tenant-Id": "project-b", "X-Roles": "admin"}
    spoof |= {"X-Identity-Status": "Confirmed", "X-User-Id": "someone-else"}

    a_lb = create_lb(api, auth(a_member, **spoof))
    owner = api.get(f"{LBS}/{a_lb}", headers=auth(a_member)).json()["loadbalancer"]["project_id"]
    assert owner == "project-a"
    assert api.get(f"{LBS}/{b_lb}", headers=auth(a_member, **spoof)).status_code == 403
    listed = api.get(LBS, headers=auth(a_member, **spoof)).json()["loadbalancers"]
    assert [lb["id"] for lb in listed] == [a_lb]
    # Without any token the spoofed headers do not authenticate at all.
    assert api.get(LBS, headers=spoof).status_code == 401


def test_reader_can_read_but_not_write(api: TestClient, keystone: KeystoneStub) -> None:
    member = keystone.add_token("project-a", "member", "reader")
    reader = keystone.add_token("project-a", "reader")
    lb_id = create_lb(api, auth(member))

    assert api.get(f"{LBS}/{lb_id}", headers=auth(reader)).status_code == 200
    assert [lb["id"] for lb in api.get(LBS, headers=auth(reader)).json()["loadbalancers"]] == [
        lb_id
    ]
    body = {"loadbalancer": {"vip_subnet_id": "9f4c6a58-2f6e-4c55-9a35-7d1c0e7b0a01"}}
    assert api.post(LBS, json=body, headers=auth(reader)).status_code == 403
    update = {"loadbalancer": {"name": "renamed"}}
    assert api.put(f"{LBS}/{lb_id}", json=update, headers=auth(reader)).status_code == 403
    assert api.delete(f"{LBS}/{lb_id}", headers=auth(reader)).status_code == 403


def test_member_of_one_project_cannot_see_another_projects_load_balancer(
    api: TestClient, keystone: KeystoneStub
) -> None:
    a_member = keystone.add_token("project-a", "member", "reader")
    b_member = keystone.add_token("project-b", "member", "reader")
    admin = keystone.add_token("admin-project", "admin", "member", "reader")
    b_lb = create_lb(api, auth(b_member))

    assert api.get(f"{LBS}/{b_lb}", headers=auth(a_member)).status_code == 403
    assert api.get(LBS, headers=auth(a_member)).json()["loadbalancers"] == []
    update = {"loadbalancer": {"name": "mine-now"}}
    assert api.put(f"{LBS}/{b_lb}", json=update, headers=auth(a_member)).status_code == 403
    assert api.delete(f"{LBS}/{b_lb}", headers=auth(a_member)).status_code == 403
    everyone = api.get(LBS, headers=auth(admin)).json()["loadbalancers"]
    assert [lb["id"] for lb in everyone] == [b_lb]


def test_load_balancer_roles_and_role_case_are_honoured(
    api: TestClient, keystone: KeystoneStub
) -> None:
    lb_member = keystone.add_token("project-a", "load-balancer_member")
    observer = keystone.add_token("project-a", "Load-Balancer_Observer")
    lb_id = create_lb(api, auth(lb_member))
    assert api.get(f"{LBS}/{lb_id}", headers=auth(observer)).status_code == 200
    update = {"loadbalancer": {"name": "renamed"}}
    assert api.put(f"{LBS}/{lb_id}", json=update, headers=auth(observer)).status_code == 403


def test_token_without_roles_is_forbidden(api: TestClient, keystone: KeystoneStub) -> None:
    nobody = keystone.add_token("project-a")
    assert api.get(LBS, headers=auth(nobody)).status_code == 403


def test_validated_token_is_cached(api: TestClient, keystone: KeystoneStub) -> None:
    token = keystone.add_token("project-a", "reader")
    for _ in range(3):
        assert api.get(LBS, headers=auth(token)).status_code == 200
    assert keystone.validations == 1


def test_cache_seconds_zero_validates_every_request(
    client_factory: Callable[[Settings], TestClient],
    settings_factory: Callable[..., Settings],
    keystone: KeystoneStub,
) -> None:
    api = client_factory(keystone_settings(settings_factory, keystone, keystone_cache_seconds=0))
    token = keystone.add_token("project-a", "reader")
    for _ in range(3):
        assert api.get(LBS, headers=auth(token)).status_code == 200
    assert keystone.validations == 3


def test_keystone_unreachable_is_503(
    client_factory: Callable[[Settings], TestClient],
    settings_factory: Callable[..., Settings],
    keystone: KeystoneStub,
) -> None:
    settings = keystone_settings(settings_factory, keystone)
    token = keystone.add_token("project-a", "reader")
    keystone.stop()
    response = client_factory(settings).get(LBS, headers=auth(token))
    assert response.status_code == 503
    assert response.json()["faultcode"] == "Server"


def test_unversioned_auth_url_is_discovered(
    client_factory: Callable[[Settings], TestClient],
    settings_factory: Callable[..., Settings],
    keystone: KeystoneStub,
) -> None:
    settings = keystone_settings(settings_factory, keystone).model_copy(
        update={"keystone_auth_url": keystone.url}
    )
    token = keystone.add_token("project-a", "reader")
    assert client_factory(settings).get(LBS, headers=auth(token)).status_code == 200


def test_version_discovery_needs_no_token(api: TestClient) -> None:
    # As Octavia, which lets "/" past keystonemiddleware: clients discover before they log in.
    response = api.get("/")
    assert response.status_code == 200
    assert response.json()["versions"]


def test_api_rate_limit_counts_the_tokens_project_not_a_header(
    client_factory: Callable[[Settings], TestClient],
    settings_factory: Callable[..., Settings],
    keystone: KeystoneStub,
) -> None:
    # 0.5 request/s refill: the test's own pace cannot earn a project a second token.
    api = client_factory(
        keystone_settings(settings_factory, keystone, api_rate_limit=0.5, api_rate_limit_burst=2)
    )
    flooder = keystone.add_token("project-a", "member")
    other = keystone.add_token("project-b", "member")
    assert [api.get(LBS, headers=auth(flooder)).status_code for _ in range(2)] == [200, 200]
    # A header naming another project does not move the flooder into a fresh bucket.
    spoofed = api.get(LBS, headers=auth(flooder, **{"X-Project-Id": "project-c"}))
    assert spoofed.status_code == 429, spoofed.text
    assert spoofed.headers["retry-after"].isdigit()
    assert api.get(LBS, headers=auth(other)).status_code == 200
    # An unauthenticated request is refused as such, not counted against anyone.
    assert api.get(LBS, headers=auth("not-a-known-token")).status_code == 401
    assert api.get(LBS, headers=auth(other)).status_code == 200
