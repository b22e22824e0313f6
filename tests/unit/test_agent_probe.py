"""What the agent reports from ``haproxy -vv``: capabilities follow the version, so the
controller renders only what the amphora's haproxy runs."""

from __future__ import annotations

from portico.agent import probe
from portico.wire.capabilities import Capability


def _build(version: str) -> str:
    return f"HAProxy version {version} 2026/10/17 - https://haproxy.org/\nStatus: ...\n"


def test_rings_for_logs_from_haproxy_2_2_on() -> None:
    assert Capability.LOG_RINGS in probe.capabilities(_build("2.6.12-1"), keepalived=None)
    assert Capability.LOG_RINGS in probe.capabilities(_build("2.2.0"), keepalived=None)
    assert Capability.LOG_RINGS not in probe.capabilities(_build("2.1.12"), keepalived=None)


def test_vrrp_only_with_keepalived() -> None:
    assert Capability.VRRP not in probe.capabilities(_build("2.6.12"), keepalived=None)
    assert Capability.VRRP in probe.capabilities(_build("2.6.12"), keepalived="2.2.7")
