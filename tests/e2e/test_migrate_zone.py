"""Migrating a load balancer into another availability zone, with real amphorae and traffic.

An in-process portico on the ``local`` driver, whose compute zones are directories
(``<data_dir>/zones/<zone>/<id>``). A SINGLE load balancer booted in no zone is migrated
into ``az-b`` (profile ``compute_zone: zone-b``) while a bounded load runs through its VIP:
its one amphora is replaced through the failover path, so the failed requests are printed,
not asserted zero (the figures are bench/migrate.py's). What is asserted: traffic flows
again, the new amphora records the zone and runs from the zone's place, the old one is
gone, and migrating out of the zone brings it back. A zone the driver cannot boot in sends
the load balancer to ERROR (nothing left PENDING_*), the old amphora serving throughout,
and migrating back undoes it without replacing that amphora.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.cli.upgrades import Refused, migrate_to
from portico.drivers.compute.processes import pid_alive, read_pid
from tests.conftest import wait_lb_status
from tests.e2e.conftest import AmphoraRig
from tests.support.amphorae import get_through
from tests.support.backends import Backend
from tests.support.dataplane import build_lb, http_listener
from tests.support.load import Load

AMPS, LBS = "/v2/octavia/amphorae", "/v2/lbaas/loadbalancers"
PORT = 8080


def _zone(client: TestClient, name: str, data: dict[str, Any]) -> None:
    profile = client.post(
        "/v2/lbaas/availabilityzoneprofiles",
        json={
            "availability_zone_profile": {
                "name": f"{name}-profile",
                "provider_name": "amphora",
                "availability_zone_data": json.dumps(data),
            }
        },
    )
    assert profile.status_code == 201, profile.text
    azp_id = profile.json()["availability_zone_profile"]["id"]
    body = {"availability_zone": {"name": name, "availability_zone_profile_id": azp_id}}
    assert client.post("/v2/lbaas/availabilityzones", json=body).status_code == 201


def _amphorae(client: TestClient, lb_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(AMPS, params={"loadbalancer_id": lb_id}).json()[
        "amphorae"
    ]
    return [a for a in found if a["status"] != "DELETED"]


def _agent_alive(base: Path) -> bool:
    pid = read_pid(base / "agent.pid")
    return pid is not None and pid_alive(pid)


def test_a_single_lb_migrates_into_another_zone_under_load_and_back_out(
    amphora_rig: AmphoraRig, servers: list[Backend], tmp_path: Path
) -> None:
    client, _ = amphora_rig()
    _zone(client, "az-b", {"compute_zone": "zone-b"})
    lb = build_lb(client, [http_listener(PORT, servers)])
    url = f"http://{lb['vip_address']}:{PORT}/"
    (old,) = _amphorae(client, lb["id"])
    assert (old["cached_zone"], old["compute_id"]) == (None, old["id"])
    with Load(lb["vip_address"], PORT, keepalive=1, fresh=1, rate=20, seconds=60) as load:
        seconds = migrate_to(client, lb["id"], {"availability_zone": "az-b"}, timeout=60)
        result = load.stop()
    # Measured, not asserted: a SINGLE amphora's replacement takes its VIP over.
    print(f"migrated in {seconds:.1f}s: {result.ok} ok, {result.failed} failed", result.reasons)
    assert result.ok > 0
    (new,) = _amphorae(client, lb["id"])
    assert new["id"] != old["id"]
    assert (new["status"], new["cached_zone"], new["compute_driver"]) == (
        "ALLOCATED",
        "zone-b",
        "local",
    )
    assert new["compute_id"] == f"zone-b:{new['id']}"
    assert _agent_alive(tmp_path / "zones" / "zone-b" / new["id"])
    assert not (tmp_path / "amphorae" / old["id"]).exists()  # the old amphora is gone
    shown = client.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]
    assert (shown["availability_zone"], shown["provisioning_status"]) == ("az-b", "ACTIVE")
    assert get_through(url).status_code == 200

    migrate_to(client, lb["id"], {"availability_zone": None}, timeout=60)
    (back,) = _amphorae(client, lb["id"])
    assert (back["cached_zone"], back["compute_id"]) == (None, back["id"])
    assert _agent_alive(tmp_path / "amphorae" / back["id"])
    assert not (tmp_path / "zones" / "zone-b" / new["id"]).exists()
    assert get_through(url).status_code == 200


def test_a_zone_that_cannot_boot_goes_to_error_serving_and_migrating_back_undoes_it(
    amphora_rig: AmphoraRig, servers: list[Backend]
) -> None:
    client, _ = amphora_rig()
    # A name the local driver cannot make a directory of: refused before anything boots.
    _zone(client, "broken", {"compute_zone": ".hidden"})
    lb = build_lb(client, [http_listener(PORT, servers)])
    url = f"http://{lb['vip_address']}:{PORT}/"
    (old,) = _amphorae(client, lb["id"])
    with pytest.raises(Refused, match="ERROR"):
        migrate_to(client, lb["id"], {"availability_zone": "broken"}, timeout=60)
    assert get_through(url).status_code == 200  # the old amphora still serves
    assert old["id"] in {a["id"] for a in _amphorae(client, lb["id"]) if a["status"] == "ALLOCATED"}
    # Migrating back (ERROR is accepted) leaves the old amphora, which is on target again,
    # and removes the row that never booted.
    migrate_to(client, lb["id"], {"availability_zone": None}, timeout=60)
    assert wait_lb_status(client, lb["id"])["provisioning_status"] == "ACTIVE"
    assert [(a["id"], a["status"]) for a in _amphorae(client, lb["id"])] == [
        (old["id"], "ALLOCATED")
    ]
    assert get_through(url).status_code == 200
