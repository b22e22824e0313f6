"""Provider API: the exact enabled list, capabilities, and Octavia's errors for the rest."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from portico.drivers.providers.base import (
    ApplyResult,
    DescribesCapabilities,
    LoadBalancerSnapshot,
    Provider,
)
from portico.drivers.providers.noop import NoopProvider
from portico.settings import Settings

P = "/v2/lbaas/providers"
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin"}
MEMBER = {"X-Project-Id": "project-a", "X-Roles": "member"}
OBSERVER = {"X-Project-Id": "project-a", "X-Roles": "reader"}
NOBODY = {"X-Project-Id": "project-a", "X-Roles": "something-else"}


def test_list_is_exactly_the_configured_enabled_providers(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    enabled = {"noop": "Does nothing, quickly."}
    client = client_factory(settings_factory(enabled_provider_drivers=enabled))
    body = client.get(P, headers=MEMBER).json()
    assert body == {"providers": [{"name": "noop", "description": "Does nothing, quickly."}]}


def test_list_honours_fields_and_v2_0(client: TestClient) -> None:
    body = client.get("/v2.0/lbaas/providers", params={"fields": "name"}, headers=OBSERVER)
    assert body.json() == {"providers": [{"name": "amphora"}, {"name": "noop"}]}


def test_list_needs_a_reader_role(client: TestClient) -> None:
    assert client.get(P, headers=NOBODY).status_code == 403


def test_noop_declares_its_flavor_capabilities(client: TestClient) -> None:
    body = client.get(f"{P}/noop/flavor_capabilities", headers=ADMIN).json()
    names = [item["name"] for item in body["flavor_capabilities"]]
    assert names == ["loadbalancer_topology"]
    assert "ACTIVE_STANDBY" in body["flavor_capabilities"][0]["description"]


def test_noop_declares_its_availability_zone_capabilities(client: TestClient) -> None:
    body = client.get(f"{P}/noop/availability_zone_capabilities", headers=ADMIN).json()
    assert [item["name"] for item in body["availability_zone_capabilities"]] == ["compute_zone"]


def test_capabilities_filter_by_name_and_select_fields(client: TestClient) -> None:
    path = f"{P}/noop/flavor_capabilities"
    none = client.get(path, params={"name": "amp_image_tag"}, headers=ADMIN).json()
    assert none == {"flavor_capabilities": []}
    named = client.get(
        path, params={"name": "loadbalancer_topology", "fields": "name"}, headers=ADMIN
    ).json()
    assert named == {"flavor_capabilities": [{"name": "loadbalancer_topology"}]}


def test_capabilities_of_an_unknown_provider_are_400(client: TestClient) -> None:
    for kind in ("flavor_capabilities", "availability_zone_capabilities"):
        response = client.get(f"{P}/octavia/{kind}", headers=ADMIN)
        assert response.status_code == 400
        assert response.json()["faultstring"] == "Provider 'octavia' is not enabled."


def test_capabilities_are_admin_only(client: TestClient) -> None:
    for kind in ("flavor_capabilities", "availability_zone_capabilities"):
        assert client.get(f"{P}/noop/{kind}", headers=MEMBER).status_code == 403


class _BareProvider:
    """A provider that implements the core contract and no flavor support."""

    name = "noop"
    description = "bare"

    async def apply(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        return ApplyResult()

    async def delete(self, snapshot: LoadBalancerSnapshot) -> None:
        return None

    def unsupported(self, feature: str) -> bool:
        return False


def test_provider_without_capabilities_answers_501(client: TestClient) -> None:
    client.app.state.portico.providers = {"noop": _BareProvider()}  # type: ignore[attr-defined]
    response = client.get(f"{P}/noop/flavor_capabilities", headers=ADMIN)
    assert response.status_code == 501
    assert response.json()["faultstring"] == (
        "Provider 'noop' does not support a requested action: "
        "This feature is not implemented by the provider."
    )
    profile = {"name": "p", "provider_name": "noop", "flavor_data": "{}"}
    created = client.post(
        "/v2/lbaas/flavorprofiles", json={"flavorprofile": profile}, headers=ADMIN
    )
    assert created.status_code == 501


def test_enabled_provider_without_a_loaded_driver_is_501(client: TestClient) -> None:
    client.app.state.portico.providers = {}  # type: ignore[attr-defined]
    response = client.get(f"{P}/noop/availability_zone_capabilities", headers=ADMIN)
    assert response.status_code == 501
    assert response.json()["faultstring"] == "Provider 'noop' was not found."


def test_noop_implements_both_protocols() -> None:
    noop = NoopProvider()
    assert isinstance(noop, Provider)
    assert isinstance(noop, DescribesCapabilities)
    assert isinstance(_BareProvider(), Provider)
    assert not isinstance(_BareProvider(), DescribesCapabilities)
