"""``plan_runtime``: which configuration changes are made live, and which need a reload."""

from __future__ import annotations

from portico.render.capabilities import FULL, RenderTarget
from portico.render.runtime_plan import plan_runtime
from portico.wire.agent_api import ServerOp
from portico.wire.capabilities import Capability

NO_DYNAMIC = RenderTarget(
    haproxy_version=(2, 4),
    capabilities=frozenset(c.value for c in Capability if c != Capability.DYNAMIC_SERVERS),
)
BACKEND = "p1:l1"


def config(servers: dict[str, str], *, persistence: str = "", extra: str = "") -> str:
    lines = "".join(f"    server {name} {rest}\n" for name, rest in servers.items())
    return (
        "global\n    stats socket unix@run/stats.sock level admin\n"
        "defaults\n    timeout client 50000ms\n"
        "frontend l1\n    bind 127.0.0.2:80\n    default_backend p1:l1\n"
        f"backend {BACKEND}\n    balance roundrobin\n{persistence}{lines}{extra}"
    )


A = "10.0.0.1:80 weight 1 check inter 5s fall 3 rise 2"
B = "10.0.0.2:80 weight 1 check inter 5s fall 3 rise 2"


def test_identical_configurations_need_no_operation() -> None:
    assert plan_runtime(config({"a": A}), config({"a": A}), FULL) == []


def test_weight_change_is_one_weight_op() -> None:
    new = config({"a": A.replace("weight 1", "weight 7")})
    assert plan_runtime(config({"a": A}), new, FULL) == [
        ServerOp(op="weight", backend=BACKEND, server="a", weight=7)
    ]


def test_disabling_and_enabling_a_member_are_state_ops() -> None:
    disabled = config({"a": A + " disabled"})
    assert plan_runtime(config({"a": A}), disabled, FULL) == [
        ServerOp(op="state", backend=BACKEND, server="a", state="maint")
    ]
    assert plan_runtime(disabled, config({"a": A}), FULL) == [
        ServerOp(op="state", backend=BACKEND, server="a", state="ready")
    ]


def test_new_member_is_added_with_its_options_and_state() -> None:
    ops = plan_runtime(config({"a": A}), config({"a": A, "b": B + " disabled"}), FULL)
    assert ops == [
        ServerOp(
            op="add",
            backend=BACKEND,
            server="b",
            address="10.0.0.2",
            port=80,
            options="check inter 5s fall 3 rise 2 weight 1",
            state="maint",
        )
    ]


def test_ipv6_member_address_loses_its_brackets() -> None:
    ops = plan_runtime(config({"a": A}), config({"a": A, "b": "[fd00::2]:8080 weight 2"}), FULL)
    assert ops is not None
    assert (ops[0].address, ops[0].port, ops[0].options) == ("fd00::2", 8080, "weight 2")


def test_removed_member_is_deleted() -> None:
    assert plan_runtime(config({"a": A, "b": B}), config({"a": A}), FULL) == [
        ServerOp(op="delete", backend=BACKEND, server="b")
    ]


def test_member_whose_address_changed_needs_a_reload() -> None:
    moved = config({"a": A.replace("10.0.0.1", "10.0.0.9")})
    assert plan_runtime(config({"a": A}), moved, FULL) is None


def test_member_whose_static_options_changed_needs_a_reload() -> None:
    assert plan_runtime(config({"a": A}), config({"a": A + " backup"}), FULL) is None


def test_new_listener_needs_a_reload() -> None:
    listener = "frontend l2\n    bind 127.0.0.2:81\n    default_backend p1:l1\n"
    assert plan_runtime(config({"a": A}), config({"a": A}, extra=listener), FULL) is None


def test_new_member_of_a_cookie_pool_needs_a_reload() -> None:
    cookie = "    cookie SRV insert indirect nocache\n"
    old = config({"a": A + " cookie a"}, persistence=cookie)
    new = config({"a": A + " cookie a", "b": B + " cookie b"}, persistence=cookie)
    assert plan_runtime(old, new, FULL) is None


def test_weight_change_in_a_cookie_pool_is_still_live() -> None:
    cookie = "    cookie SRV insert indirect nocache\n"
    old = config({"a": A + " cookie a"}, persistence=cookie)
    new = config({"a": A.replace("weight 1", "weight 3") + " cookie a"}, persistence=cookie)
    assert plan_runtime(old, new, FULL) == [
        ServerOp(op="weight", backend=BACKEND, server="a", weight=3)
    ]


def test_without_dynamic_servers_adding_or_removing_members_reloads() -> None:
    assert plan_runtime(config({"a": A}), config({"a": A, "b": B}), NO_DYNAMIC) is None
    assert plan_runtime(config({"a": A, "b": B}), config({"a": A}), NO_DYNAMIC) is None


def test_without_dynamic_servers_weight_and_state_stay_live() -> None:
    new = config({"a": A.replace("weight 1", "weight 2") + " disabled"})
    ops = plan_runtime(config({"a": A}), new, NO_DYNAMIC)
    assert ops is not None and [op.op for op in ops] == ["weight", "state"]
