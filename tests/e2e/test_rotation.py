"""Rotation, migration and the amphora config push with real amphorae and traffic (local).

An in-process portico on the ``local`` driver boots amphorae of image ``v1``; ``rotate_all``
(what ``portico admin rotate`` runs) moves them onto ``v2`` one load balancer at a time while
a bounded load runs through each VIP. SINGLE cannot be rotated without a gap (its one
amphora's VIP moves), so the failed requests are printed, not asserted zero; what is asserted
is that every load balancer ends on ``v2`` amphorae, serving, and that the ``v1`` ones are
gone. A target whose image cannot boot stops the rotation at the first load balancer, which
keeps serving from its old amphora, and the others are not touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from portico import bootstrap
from portico.cli.upgrades import Refused, pending, rotate_all
from portico.db.models import Amphora
from portico.settings import ImageSetting, Settings
from tests.conftest import wait_for, wait_lb_status
from tests.e2e.conftest import AmphoraRig
from tests.support.amphorae import get_through, reap_amphorae
from tests.support.backends import Backend
from tests.support.dataplane import build_lb, http_listener
from tests.support.load import Load

AMPS, LBS = "/v2/octavia/amphorae", "/v2/lbaas/loadbalancers"
PORT = 8080
IMAGES = {
    "v1": ImageSetting(agent_version="1.0.0"),
    "v2": ImageSetting(agent_version="2.0.0"),
    "old": ImageSetting(agent_version="0.9.0", api_versions=["1.0"]),
}
MEMBER = {"X-Roles": "member"}


@pytest.fixture
def rig(amphora_rig: AmphoraRig) -> tuple[TestClient, Settings]:
    """Amphorae boot image ``v1``; ``v2`` and ``old`` are there to rotate onto."""
    return amphora_rig(amphora_image="v1", compute_images=IMAGES)


def _lb(client: TestClient, servers: list[Backend]) -> dict[str, Any]:
    return build_lb(client, [http_listener(PORT, servers)])


def _amphorae(client: TestClient, lb_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(AMPS, params={"loadbalancer_id": lb_id}).json()[
        "amphorae"
    ]
    return [a for a in found if a["status"] != "DELETED"]


def _url(lb: dict[str, Any]) -> str:
    return f"http://{lb['vip_address']}:{PORT}/"


def test_rotate_moves_every_load_balancer_onto_the_new_image_one_at_a_time(
    rig: tuple[TestClient, Settings], servers: list[Backend]
) -> None:
    client, _ = rig
    lbs = [_lb(client, servers) for _ in range(2)]
    before = {lb["id"]: {a["id"] for a in _amphorae(client, lb["id"])} for lb in lbs}
    assert all(a["image_id"] == "v1" for lb in lbs for a in _amphorae(client, lb["id"]))
    assert pending(client, "v2") == sorted(lb["id"] for lb in lbs)
    loads = [Load(lb["vip_address"], PORT, keepalive=1, fresh=1, rate=20, seconds=60) for lb in lbs]
    for load in loads:
        load.__enter__()
    try:
        done = rotate_all(client, "v2", interval=0.5, timeout=60, echo=print)
    finally:
        results = [load.stop() for load in loads]
    assert done == sorted(lb["id"] for lb in lbs)
    for lb, result in zip(lbs, results, strict=True):
        # Measured, not asserted: a SINGLE amphora's replacement takes its VIP over.
        print(f"{lb['id']}: {result.ok} ok, {result.failed} failed {dict(result.reasons)}")
        assert result.ok > 0
        now = _amphorae(client, lb["id"])
        assert [(a["status"], a["image_id"]) for a in now] == [("ALLOCATED", "v2")]
        assert not {a["id"] for a in now} & before[lb["id"]]
        assert wait_lb_status(client, lb["id"])["provisioning_status"] == "ACTIVE"
        assert get_through(_url(lb)).status_code == 200
    assert pending(client, "v2") == []
    # Nothing left to do: running it again rotates nothing.
    assert rotate_all(client, "v2", interval=0, timeout=5, echo=print) == []


def test_a_rotation_stops_at_the_first_failure_and_the_old_amphora_keeps_serving(
    rig: tuple[TestClient, Settings], servers: list[Backend]
) -> None:
    client, settings = rig
    lbs = sorted((_lb(client, servers) for _ in range(2)), key=lambda lb: lb["id"])
    first, second = lbs
    untouched = client.get(f"{LBS}/{second['id']}").json()["loadbalancer"]
    with pytest.raises(Refused, match="ERROR"):
        rotate_all(client, "v9", interval=0, timeout=60, echo=print)  # not an image offered
    # The failed one still serves from its v1 amphora; the second was never asked.
    kept = [(a["status"], a["image_id"]) for a in _amphorae(client, first["id"])]
    assert ("ALLOCATED", "v1") in kept
    assert get_through(_url(first)).status_code == 200
    after = client.get(f"{LBS}/{second['id']}").json()["loadbalancer"]
    assert after["updated_at"] == untouched["updated_at"]
    assert after["provisioning_status"] == "ACTIVE"
    # Migrating back is how a failed rotation is undone: ERROR is accepted, then ACTIVE.
    back = client.put(
        f"/v2/portico/loadbalancers/{first['id']}/migrate",
        json={"migration": {"amphora_image": "v1"}},
    )
    assert back.status_code == 202, back.text
    wait_lb_status(client, first["id"], timeout=30)
    db = bootstrap.build_database(settings)
    try:
        with db.reading() as session:
            rows = session.scalars(select(Amphora).where(Amphora.load_balancer_id == first["id"]))
            live = [(a.status, a.image_id) for a in rows if a.status != "DELETED"]
    finally:
        db.dispose()
    assert live == [("ALLOCATED", "v1")]  # the v9 row that never booted is gone


def test_config_push_reaches_the_agent_and_an_older_agent_api_is_refused_with_409(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
    servers: list[Backend],
) -> None:
    settings = settings_factory(
        default_provider_driver="amphora",
        compute_driver="local",
        amphora_image="old",
        compute_images=IMAGES,
    )
    try:
        client = client_factory(settings)
        old = _lb(client, servers)
        (old_amphora,) = _amphorae(client, old["id"])
        assert old_amphora["status"] == "ALLOCATED"
        # Driven correctly on agent API 1.0: it serves, and a member change goes through.
        assert get_through(_url(old)).status_code == 200
        refused = client.put(f"{AMPS}/{old_amphora['id']}/config")
        assert refused.status_code == 409, refused.text
        assert "agent API 1.0" in refused.json()["faultstring"]
        # Rotated onto an image whose agent speaks 1.1, the same call is taken and applied.
        moved = client.put(
            f"/v2/portico/loadbalancers/{old['id']}/migrate",
            json={"migration": {"amphora_image": "v2"}},
        )
        assert moved.status_code == 202
        (new,) = wait_for(
            lambda: (
                [a for a in _amphorae(client, old["id"]) if a["image_id"] == "v2"]
                if wait_lb_status(client, old["id"], timeout=30)
                and len(_amphorae(client, old["id"])) == 1
                else None
            ),
            timeout=30,
        )
        assert client.put(f"{AMPS}/{new['id']}/config", headers=MEMBER).status_code == 403
        assert client.put(f"{AMPS}/{'0' * 8}-0000-0000-0000-{'0' * 12}/config").status_code == 404
        accepted = client.put(f"{AMPS}/{new['id']}/config")
        assert accepted.status_code == 202, accepted.text
        wait_lb_status(client, old["id"], timeout=30)
        config_file = tmp_path / "amphorae" / new["id"] / "agent.json"
        assert json.loads(config_file.read_text())["heartbeat_targets"] == (
            settings.effective_heartbeat_targets
        )
        db = bootstrap.build_database(settings)
        try:
            with db.reading() as session:
                row = session.get(Amphora, new["id"])
                assert row is not None and row.agent_config_pending is None
        finally:
            db.dispose()
        assert get_through(_url(old)).status_code == 200
    finally:
        reap_amphorae(tmp_path)


def test_minor_upgrade_renders_for_what_each_amphora_reported_without_replacing_it(
    rig: tuple[TestClient, Settings], servers: list[Backend]
) -> None:
    """Capability-based rendering, checked end to end: no rotation for a minor upgrade.

    One amphora's row says what an amphora of an older image reported at boot (no
    ``idle_close_on_response``, which haproxy < 2.6 lacks); the controller's next push renders
    for that, the agent's ``haproxy -c`` takes it and it serves, while the other amphora, which
    reported the capability, keeps getting it. Neither is replaced.
    """
    client, settings = rig
    older, newer = (_lb(client, servers) for _ in range(2))
    (old_amp,) = _amphorae(client, older["id"])
    (new_amp,) = _amphorae(client, newer["id"])
    db = bootstrap.build_database(settings)
    try:
        with db.writing() as session:
            row = session.get(Amphora, old_amp["id"])
            assert row is not None and "idle_close_on_response" in row.capabilities
            row.capabilities = [c for c in row.capabilities if c != "idle_close_on_response"]
    finally:
        db.dispose()
    for lb in (older, newer):
        changed = client.put(f"{LBS}/{lb['id']}", json={"loadbalancer": {"name": "minor"}})
        assert changed.status_code == 200, changed.text
        wait_lb_status(client, lb["id"], timeout=30)

    def cfg(amphora: dict[str, Any]) -> str:
        path = Path(settings.data_dir) / "amphorae" / amphora["id"] / "haproxy" / "haproxy.cfg"
        return path.read_text()

    assert "idle-close-on-response" not in cfg(old_amp)
    assert "idle-close-on-response" in cfg(new_amp)
    for lb, amphora in ((older, old_amp), (newer, new_amp)):
        assert get_through(_url(lb)).status_code == 200
        assert [a["id"] for a in _amphorae(client, lb["id"])] == [amphora["id"]]
