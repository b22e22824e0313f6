"""ACTIVE_STANDBY needs the ``netns`` compute driver: with ``local`` the API says so (400).

Amphorae of the ``local`` driver share the host's loopback, so there is no network segment
on which keepalived could move a VIP. The refusal comes where a user or operator asks for
the topology: a flavor profile, and a load balancer whose flavor asks for it (the compute
driver may have changed since the flavor was made). No reconciler runs: nothing boots.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.db.models import Flavor, FlavorProfile
from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET
from tests.integration.test_flavors import ADMIN, MEMBER, make_profile

Factory = Callable[..., TestClient]
AS = {"loadbalancer_topology": "ACTIVE_STANDBY"}


def _api(settings_factory: Callable[..., Settings], client_factory: Factory, driver: str) -> Any:
    settings = settings_factory(default_provider_driver="amphora", compute_driver=driver)
    return client_factory(settings, with_reconciler=False)


def test_local_driver_refuses_an_active_standby_flavor_profile(
    settings_factory: Callable[..., Settings], client_factory: Factory
) -> None:
    client = _api(settings_factory, client_factory, "local")
    refused = make_profile(client, AS, provider="amphora")
    assert refused.status_code == 400, refused.text
    fault = refused.json()["faultstring"]
    assert "ACTIVE_STANDBY" in fault and "netns" in fault and "'local'" in fault
    assert (
        make_profile(client, {"loadbalancer_topology": "SINGLE"}, provider="amphora").status_code
        == 201
    )
    unknown = make_profile(client, {"loadbalancer_topology": "N_PLUS_ONE"}, provider="amphora")
    assert unknown.status_code == 501  # a value the provider does not know: "unsupported"


def test_netns_driver_accepts_an_active_standby_flavor_profile(
    settings_factory: Callable[..., Settings], client_factory: Factory
) -> None:
    client = _api(settings_factory, client_factory, "netns")
    created = make_profile(client, AS, provider="amphora")
    assert created.status_code == 201, created.text


def test_local_driver_refuses_a_load_balancer_of_an_active_standby_flavor(
    settings_factory: Callable[..., Settings], client_factory: Factory
) -> None:
    client = _api(settings_factory, client_factory, "local")
    # A flavor made while the deployment ran netns, written as the API would have.
    profile_id, flavor_id = str(uuid.uuid4()), str(uuid.uuid4())
    with client.app.state.portico.db.writing() as session:  # type: ignore[attr-defined]
        session.add(
            FlavorProfile(
                id=profile_id, name="ha", provider_name="amphora", flavor_data=json.dumps(AS)
            )
        )
        session.flush()
        session.add(Flavor(id=flavor_id, name="ha", flavor_profile_id=profile_id, enabled=True))
    body = {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, "flavor_id": flavor_id}}
    refused = client.post("/v2/lbaas/loadbalancers", json=body, headers=MEMBER)
    assert refused.status_code == 400, refused.text
    assert "ACTIVE_STANDBY" in refused.json()["faultstring"]
    listed = client.get("/v2/lbaas/loadbalancers", headers=ADMIN).json()["loadbalancers"]
    assert listed == []  # nothing was recorded


@pytest.mark.parametrize("topology", ["SINGLE", None])
def test_single_flavors_still_make_load_balancers(
    settings_factory: Callable[..., Settings], client_factory: Factory, topology: str | None
) -> None:
    client = _api(settings_factory, client_factory, "local")
    data = {"loadbalancer_topology": topology} if topology else {}
    made = make_profile(client, data, provider="amphora")
    assert made.status_code == 201, made.text
    flavor = client.post(
        "/v2/lbaas/flavors",
        json={"flavor": {"name": "f", "flavor_profile_id": made.json()["flavorprofile"]["id"]}},
        headers=ADMIN,
    )
    body = {
        "loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, "flavor_id": flavor.json()["flavor"]["id"]}
    }
    assert client.post("/v2/lbaas/loadbalancers", json=body, headers=MEMBER).status_code == 201
