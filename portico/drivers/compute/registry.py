"""Loads compute drivers by entry point (group ``portico.compute``).

One controller may run several: ``compute_driver`` is the default, and an availability
zone's profile may name another (``compute_driver`` in its ``availability_zone_data``).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from portico.drivers.compute.base import ComputeDriver
from portico.settings import Settings

GROUP = "portico.compute"


def installed_compute_drivers() -> frozenset[str]:
    """The names of the compute drivers installed (what an AZ profile may name)."""
    return frozenset(ep.name for ep in entry_points(group=GROUP))


def runs_vrrp(name: str) -> bool:
    """Whether the installed driver ``name`` runs ACTIVE_STANDBY pairs (its class says so;
    nothing is built). False for a driver that is not installed."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    return name in found and bool(getattr(found[name].load(), "vrrp", False))


def load_compute_driver(settings: Settings, name: str | None = None) -> ComputeDriver:
    """The driver ``name`` (default: the configured one); an unknown name fails loudly."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    name = name or settings.compute_driver
    if name not in found:
        raise ValueError(f"compute driver {name!r} is not installed (entry point {GROUP})")
    driver = found[name].load()(settings)
    if not isinstance(driver, ComputeDriver):
        raise TypeError(f"compute driver {name!r} does not implement the ComputeDriver protocol")
    return driver
