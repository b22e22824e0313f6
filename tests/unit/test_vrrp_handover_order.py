"""Which leaving amphorae of a pair the controller asks to hand the VIP over, and when.

A fake agent client stands for the amphorae: it keeps each one's VRRP state and answers
``handover`` as an agent of its API version would (an agent older than 1.2 refuses it), so
the tests assert on who ends up holding the VIP and on what was asked of whom.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import cast

from portico.drivers.agent_client import VersionUnsupported
from portico.orchestrator.fleet import Fleet
from portico.orchestrator.handover import hand_over
from portico.services.amphora_records import AmphoraRecord
from portico.wire.agent_api import VrrpHandover, VrrpHandoverResult, VrrpStatus


def _amp(amphora_id: str, role: str | None) -> AmphoraRecord:
    return AmphoraRecord(
        id=amphora_id,
        load_balancer_id="lb",
        status="ALLOCATED",
        role=role,
        compute_id=amphora_id,
        agent_endpoint=f"{amphora_id}:9443",
        haproxy_version=None,
        capabilities=(),
        applied_generation=1,
        cert_expiration=None,
        image_id="v1",
    )


@dataclass
class FakeAgents:
    """Per amphora: API version, keepalived running, haproxy ok, holds the VIP."""

    api: dict[str, str]
    holds: set[str]
    running: set[str]
    haproxy_ok: set[str] = field(default_factory=set)
    asked: list[tuple[str, float]] = field(default_factory=list)

    async def vrrp(self, _endpoint: str, amphora_id: str) -> VrrpStatus:
        return VrrpStatus(
            configured=True,
            running=amphora_id in self.running,
            holds_vips=amphora_id in self.holds,
            haproxy_ok=amphora_id in self.haproxy_ok,
        )

    async def handover(
        self, _endpoint: str, amphora_id: str, request: VrrpHandover
    ) -> VrrpHandoverResult:
        if self.api[amphora_id] != "1.2":
            raise VersionUnsupported(f"{amphora_id} speaks {self.api[amphora_id]}")
        self.asked.append((amphora_id, request.drain_seconds))
        held = amphora_id in self.holds
        self.holds.discard(amphora_id)
        self.running.discard(amphora_id)
        if held:  # the survivor's keepalived takes the VIP at the priority 0 advert
            self.holds |= {a for a in self.running if a in self.haproxy_ok}
        status = await self.vrrp("", amphora_id)
        return VrrpHandoverResult(
            held_vips=held, drained=True, sessions_left=0, seconds=0.1, vrrp=status
        )


def _run(agents: FakeAgents, leaving: list[tuple[AmphoraRecord, bool]], survivor: str) -> None:
    fleet = cast(Fleet, type("FakeFleet", (), {"client": agents})())
    survivor_record = _amp(survivor, "BACKUP")
    asyncio.run(
        hand_over(fleet, leaving, survivor=survivor_record, drain_seconds=5.0, settle_seconds=1.0)
    )


def test_a_leaving_master_of_api_1_2_hands_the_vip_to_the_ready_survivor() -> None:
    agents = FakeAgents(
        api={"m": "1.2", "s": "1.2"}, holds={"m"}, running={"m", "s"}, haproxy_ok={"m", "s"}
    )
    _run(agents, [(_amp("m", "MASTER"), True)], "s")
    assert agents.asked == [("m", 5.0)]
    assert agents.holds == {"s"}


def test_an_older_agent_is_left_to_be_stopped_as_before() -> None:
    agents = FakeAgents(
        api={"m": "1.1", "s": "1.2"}, holds={"m"}, running={"m", "s"}, haproxy_ok={"m", "s"}
    )
    _run(agents, [(_amp("m", "MASTER"), True)], "s")
    assert agents.asked == []
    assert agents.holds == {"m"}  # still serving until its removal stops it


def test_no_handover_to_a_survivor_whose_haproxy_or_keepalived_is_down() -> None:
    for running, haproxy_ok in (({"m"}, {"m", "s"}), ({"m", "s"}, {"m"})):
        agents = FakeAgents(
            api={"m": "1.2", "s": "1.2"}, holds={"m"}, running=running, haproxy_ok=haproxy_ok
        )
        _run(agents, [(_amp("m", "MASTER"), True)], "s")
        assert agents.asked == []
        assert agents.holds == {"m"}


def test_failed_amphorae_and_spares_are_not_asked() -> None:
    agents = FakeAgents(
        api={"f": "1.2", "x": "1.2", "s": "1.2"},
        holds=set(),
        running={"s"},
        haproxy_ok={"s"},
    )
    _run(agents, [(_amp("f", "MASTER"), False), (_amp("x", None), True)], "s")
    assert agents.asked == []
