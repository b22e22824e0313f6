"""Loads the compute driver by entry point (group ``portico.compute``)."""

from __future__ import annotations

from importlib.metadata import entry_points

from portico.drivers.compute.base import ComputeDriver
from portico.settings import Settings


def load_compute_driver(settings: Settings) -> ComputeDriver:
    """The configured driver; an unknown name fails loudly at start-up."""
    found = {ep.name: ep for ep in entry_points(group="portico.compute")}
    name = settings.compute_driver
    if name not in found:
        raise ValueError(f"compute driver {name!r} is not installed (entry point portico.compute)")
    driver = found[name].load()(settings)
    if not isinstance(driver, ComputeDriver):
        raise TypeError(f"compute driver {name!r} does not implement the ComputeDriver protocol")
    return driver
