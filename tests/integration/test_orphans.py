"""Orphan reaping with real amphorae (local driver processes; a netns namespace as root).

Things are made orphans behind portico's back, as crashes and hands do: a row deleted from
the database, an amphora killed on its host, a directory removed. Housekeeping's pass must
remove exactly those, fail over what served, and leave alone what is being booted and what
portico did not make.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from portico.db import migrate
from portico.db.engine import Database, make_engine
from portico.db.models import Amphora, Event
from portico.domain.constants import AmphoraStatus
from portico.domain.failover import Threshold
from portico.drivers.compute.base import AmphoraRequest, BootFiles
from portico.drivers.compute.fake import FakeCompute
from portico.drivers.compute.netns import NetnsCompute
from portico.drivers.compute.processes import pid_alive
from portico.orchestrator.fleet import Fleet
from portico.orchestrator.orphans import ReapReport, reap_orphans
from portico.services import amphora_records as records
from portico.services.placement import Placement
from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, wait_for, wait_lb_status
from tests.support.amphorae import amphora_pids, get_through, kill_amphora, reap_amphorae
from tests.support.backends import backends
from tests.support.netns import leftovers, require_netns

T = TypeVar("T")


class Harness:
    """A controller's fleet on its own event loop, against the test's database."""

    def __init__(self, settings: Settings) -> None:
        migrate.upgrade(settings.effective_database_url)
        self.db = Database(make_engine(settings.effective_database_url))
        self.fleet = Fleet(settings, self.db)
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def reap(self, *, grace: float = 0.0, threshold: Threshold | None = None) -> ReapReport:
        return self.run(reap_orphans(self.fleet, grace=grace, threshold=threshold))

    def status(self, amphora_id: str) -> str | None:
        with self.db.reading() as session:
            return session.scalar(select(Amphora.status).where(Amphora.id == amphora_id))

    def events(self, kind: str) -> list[Event]:
        with self.db.reading() as session:
            return list(session.scalars(select(Event).where(Event.kind == kind)))

    def forget_row(self, amphora_id: str) -> None:
        with self.db.writing() as session:
            session.execute(delete(Amphora).where(Amphora.id == amphora_id))

    def close(self) -> None:
        self.run(self.fleet.aclose())
        self.loop.close()
        self.db.dispose()


@pytest.fixture
def harness(amphora_settings: Settings, tmp_path: Path) -> Iterator[Harness]:
    item = Harness(amphora_settings)
    try:
        yield item
    finally:
        item.close()
        reap_amphorae(tmp_path)


def _boot_spare(harness: Harness) -> str:
    amphora_id = harness.run(harness.fleet.create_row(None))
    harness.run(harness.fleet.boot(amphora_id, None, status=AmphoraStatus.READY))
    return amphora_id


def test_an_amphora_whose_row_was_deleted_is_reaped_once_it_is_old_enough(
    harness: Harness, tmp_path: Path
) -> None:
    amphora_id = _boot_spare(harness)
    pids = amphora_pids(tmp_path)
    assert pids
    assert harness.reap() == ReapReport()  # its row names it: nothing to do
    harness.forget_row(amphora_id)

    # Younger than the grace period: perhaps a controller is booting it right now.
    assert harness.reap(grace=3600) == ReapReport()
    assert all(pid_alive(pid) for pid in pids)

    assert harness.reap().reaped == [amphora_id]
    assert not any(pid_alive(pid) for pid in pids)
    assert not (tmp_path / "amphorae" / amphora_id).exists()
    (event,) = harness.events("orphan_reaped")
    assert amphora_id in event.detail and event.severity == "WARNING"
    assert harness.reap() == ReapReport()


def test_a_zombie_amphora_still_running_under_a_deleted_row_is_reaped(
    harness: Harness, tmp_path: Path
) -> None:
    amphora_id = _boot_spare(harness)
    pids = amphora_pids(tmp_path)
    harness.run(harness.fleet.write(records.mark, amphora_id, AmphoraStatus.DELETED))
    assert harness.reap().reaped == [amphora_id]
    assert not any(pid_alive(pid) for pid in pids)
    assert harness.status(amphora_id) == AmphoraStatus.DELETED  # the history stays


def test_a_row_being_booted_is_left_alone(harness: Harness) -> None:
    booting = harness.run(harness.fleet.create_row(None))  # written before any instance
    assert harness.reap() == ReapReport()
    assert harness.status(booting) == AmphoraStatus.BOOTING
    assert harness.events("amphora_instance_gone") == []


def test_a_spare_whose_processes_were_killed_is_removed(harness: Harness, tmp_path: Path) -> None:
    spare = _boot_spare(harness)
    assert kill_amphora(tmp_path, spare)
    wait_for(lambda: not amphora_pids(tmp_path))
    assert harness.reap(grace=3600) == ReapReport()  # just booted: not yet
    assert harness.reap().spares_removed == [spare]
    assert harness.status(spare) == AmphoraStatus.DELETED
    (event,) = harness.events("amphora_instance_gone")
    assert event.amphora_id == spare and "spare removed" in event.detail


def test_many_amphorae_gone_at_once_are_not_failed_over(harness: Harness) -> None:
    harness.fleet._compute = FakeCompute()  # it runs none of the rows' instances
    ids = [harness.run(harness.fleet.create_row(str(uuid.uuid4()))) for _ in range(3)]
    with harness.db.writing() as session:
        for row in session.scalars(select(Amphora)):
            row.status, row.compute_id, row.compute_driver = "ALLOCATED", row.id, "fake"
    report = harness.reap(threshold=Threshold.parse("3"))
    assert sorted(report.held) == sorted(ids) and report.failed_over == []
    assert {harness.status(i) for i in ids} == {AmphoraStatus.ALLOCATED}
    assert sorted(harness.reap(threshold=Threshold.parse("4")).failed_over) == sorted(ids)
    assert {harness.status(i) for i in ids} == {AmphoraStatus.ERROR}


def test_an_amphora_killed_behind_portico_is_failed_over_and_traffic_returns(
    client_factory: Any, settings_factory: Any, tmp_path: Path
) -> None:
    # No health service: only housekeeping can notice the dead amphora here.
    settings = settings_factory(
        default_provider_driver="amphora", compute_driver="local", run_health=False
    )
    client: TestClient = client_factory(settings)
    harness = Harness(settings)
    try:
        with backends(1) as servers:
            lb = _http_lb(client, servers[0].address, servers[0].port)
            url = f"http://{lb['vip_address']}:8080/"
            (old,) = client.get("/v2/octavia/amphorae").json()["amphorae"]
            assert kill_amphora(tmp_path, old["id"])
            wait_for(lambda: not _serving(url), timeout=5)

            assert harness.reap().failed_over == [old["id"]]
            wait_for(lambda: _serving(url), timeout=30)
            wait_lb_status(client, lb["id"])
            (new,) = client.get("/v2/octavia/amphorae").json()["amphorae"]
            assert new["id"] != old["id"] and new["status"] == "ALLOCATED"
            kinds = [e.kind for e in harness.events("amphora_instance_gone")]
            assert kinds == ["amphora_instance_gone"]
            assert len(harness.events("failover_started")) == 1
            assert harness.reap() == ReapReport()  # the dead one is gone, the new one runs
    finally:
        harness.close()
        reap_amphorae(tmp_path)


def _serving(url: str) -> bool:
    try:
        return get_through(url, timeout=0.5).status_code == 200
    except Exception:
        return False


def _http_lb(client: TestClient, address: str, port: int) -> dict[str, Any]:
    member = {"address": address, "protocol_port": port}
    pool = {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [member]}
    listener = {"protocol": "HTTP", "protocol_port": 8080, "default_pool": pool}
    body = {"vip_subnet_id": LOCAL_SUBNET, "listeners": [listener]}
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert created.status_code == 201, created.text
    return wait_lb_status(client, created.json()["loadbalancer"]["id"])


@pytest.mark.xdist_group("netns")
def test_a_netns_namespace_without_row_or_directory_is_reaped_and_no_foreign_one(
    tmp_path: Path, sqlite_url: str
) -> None:
    require_netns()
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path,
        compute_driver="netns",
        netns_mgmt_bridge=f"ptcmt{uuid.uuid4().hex[:6]}",
        netns_mgmt_cidr="172.31.248.0/24",
    )
    before = leftovers()
    foreign = f"portico-{uuid.uuid4().hex[:12]}"  # looks like ours; another portico's
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    harness = Harness(settings)
    try:
        driver = harness.fleet.compute
        assert isinstance(driver, NetnsCompute)
        amphora_id = harness.run(harness.fleet.create_row(None))
        harness.run(harness.fleet.boot(amphora_id, None, status=AmphoraStatus.READY))
        namespace = f"portico-{amphora_id.replace('-', '')[:12]}"
        pids = amphora_pids(tmp_path)
        assert pids and namespace in leftovers()
        # Behind portico's back: the row and the amphora's directory go, the namespace and
        # its processes stay (only the driver's ledger still knows them).
        harness.forget_row(amphora_id)
        subprocess.run(["rm", "-rf", str(tmp_path / "amphorae" / amphora_id)], check=True)

        assert harness.reap().reaped == [amphora_id]
        assert not any(pid_alive(pid) for pid in pids)
        assert leftovers() == before | {foreign}
        assert harness.run(driver.instances()) == []
    finally:
        harness.close()
        reap_amphorae(tmp_path)
        subprocess.run(["ip", "netns", "del", foreign], check=False)


def test_each_compute_driver_is_asked_about_its_own_amphorae(
    harness: Harness, tmp_path: Path
) -> None:
    """Several drivers in one controller (an AZ profile may name one): ``local`` in a compute
    zone (a real amphora) beside ``fake``; each lists and checks only its own."""
    zoned = harness.run(harness.fleet.create_row(None, placement=Placement("local", "zone-a")))
    harness.run(harness.fleet.boot(zoned, None, status=AmphoraStatus.READY))
    with harness.db.reading() as session:
        row = records.get(session, zoned)
    assert row is not None and row.compute_id == f"zone-a:{zoned}"
    assert (row.compute_driver, row.compute_zone) == ("local", "zone-a")
    pids = amphora_pids(tmp_path)
    assert pids and (tmp_path / "zones" / "zone-a" / zoned / "agent.pid").exists()

    fake = harness.fleet.compute_for("fake")
    assert isinstance(fake, FakeCompute)
    gone = harness.run(harness.fleet.create_row(None, placement=Placement("fake")))
    harness.run(
        harness.fleet.write(
            records.record_boot,
            gone,
            compute_id=gone,  # never made by the fake driver: its instance is gone
            agent_endpoint="fake:1",
            cert_expiration=dt.datetime(2099, 1, 1),
        )
    )
    harness.run(harness.fleet.write(records.mark, gone, AmphoraStatus.READY))
    orphan = str(uuid.uuid4())
    harness.run(fake.create(AmphoraRequest(amphora_id=orphan, boot_files=BootFiles(b"", b"", b""))))

    report = harness.reap()
    assert (report.reaped, report.spares_removed) == ([orphan], [gone])
    assert harness.status(zoned) == AmphoraStatus.READY  # fake was not asked about it
    assert all(pid_alive(pid) for pid in pids)

    harness.forget_row(zoned)
    assert harness.reap().reaped == [f"zone-a:{zoned}"]
    assert not any(pid_alive(pid) for pid in pids)
    assert not (tmp_path / "zones" / "zone-a" / zoned).exists()
