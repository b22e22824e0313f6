"""Member changes made live through haproxy's runtime API, proven to cause no reload.

The controller plans the operations (``plan_runtime``) from the old and new configuration;
the agent applies them and stores the new configuration. "No reload" is what haproxy shows:
the same worker process serves before and after, and the agent's reload counter is still.
Changes that cannot be made live fall back to a reload and still converge.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from portico.render.capabilities import FULL, RenderTarget
from portico.render.runtime_plan import plan_runtime
from portico.wire.capabilities import Capability
from tests.conftest import wait_for
from tests.support.agent import AgentHandle, haproxy_config
from tests.support.amphorae import get_through
from tests.support.backends import Backend, backends
from tests.support.processes import free_port

NO_DYNAMIC = RenderTarget(
    haproxy_version=(2, 4),
    capabilities=frozenset(c.value for c in Capability if c != Capability.DYNAMIC_SERVERS),
)


@pytest.fixture
def three() -> Iterator[list[Backend]]:
    with backends(3) as servers:
        yield servers


class Pool:
    """The pool the tests change, as configuration text, pushed step by step."""

    def __init__(self, agent: AgentHandle, servers: dict[str, int]) -> None:
        self.agent = agent
        self.port = free_port()
        self.generation = 1
        self.text = haproxy_config(port=self.port, servers=servers)
        agent.push(1, self.text)
        self.workers = agent.status().worker_pids
        self.reloads = agent.status().reloads

    def change(
        self,
        servers: dict[str, int],
        options: dict[str, str] | None = None,
        *,
        target: RenderTarget = FULL,
        extra: str = "",
    ) -> str:
        """Push the new pool the way the controller does; returns the agent's action."""
        new = haproxy_config(port=self.port, servers=servers, options=options, extra=extra)
        ops = plan_runtime(self.text, new, target)
        self.generation += 1
        if ops is None:
            action = self.agent.push(self.generation, new).action
        else:
            action = self.agent.runtime(self.generation, new, ops).action
        self.text = new
        return action

    def assert_no_reload(self) -> None:
        status = self.agent.status()
        assert status.worker_pids == self.workers
        assert status.reloads == self.reloads
        assert status.generation == self.generation
        on_disk = (self.agent.haproxy_dir / "haproxy.cfg").read_text()
        assert on_disk == self.text  # the next reload keeps what was made live

    def served(self, count: int) -> Counter[str]:
        return Counter(get_through(f"http://127.0.0.1:{self.port}/").text for _ in range(count))

    def server_rows(self) -> dict[str, tuple[str, int | None]]:
        rows = self.agent.run(self.agent.client.stats(self.agent.endpoint, self.agent.amphora_id))
        return {r.name: (r.status, r.weight) for r in rows.rows if r.kind == "server"}


def test_weight_change_is_live(agent: AgentHandle, three: list[Backend]) -> None:
    b0, b1, _ = three
    pool = Pool(agent, {"b0": b0.port, "b1": b1.port})
    before = pool.text
    new = before.replace(f"127.0.0.1:{b1.port} weight 1", f"127.0.0.1:{b1.port} weight 3")
    ops = plan_runtime(before, new, FULL)
    assert ops is not None and [op.op for op in ops] == ["weight"]
    pool.generation += 1
    assert agent.runtime(pool.generation, new, ops).action == "unchanged"
    pool.text = new
    pool.assert_no_reload()
    assert pool.server_rows()["b1"] == ("no check", 3)
    assert pool.served(8) == {"b0": 2, "b1": 6}


def test_disabling_a_member_puts_it_in_maintenance_live(
    agent: AgentHandle, three: list[Backend]
) -> None:
    b0, b1, _ = three
    pool = Pool(agent, {"b0": b0.port, "b1": b1.port})
    assert pool.change({"b0": b0.port, "b1": b1.port}, {"b1": "disabled"}) == "unchanged"
    pool.assert_no_reload()
    assert pool.server_rows()["b1"][0] == "MAINT"
    assert pool.served(4) == {"b0": 4}
    assert pool.change({"b0": b0.port, "b1": b1.port}) == "unchanged"  # enabled again
    pool.assert_no_reload()
    assert pool.served(4) == {"b0": 2, "b1": 2}


def test_drain_state_is_applied_through_the_runtime_api(
    agent: AgentHandle, three: list[Backend]
) -> None:
    from portico.wire.agent_api import ServerOp

    b0, b1, _ = three
    pool = Pool(agent, {"b0": b0.port, "b1": b1.port})
    pool.generation += 1
    drain = ServerOp(op="state", backend="pool1:fe1", server="b1", state="drain")
    assert agent.runtime(pool.generation, pool.text, [drain]).action == "unchanged"
    pool.assert_no_reload()
    assert pool.server_rows()["b1"][0] == "DRAIN"
    assert pool.served(4) == {"b0": 4}


