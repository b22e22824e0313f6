"""The one operating-status mapping used by the push and by heartbeats (Octavia's words)."""

from __future__ import annotations

import itertools

import pytest

from portico.domain.desired import (
    HealthMonitorSpec,
    L7PolicySpec,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)
from portico.domain.operating_status import (
    ListenerNode,
    MemberNode,
    PoolNode,
    Topology,
    from_heartbeat,
    lb_status,
    listener_status,
    member_status,
    pool_status,
    roll_up,
)
from portico.orchestrator.statuses import from_stats
from portico.wire.agent_api import StatRow
from portico.wire.heartbeat import Heartbeat, ListenerReport, PoolReport


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("UP", "ONLINE"),
        ("DOWN", "ERROR"),
        ("DRAIN", "DRAINING"),
        ("MAINT", "OFFLINE"),
        ("no check", "NO_MONITOR"),
    ],
)
def test_an_enabled_member_reads_as_haproxy_sees_it(word: str, expected: str) -> None:
    for monitored in (True, False):
        assert member_status(word, enabled=True, monitored=monitored) == expected  # type: ignore[arg-type]


def test_a_disabled_member_is_offline_whatever_haproxy_says() -> None:
    for word in ("UP", "DOWN", "DRAIN", "MAINT", "no check", None):
        for monitored in (True, False):
            assert member_status(word, enabled=False, monitored=monitored) == "OFFLINE"  # type: ignore[arg-type]


def test_a_member_haproxy_does_not_report_is_offline_or_unmonitored() -> None:
    assert member_status(None, enabled=True, monitored=True) == "OFFLINE"
    assert member_status(None, enabled=True, monitored=False) == "NO_MONITOR"


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ((), "ONLINE"),
        (("ONLINE", "ONLINE"), "ONLINE"),
        (("NO_MONITOR",), "ONLINE"),
        (("DRAINING", "ONLINE"), "ONLINE"),
        (("ERROR", "ONLINE"), "DEGRADED"),
        (("ERROR", "DRAINING"), "DEGRADED"),
        (("ERROR", "NO_MONITOR"), "DEGRADED"),
        (("ERROR",), "ERROR"),
        (("ERROR", "ERROR"), "ERROR"),
        # Disabled or maintained members count neither for nor against the pool.
        (("ERROR", "OFFLINE"), "ERROR"),
        (("OFFLINE",), "ONLINE"),
    ],
)
def test_an_enabled_reported_pool_follows_its_members(
    members: tuple[str, ...], expected: str
) -> None:
    assert pool_status(members, enabled=True, reported=True) == expected  # type: ignore[arg-type]


def test_a_disabled_or_unreported_pool_is_offline() -> None:
    for enabled, reported in ((False, True), (False, False), (True, False)):
        assert pool_status(["ERROR"], enabled=enabled, reported=reported) == "OFFLINE"  # type: ignore[list-item]


def test_listener_states() -> None:
    for state, settled in itertools.product(("OPEN", "FULL", "STOP", None), (True, False)):
        assert listener_status(state, enabled=False, settled=settled) == "OFFLINE"
    for settled in (True, False):
        assert listener_status("OPEN", enabled=True, settled=settled) == "ONLINE"
        assert listener_status("FULL", enabled=True, settled=settled) == "DEGRADED"
    assert listener_status(None, enabled=True, settled=True) == "ERROR"
    assert listener_status("STOP", enabled=True, settled=True) == "ERROR"
    assert listener_status(None, enabled=True, settled=False) == "OFFLINE"


@pytest.mark.parametrize(
    ("pools", "listeners", "expected"),
    [
        ((), (), "ONLINE"),
        (("ONLINE", "OFFLINE"), ("ONLINE", "OFFLINE"), "ONLINE"),
        (("DEGRADED",), ("ONLINE",), "DEGRADED"),
        (("ONLINE",), ("DEGRADED",), "DEGRADED"),
        (("ONLINE",), ("ERROR",), "DEGRADED"),
        (("ERROR", "DEGRADED"), ("ONLINE",), "ERROR"),
        (("ERROR",), ("DEGRADED",), "ERROR"),
    ],
)
def test_load_balancer_rolls_up_pools_and_listeners(
    pools: tuple[str, ...], listeners: tuple[str, ...], expected: str
) -> None:
    assert lb_status(pools, listeners, enabled=True) == expected  # type: ignore[arg-type]
    assert lb_status(pools, listeners, enabled=False) == "OFFLINE"  # type: ignore[arg-type]


def _topology(*, settled: bool = True) -> Topology:
    return Topology(
        lb_id="lb",
        settled=settled,
        listeners=(ListenerNode("l1"), ListenerNode("l2"), ListenerNode("off", enabled=False)),
        pools=(
            PoolNode(
                "p1",
                members=(MemberNode("m1"), MemberNode("m2")),
                monitor_id="hm1",
                monitor_enabled=True,
            ),
            PoolNode("p2", members=(MemberNode("m3"),)),
            PoolNode("lonely", members=(MemberNode("m4"),), monitor_id="hm2"),
        ),
    )


