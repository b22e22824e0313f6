"""Every compute driver installed by entry point satisfies the ComputeDriver protocol."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from portico.drivers.compute.base import (
    AmphoraRequest,
    BootFiles,
    BootRefused,
    ComputeDriver,
    InstanceStatus,
)
from portico.drivers.compute.fake import FakeCompute
from portico.drivers.compute.local import LocalCompute
from portico.drivers.compute.registry import (
    installed_compute_drivers,
    load_compute_driver,
    runs_vrrp,
)
from portico.settings import Settings


@pytest.mark.parametrize("name", ["local", "netns", "fake"])
def test_each_driver_loads_by_entry_point_and_implements_the_protocol(
    name: str, tmp_path: Path
) -> None:
    driver = load_compute_driver(Settings(data_dir=tmp_path, compute_driver=name))
    assert isinstance(driver, ComputeDriver)
    assert driver.name == name


def test_an_unknown_driver_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not installed"):
        load_compute_driver(Settings(data_dir=tmp_path, compute_driver="nova"))


def test_fake_create_is_idempotent_and_delete_makes_it_gone() -> None:
    fake = FakeCompute()
    request = AmphoraRequest(amphora_id="a1", boot_files=BootFiles(b"ca", b"cert", b"key"))

    async def scenario() -> tuple[InstanceStatus, InstanceStatus, list[str]]:
        first = await fake.create(request)
        assert await fake.create(request) == first
        running = await fake.status("a1")
        await fake.delete("a1")
        return running, await fake.status("a1"), list(await fake.instances())

    running, after, left = asyncio.run(scenario())
    assert (running, after, left) == (InstanceStatus.RUNNING, InstanceStatus.GONE, [])


def test_one_controller_loads_a_driver_by_name_beside_its_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, compute_driver="local")
    assert load_compute_driver(settings, "fake").name == "fake"
    assert {"local", "netns", "fake"} <= installed_compute_drivers()
    assert (runs_vrrp("netns"), runs_vrrp("local"), runs_vrrp("nova")) == (True, False, False)


@pytest.mark.parametrize("zone", [".hidden", "a/b", "a:b", "\0"])
def test_local_refuses_a_compute_zone_it_cannot_name_before_making_anything(
    zone: str, tmp_path: Path
) -> None:
    local = LocalCompute(Settings(data_dir=tmp_path))
    request = AmphoraRequest(
        amphora_id=str(uuid.uuid4()),
        boot_files=BootFiles(b"ca", b"cert", b"key"),
        availability_zone=zone,
    )
    with pytest.raises(BootRefused):
        asyncio.run(local.create(request))
    assert list(tmp_path.iterdir()) == []


def test_local_lists_amphorae_of_its_compute_zones_by_zone_id(tmp_path: Path) -> None:
    plain, zoned = str(uuid.uuid4()), str(uuid.uuid4())
    (tmp_path / "amphorae" / plain).mkdir(parents=True)
    (tmp_path / "zones" / "zone-b" / zoned).mkdir(parents=True)
    local = LocalCompute(Settings(data_dir=tmp_path))
    assert asyncio.run(local.instances()) == [plain, f"zone-b:{zoned}"]
    # Gone (no agent runs), and removable by that id, which names the zone's directory.
    assert asyncio.run(local.status(f"zone-b:{zoned}")) == InstanceStatus.GONE
    asyncio.run(local.delete(f"zone-b:{zoned}"))
    assert not (tmp_path / "zones" / "zone-b" / zoned).exists()
    assert (tmp_path / "amphorae" / plain).exists()