def test_members_are_added_and_removed_as_dynamic_servers(
    agent: AgentHandle, three: list[Backend]
) -> None:
    b0, b1, b2 = three
    pool = Pool(agent, {"b0": b0.port, "b1": b1.port})
    assert pool.change({"b0": b0.port, "b1": b1.port, "b2": b2.port}) == "unchanged"
    pool.assert_no_reload()
    assert pool.served(6) == {"b0": 2, "b1": 2, "b2": 2}

    assert pool.change({"b0": b0.port, "b2": b2.port}) == "unchanged"
    pool.assert_no_reload()
    assert "b1" not in pool.server_rows()
    # Round-robin's position after a deletion is haproxy's business: check who serves.
    assert set(pool.served(6)) == {"b0", "b2"}
    # What was made live survives a reload: the stored configuration has it.
    agent.status("reload")
    wait_for(lambda: pool.workers[0] not in agent.status().worker_pids, timeout=15)
    assert pool.served(4) == {"b0": 2, "b2": 2}


def test_a_member_added_with_health_checks_is_checked(
    agent: AgentHandle, three: list[Backend]
) -> None:
    b0, _, b2 = three
    pool = Pool(agent, {"b0": b0.port})
    # The check goes to a port nobody listens on (a member's monitor_port), so it fails.
    checks = {"b2": f"check inter 200ms fall 1 rise 1 port {free_port()}"}
    assert pool.change({"b0": b0.port, "b2": b2.port}, checks) == "unchanged"
    pool.assert_no_reload()
    wait_for(lambda: pool.server_rows()["b2"][0].startswith("DOWN"), timeout=10)


def test_a_new_member_of_a_cookie_pool_falls_back_to_a_reload_and_converges(
    agent: AgentHandle, three: list[Backend]
) -> None:
    b0, b1, _ = three
    pool = Pool(agent, {"b0": b0.port})
    # The planner knows ``cookie`` is refused for dynamic servers and asks for a reload.
    assert pool.change({"b0": b0.port, "b1": b1.port}, {"b1": "cookie b1"}) == "reloaded"
    assert agent.status().reloads == pool.reloads + 1
    assert pool.served(4) == {"b0": 2, "b1": 2}


def test_an_amphora_without_dynamic_servers_reloads_to_add_a_member(
    agent: AgentHandle, three: list[Backend]
) -> None:
    b0, b1, _ = three
    pool = Pool(agent, {"b0": b0.port})
    assert pool.change({"b0": b0.port, "b1": b1.port}, target=NO_DYNAMIC) == "reloaded"
    assert pool.served(4) == {"b0": 2, "b1": 2}


def test_an_op_haproxy_refuses_falls_back_to_a_reload_of_the_new_config(
    agent: AgentHandle, three: list[Backend]
) -> None:
    from portico.wire.agent_api import ServerOp

    b0, b1, _ = three
    pool = Pool(agent, {"b0": b0.port})
    new = haproxy_config(port=pool.port, servers={"b0": b0.port, "b1": b1.port})
    bogus = ServerOp(op="weight", backend="pool1:fe1", server="no-such-server", weight=2)
    assert agent.runtime(2, new, [bogus]).action == "reloaded"
    assert agent.status().generation == 2
    assert pool.served(4) == {"b0": 2, "b1": 2}


def test_removing_a_member_a_keepalive_client_holds_causes_no_reload_and_no_error(
    agent: AgentHandle, three: list[Backend]
) -> None:
    b0, b1, _ = three
    pool = Pool(agent, {"b0": b0.port, "b1": b1.port})
    with httpx.Client(timeout=5) as held:
        url = f"http://127.0.0.1:{pool.port}/"
        first = {held.get(url).text for _ in range(2)}
        assert first == {"b0", "b1"}  # this connection is attached to both servers now
        assert pool.change({"b0": b0.port}) == "unchanged"
        pool.assert_no_reload()
        # Still attached, b1 cannot be deleted yet: it takes no request meanwhile.
        assert pool.server_rows().get("b1", ("MAINT", None))[0] == "MAINT"
        assert {held.get(url).text for _ in range(4)} == {"b0"}
    assert pool.served(3) == {"b0": 3}


def test_a_runtime_change_whose_config_haproxy_refuses_is_not_made_live(
    agent: AgentHandle, three: list[Backend]
) -> None:
    from portico.drivers.agent_client import ConfigInvalid
    from portico.wire.agent_api import ServerOp

    b0, b1, _ = three
    pool = Pool(agent, {"b0": b0.port, "b1": b1.port})
    broken = pool.text.replace("weight 1", "weight 3 no-such-keyword", 1)
    weight = ServerOp(op="weight", backend="pool1:fe1", server="b0", weight=3)
    with pytest.raises(ConfigInvalid, match="no-such-keyword"):
        agent.runtime(2, broken, [weight])
    pool.generation = 1
    pool.assert_no_reload()
    assert pool.server_rows()["b0"] == ("no check", 1)