def test_roll_up_member_pool_listener_load_balancer() -> None:
    statuses = roll_up(
        _topology(),
        listener_states={"l1": "OPEN", "l2": "FULL", "off": "STOP"},
        backends={
            "p1:l1": PoolReport(status="UP", members={"m1": "UP", "m2": "DOWN"}),
            "p2:l2": PoolReport(status="UP", members={"m3": "no check"}),
        },
    )
    assert statuses == {
        "lb": "DEGRADED",
        "l1": "ONLINE",
        "l2": "DEGRADED",
        "off": "OFFLINE",
        "p1": "DEGRADED",
        "m1": "ONLINE",
        "m2": "ERROR",
        "hm1": "ONLINE",
        "p2": "ONLINE",
        "m3": "NO_MONITOR",
        # Used by no listener: haproxy has no backend for it.
        "lonely": "OFFLINE",
        "m4": "NO_MONITOR",
        "hm2": "OFFLINE",
    }


def test_a_pool_whose_members_all_fail_makes_the_load_balancer_error() -> None:
    statuses = roll_up(
        _topology(),
        listener_states={"l1": "OPEN", "l2": "OPEN"},
        backends={"p1:l1": PoolReport(status="DOWN", members={"m1": "DOWN", "m2": "DOWN"})},
    )
    assert (statuses["p1"], statuses["lb"]) == ("ERROR", "ERROR")


def test_a_pool_of_two_listeners_takes_a_members_word_from_the_first_backend_reporting_it() -> None:
    statuses = roll_up(
        _topology(),
        listener_states={"l1": "OPEN", "l2": "OPEN"},
        backends={
            "p1:l2": PoolReport(status="UP", members={"m1": "DOWN", "m2": "UP"}),
            "p1:l1": PoolReport(status="UP", members={"m1": "UP"}),
        },
    )
    assert (statuses["m1"], statuses["m2"], statuses["p1"]) == ("ONLINE", "ONLINE", "ONLINE")


def test_a_missing_listener_is_an_error_only_once_the_load_balancer_is_settled() -> None:
    settled = roll_up(_topology(), listener_states={"l1": "OPEN"}, backends={})
    assert (settled["l2"], settled["lb"]) == ("ERROR", "DEGRADED")
    pending = roll_up(_topology(settled=False), listener_states={"l1": "OPEN"}, backends={})
    assert (pending["l2"], pending["lb"]) == ("OFFLINE", "ONLINE")


def test_a_heartbeat_rolls_up_like_an_observation() -> None:
    heartbeat = Heartbeat(
        amphora_id="00000000-0000-0000-0000-000000000001",
        generation=3,
        listeners={"l1": ListenerReport(status="OPEN"), "l2": ListenerReport(status="OPEN")},
        pools={"p1:l1": PoolReport(status="UP", members={"m1": "DRAIN", "m2": "MAINT"})},
    )
    statuses = from_heartbeat(_topology(), heartbeat)
    assert (statuses["m1"], statuses["m2"], statuses["p1"]) == ("DRAINING", "OFFLINE", "ONLINE")
    assert statuses["lb"] == "ONLINE"


def test_push_time_statuses_use_the_same_mapping_and_add_l7_objects() -> None:
    spec = LoadBalancerSpec(
        id="lb",
        vip_address="127.0.0.1",
        listeners=(
            ListenerSpec(
                id="l1",
                protocol="HTTP",
                protocol_port=80,
                default_pool_id="p1",
                l7policies=(L7PolicySpec(id="pol", action="REJECT", position=1),),
            ),
        ),
        pools=(
            PoolSpec(
                id="p1",
                protocol="HTTP",
                lb_algorithm="ROUND_ROBIN",
                members=(
                    MemberSpec(id="m1", address="127.0.0.2", protocol_port=80),
                    MemberSpec(id="m2", address="127.0.0.3", protocol_port=80),
                ),
                health_monitor=HealthMonitorSpec(
                    id="hm", type="HTTP", delay=1, timeout=1, max_retries=1
                ),
            ),
        ),
    )
    rows = [
        StatRow(proxy="l1", name="FRONTEND", kind="frontend", status="OPEN"),
        StatRow(proxy="p1:l1", name="BACKEND", kind="backend", status="UP"),
        StatRow(proxy="p1:l1", name="m1", kind="server", status="UP 1/3"),
        StatRow(proxy="p1:l1", name="m2", kind="server", status="DOWN"),
    ]
    assert from_stats(spec, rows) == {
        "lb": "DEGRADED",
        "l1": "ONLINE",
        "pol": "ONLINE",
        "p1": "DEGRADED",
        "m1": "ONLINE",
        "m2": "ERROR",
        "hm": "ONLINE",
    }
