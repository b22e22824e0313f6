"""ACTIVE_STANDBY rendering: keepalived's configuration and haproxy's ``peers`` (pure).

keepalived's text is compared with a golden file (``PORTICO_UPDATE_GOLDEN=1`` rewrites it);
real keepalived runs it in tests/e2e/test_netns_active_standby.py.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portico.domain.constants import AmphoraRole
from portico.domain.vrrp import assign_roles, router_id
from portico.render.capabilities import FULL
from portico.render.errors import RenderError
from portico.render.haproxy import render_haproxy
from portico.render.keepalived import VrrpSpec, render_keepalived
from portico.render.peers import SECTION, Peer, Peers
from tests.unit.render.variants import VARIANTS

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "keepalived"
LB = "6a0b6b5e-1f5e-4b55-9d35-4b4b2f8c9a10"
A, B = "1a1a1a1a-0000-4000-8000-000000000001", "2b2b2b2b-0000-4000-8000-000000000002"
SPEC = VrrpSpec(
    lb_id=LB,
    amphora_id=A,
    interface="ptn1234abcd",
    router_id=router_id(LB),
    priority=100,
    local_address="10.0.0.5",
    peer_addresses=("10.0.0.6",),
    vips=("10.0.0.10/24",),
)
PEERS = Peers(local=A, members=(Peer(A, "10.0.0.5", 1025), Peer(B, "10.0.0.6", 1025)))


def test_keepalived_matches_golden_file() -> None:
    text = render_keepalived(SPEC)
    path = GOLDEN / "master.conf"
    if os.environ.get("PORTICO_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_the_master_repeats_its_gratuitous_arps_unless_told_not_to() -> None:
    text = render_keepalived(replace(SPEC, garp_refresh_interval=7, garp_refresh_count=3))
    assert "    garp_master_refresh 7\n    garp_master_refresh_repeat 3\n" in text
    assert "    garp_lower_prio_repeat 3\n" in text
    never = render_keepalived(replace(SPEC, garp_refresh_interval=0))
    assert "garp_master_refresh" not in never and "garp_lower_prio_repeat 2" in never


def test_keepalived_elects_by_priority_and_never_preempts() -> None:
    text = render_keepalived(replace(SPEC, priority=90, advert_interval=0.5))
    assert "    state BACKUP\n" in text and "    nopreempt\n" in text
    assert "    priority 90\n" in text and "    advert_int 0.5\n" in text
    assert "vrrp_version 3" in text
    assert re.search(r"unicast_peer \{\s+10\.0\.0\.6\s+\}", text)
    assert "10.0.0.10/24 dev ptn1234abcd" in text
    # Both ways of giving up the VIP: the agent's track file and keepalived's own check.
    # Quoted: the agent's directory may contain spaces (keepalived splits words otherwise).
    assert 'file "${AMPHORA_DIR}/vrrp/haproxy-state"' in text
    assert "script \"/bin/sh '${AMPHORA_DIR}/vrrp/check-haproxy.sh'\"" in text


@pytest.mark.parametrize(
    "change",
    [
        {"interface": "eth0; rm -rf /"},
        {"interface": "a" * 16},
        {"router_id": 0},
        {"priority": 255},
        {"local_address": "10.0.0.5\n}"},
        {"peer_addresses": ("fe80::1",)},
        {"vips": ("2001:db8::1/64",)},
        {"vips": ()},
        {"lb_id": "x\n}\nglobal_defs {"},
        {"advert_interval": 0.001},
        {"garp_refresh_interval": -1},
        {"garp_refresh_count": 0},
    ],
)
def test_keepalived_refuses_what_is_not_well_formed(change: dict[str, object]) -> None:
    with pytest.raises(RenderError):
        render_keepalived(replace(SPEC, **change))  # type: ignore[arg-type]


def test_haproxy_syncs_stick_tables_with_the_peer() -> None:
    spec, _ = VARIANTS["tcp_algorithms"]  # a SOURCE_IP pool with persistence
    text = render_haproxy(spec, FULL, peers=PEERS).text
    assert f"    localpeer {A}\n" in text
    assert f"peers {SECTION}\n    peer {A} 10.0.0.5:1025\n    peer {B} 10.0.0.6:1025\n" in text
    tables = [line for line in text.splitlines() if "stick-table" in line]
    assert tables and all(line.endswith(f"peers {SECTION}") for line in tables)
    alone = render_haproxy(spec, FULL).text
    assert "peers" not in alone and "localpeer" not in alone


def test_haproxy_peers_refuse_a_local_name_that_is_not_a_member() -> None:
    spec, _ = VARIANTS["http_basic"]
    with pytest.raises(RenderError):
        render_haproxy(spec, FULL, peers=replace(PEERS, local="someone-else"))
    with pytest.raises(RenderError):
        bad = Peers(local="a b", members=(Peer("a b", "10.0.0.5", 1025),))
        render_haproxy(spec, FULL, peers=bad)


def test_ipv6_peers_are_bracketed() -> None:
    spec, _ = VARIANTS["http_basic"]
    six = Peers(local=A, members=(Peer(A, "2001:db8::5", 1025), Peer(B, "2001:db8::6", 1025)))
    assert f"peer {A} [2001:db8::5]:1025" in render_haproxy(spec, FULL, peers=six).text


ROLES = st.sampled_from([None, "STANDALONE", "MASTER", "BACKUP"])


@given(ROLES, ROLES)
def test_a_pair_always_has_one_master_and_one_backup(first: str | None, second: str | None) -> None:
    roles = assign_roles([(A, first), (B, second)])
    assert sorted(roles.values()) == [AmphoraRole.BACKUP, AmphoraRole.MASTER]
    if {first, second} == {"MASTER", "BACKUP"}:
        assert roles == {A: first, B: second}  # a settled pair keeps its roles


@pytest.mark.parametrize("survivor_role", ["MASTER", "BACKUP"])
def test_the_survivor_of_a_failover_is_master(survivor_role: str) -> None:
    # Oldest first: the survivor, then the newcomer (a spare or a fresh boot).
    assert assign_roles([(A, survivor_role), (B, "STANDALONE")])[A] == AmphoraRole.MASTER
    # A newcomer that sorts first (an older spare) does not displace the survivor.
    assert assign_roles([(B, "STANDALONE"), (A, survivor_role)])[A] == AmphoraRole.MASTER


def test_router_id_is_stable_and_in_range() -> None:
    assert router_id(LB) == router_id(LB)
    assert all(1 <= router_id(str(__import__("uuid").uuid4())) <= 255 for _ in range(200))
