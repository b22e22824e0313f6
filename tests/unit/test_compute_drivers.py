"""Every compute driver installed by entry point satisfies the ComputeDriver protocol."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from portico.drivers.compute.base import AmphoraRequest, BootFiles, ComputeDriver, InstanceStatus
from portico.drivers.compute.fake import FakeCompute
from portico.drivers.compute.registry import load_compute_driver
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
