"""Migrating an ACTIVE_STANDBY load balancer into another availability zone under traffic.

The same path as a rotation (tests/e2e/test_netns_rotation.py): each amphora booted in no
zone is off target once the load balancer's zone names ``compute_zone: zone-b``, and is
replaced one per pass, the BACKUP first, the old MASTER handing the VIP over (agent API
1.2). The sequential fresh-connection prober of the rotation test runs throughout: no
request may fail, and the pair ends with both amphorae recording the zone, one MASTER
holding the VIP. (``netns`` records the zone and boots on this host, as it has one.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portico.cli.upgrades import migrate_to
from portico.settings import Settings
from tests.e2e.test_netns_active_standby import VIP, active_standby
from tests.e2e.test_netns_rotation import MEMBER_DELAY, under_probe

pytestmark = pytest.mark.xdist_group("netns")
URL = f"http://{VIP}/"


def test_migrating_a_pair_into_another_zone_fails_no_request(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    with active_standby(
        client_factory, settings_factory, tmp_path, member_delay=MEMBER_DELAY
    ) as pair:
        client = pair.client
        data = json.dumps({"compute_zone": "zone-b", "compute_driver": "netns"})
        body = {"name": "azp", "provider_name": "amphora", "availability_zone_data": data}
        profile = client.post(
            "/v2/lbaas/availabilityzoneprofiles", json={"availability_zone_profile": body}
        )
        assert profile.status_code == 201, profile.text
        zone = {
            "name": "az-b",
            "availability_zone_profile_id": profile.json()["availability_zone_profile"]["id"],
        }
        assert (
            client.post("/v2/lbaas/availabilityzones", json={"availability_zone": zone}).status_code
            == 201
        )
        old = {a["id"] for a in pair.amphorae()}
        assert {a["cached_zone"] for a in pair.amphorae()} == {None}
        migration, _ = under_probe(
            pair,
            lambda: migrate_to(client, pair.lb_id, {"availability_zone": "az-b"}, timeout=180),
            what="migrated",
        )
        assert migration.failed == []
        roles = pair.by_role()
        assert sorted(roles) == ["BACKUP", "MASTER"]
        assert {(a["cached_zone"], a["compute_driver"]) for a in roles.values()} == {
            ("zone-b", "netns")
        }
        assert not {a["id"] for a in roles.values()} & old
        assert pair.holders() == [roles["MASTER"]["id"]]
