"""``PUT /v2/portico/loadbalancers/{id}/migrate`` to another availability zone, through the API.

On SQLite and PostgreSQL, no reconciler (load balancers stay PENDING_* until ``converge``),
the noop provider: what is checked here is the validation (a zone as Octavia checks one on
create, of the load balancer's provider) and what is stored; a refused migrate leaves the
load balancer as it was. The data-plane effect is in tests/e2e/test_migrate_zone.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.db.models import LoadBalancer
from portico.drivers.compute.registry import installed_compute_drivers
from portico.settings import Settings
from tests.conftest import converge, create_lb

AZP = "/v2/lbaas/availabilityzoneprofiles"
AZ = "/v2/lbaas/availabilityzones"


@pytest.fixture
def idle(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> TestClient:
    return client_factory(settings_factory(database_url), with_reconciler=False)


def _profile(client: TestClient, data: dict[str, Any], provider: str = "noop") -> Any:
    body = {
        "availability_zone_profile": {
            "name": "azp",
            "provider_name": provider,
            "availability_zone_data": json.dumps(data),
        }
    }
    return client.post(AZP, json=body)


def _zone(
    client: TestClient, name: str, data: dict[str, Any], provider: str = "noop", **fields: Any
) -> str:
    profile = _profile(client, data, provider)
    assert profile.status_code == 201, profile.text
    azp_id = profile.json()["availability_zone_profile"]["id"]
    body = {"availability_zone": {"name": name, "availability_zone_profile_id": azp_id, **fields}}
    created = client.post(AZ, json=body)
    assert created.status_code == 201, created.text
    return name


def _migrate(client: TestClient, lb_id: str, migration: Any) -> Any:
    return client.put(f"/v2/portico/loadbalancers/{lb_id}/migrate", json={"migration": migration})


def _lb(client: TestClient, lb_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
    return found


def _active(client: TestClient, **fields: Any) -> str:
    lb_id = create_lb(client, **fields)
    converge(client)
    assert _lb(client, lb_id)["provisioning_status"] == "ACTIVE"
    return lb_id


def test_migrate_to_a_zone_records_it_and_migrating_back_to_none_undoes_it(
    idle: TestClient,
) -> None:
    a = _zone(idle, "az-a", {"compute_zone": "zone-a"})
    b = _zone(idle, "az-b", {"compute_zone": "zone-b"})
    lb_id = _active(idle, availability_zone=a)
    accepted = _migrate(idle, lb_id, {"availability_zone": b})
    assert accepted.status_code == 202, accepted.text
    lb = _lb(idle, lb_id)
    assert (lb["availability_zone"], lb["provisioning_status"]) == (b, "PENDING_UPDATE")
    converge(idle)
    assert _lb(idle, lb_id)["provisioning_status"] == "ACTIVE"
    # ``null`` leaves the zone: the deployment's default placement again.
    assert _migrate(idle, lb_id, {"availability_zone": None}).status_code == 202
    assert _lb(idle, lb_id)["availability_zone"] is None
    converge(idle)
    # An image and a zone in one call.
    assert _migrate(idle, lb_id, {"availability_zone": a, "amphora_image": "v2"}).status_code == 202
    assert _lb(idle, lb_id)["availability_zone"] == a


def test_migrate_refuses_zones_as_octavia_refuses_them_on_create(idle: TestClient) -> None:
    here = _zone(idle, "az-a", {"compute_zone": "zone-a"})
    _zone(idle, "off", {"compute_zone": "zone-x"}, enabled=False)
    _zone(idle, "theirs", {}, provider="amphora")
    lb_id = _active(idle, availability_zone=here)
    before = _lb(idle, lb_id)
    cases = {
        "nowhere": "Validation failure: Invalid availability zone.",
        "off": "The selected availability_zone is not allowed in this deployment: off",
        "theirs": "Availability zone 'theirs' is not compatible with provider 'noop'",
    }
    for name, faultstring in cases.items():
        refused = _migrate(idle, lb_id, {"availability_zone": name})
        assert refused.status_code == 400, refused.text
        assert refused.json()["faultstring"] == faultstring
    assert _lb(idle, lb_id) == before  # nothing half applied: still ACTIVE, same zone


def test_migrate_to_a_zone_while_pending_is_409(idle: TestClient) -> None:
    target = _zone(idle, "az-b", {"compute_zone": "zone-b"})
    pending = create_lb(idle)
    refused = _migrate(idle, pending, {"availability_zone": target})
    assert refused.status_code == 409, refused.text
    assert _lb(idle, pending)["availability_zone"] is None


@pytest.mark.parametrize(
    "migration",
    [
        {"availability_zone": ""},
        {"availability_zone": 3},
        {"amphora_image": None},
        {"amphora_image": None, "availability_zone": None},
        {"availability_zone": "x" * 256},
    ],
)
def test_migrate_refuses_bad_zone_bodies_with_400(idle: TestClient, migration: Any) -> None:
    lb_id = _active(idle)
    refused = _migrate(idle, lb_id, migration)
    assert refused.status_code == 400, refused.text
    assert refused.json()["faultcode"] == "Client"


def test_a_zone_profile_names_only_an_installed_compute_driver(idle: TestClient) -> None:
    refused = _profile(idle, {"compute_driver": "nope"}, provider="amphora")
    assert refused.status_code == 501, refused.text
    faultstring = refused.json()["faultstring"]
    assert "compute_driver 'nope' is not one of the installed compute drivers" in faultstring
    assert {"local", "netns", "fake"} <= installed_compute_drivers()
    assert all(name in faultstring for name in ("fake", "local", "netns"))
    accepted = _profile(idle, {"compute_driver": "fake", "compute_zone": "z"}, provider="amphora")
    assert accepted.status_code == 201, accepted.text
    capabilities = idle.get("/v2/lbaas/providers/amphora/availability_zone_capabilities")
    names = {c["name"] for c in capabilities.json()["availability_zone_capabilities"]}
    assert names == {"compute_zone", "compute_driver"}


def test_a_pair_cannot_migrate_onto_a_compute_driver_without_vrrp(idle: TestClient) -> None:
    _zone(idle, "flat", {"compute_driver": "local"}, provider="amphora")
    _zone(idle, "bridged", {"compute_driver": "netns"}, provider="amphora")
    lb_id = create_lb(idle, provider="amphora")
    # A pair that serves (how it got there is tests/e2e's): only its row matters here.
    db = idle.app.state.portico.db  # type: ignore[attr-defined]
    with db.writing() as session:
        lb = session.get(LoadBalancer, lb_id)
        lb.topology, lb.provisioning_status = "ACTIVE_STANDBY", "ACTIVE"
    refused = _migrate(idle, lb_id, {"availability_zone": "flat"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["faultstring"] == (
        "Availability zone 'flat' places amphorae on compute driver 'local', which cannot run "
        "ACTIVE_STANDBY (no shared segment for VRRP)"
    )
    assert _lb(idle, lb_id)["provisioning_status"] == "ACTIVE"
    assert _migrate(idle, lb_id, {"availability_zone": "bridged"}).status_code == 202
