"""The amphora agent API 1.0 against a real agent process and a real haproxy.

Each test boots one agent exactly as the local compute driver does and talks to it with the
controller's ``AgentClient`` (mutual TLS), then checks what a user of the data plane sees:
traffic through haproxy, the configuration on disk, and the agent's answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from portico.domain.errors import TransientError
from portico.drivers.agent_client import ConfigInvalid, StaleGeneration
from portico.drivers.compute.processes import pid_alive
from portico.wire.agent_api import ConfigPush, TlsFile
from tests.conftest import wait_for
from tests.support.agent import AgentHandle, haproxy_config
from tests.support.amphorae import get_through
from tests.support.backends import Backend, backends
from tests.support.processes import free_port


@pytest.fixture
def two() -> Iterator[list[Backend]]:
    with backends(2) as servers:
        yield servers


def _config(port: int, servers: list[Backend], extra: str = "") -> str:
    return haproxy_config(port=port, servers={b.name: b.port for b in servers}, extra=extra)


def test_discovery_lists_versions_and_info_reports_software_and_capabilities(
    agent: AgentHandle,
) -> None:
    served = agent.run(agent.client.versions(agent.endpoint, agent.amphora_id))
    assert served == ["1.2", "1.1", "1.0"]
    info = agent.run(agent.client.info(agent.endpoint, agent.amphora_id))
    assert info.api_version == "1.2"
    assert info.amphora_id == agent.amphora_id
    assert info.haproxy_version and info.haproxy_version.startswith("2.")
    assert info.openssl_version
    assert {"dynamic_servers", "idle_close_on_response"} <= set(info.capabilities)


def test_details_show_processes_interfaces_and_listeners(
    agent: AgentHandle, two: list[Backend]
) -> None:
    agent.push(1, _config(free_port(), two))
    details = agent.run(agent.client.details(agent.endpoint, agent.amphora_id))
    names = Counter(p.name for p in details.processes)
    assert names["haproxy"] >= 2  # master and worker
    assert any(i.name == "lo" and "127.0.0.1" in i.addresses for i in details.interfaces)
    assert details.listeners == ["fe1"]
    assert details.generation == 1
    assert details.memory_total_bytes > 0


def test_push_serves_traffic_returns_the_hash_and_an_older_generation_gets_409(
    agent: AgentHandle, two: list[Backend]
) -> None:
    port = free_port()
    cfg = _config(port, two)
    result = agent.push(2, cfg)
    assert result.action == "started"
    assert result.config_hash == hashlib.sha256(cfg.encode()).hexdigest()
    seen = Counter(get_through(f"http://127.0.0.1:{port}/").text for _ in range(4))
    assert seen == {"b0": 2, "b1": 2}

    with pytest.raises(StaleGeneration, match="HTTP 409"):
        agent.push(1, _config(port, two[:1]))
    state = agent.run(agent.client.config_state(agent.endpoint, agent.amphora_id))
    assert (state.generation, state.config_hash) == (2, result.config_hash)
    assert agent.push(2, cfg).action == "unchanged"  # the same generation again: idempotent


def test_a_config_haproxy_refuses_is_a_400_with_its_output_and_changes_nothing(
    agent: AgentHandle, two: list[Backend]
) -> None:
    port = free_port()
    good = agent.push(1, _config(port, two))
    workers = agent.status().worker_pids
    bad = _config(port, two, extra="    no-such-directive here\n")
    with pytest.raises(ConfigInvalid, match="HTTP 400") as refused:
        agent.push(2, bad, files=[TlsFile(name="new.pem", content="x")])
    assert "no-such-directive" in str(refused.value)  # haproxy's own words

    state = agent.run(agent.client.config_state(agent.endpoint, agent.amphora_id))
    assert (state.generation, state.config_hash) == (1, good.config_hash)
    assert (agent.haproxy_dir / "haproxy.cfg").read_text() == _config(port, two)
    assert not (agent.haproxy_dir / "certs" / "new.pem").exists()
    assert agent.status().worker_pids == workers  # no reload happened
    assert get_through(f"http://127.0.0.1:{port}/").status_code == 200


def test_a_reload_that_fails_after_validation_rolls_back_and_traffic_keeps_flowing(
    agent: AgentHandle, two: list[Backend]
) -> None:
    port = free_port()
    good = agent.push(1, _config(port, two))
    with socket.socket() as taken:
        # Another process owns this address: haproxy -c accepts the config, the bind fails.
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        clash = f"frontend fe2\n    bind 127.0.0.1:{busy}\n    default_backend pool1:fe1\n"
        with pytest.raises(TransientError, match="HTTP 500"):
            agent.push(2, _config(port, two, extra=clash))

    state = agent.run(agent.client.config_state(agent.endpoint, agent.amphora_id))
    assert (state.generation, state.config_hash) == (1, good.config_hash)
    assert (agent.haproxy_dir / "haproxy.cfg").read_text() == _config(port, two)
    for _ in range(4):
        assert get_through(f"http://127.0.0.1:{port}/").status_code == 200
    # The last good configuration is in force again and further pushes work.
    third = agent.push(3, _config(port, two[:1]))
    assert third.action == "reloaded"
    assert {get_through(f"http://127.0.0.1:{port}/").text for _ in range(3)} == {"b0"}


def test_concurrent_pushes_are_coalesced_and_the_newest_wins(
    agent: AgentHandle, two: list[Backend]
) -> None:
    port = free_port()
    agent.push(1, _config(port, two))
    before = agent.status().reloads
    configs = {g: _config(port, two, extra=f"# generation {g}\n") for g in range(2, 10)}

    async def fire() -> list[int]:
        results = await asyncio.gather(
            *(
                agent.client.push(
                    agent.endpoint, agent.amphora_id, ConfigPush(generation=g, haproxy_cfg=cfg)
                )
                for g, cfg in configs.items()
            )
        )
        return [r.generation for r in results]

    answered = agent.run(fire())
    # Every push is answered with its own generation or a newer one that covered it.
    assert all(got >= sent for got, sent in zip(answered, configs, strict=True))
    status = agent.status()
    assert status.generation == 9
    assert (agent.haproxy_dir / "haproxy.cfg").read_text() == configs[9]
    assert 1 <= status.reloads - before < len(configs)
    assert get_through(f"http://127.0.0.1:{port}/").status_code == 200


def test_a_killed_agent_is_replaced_by_one_that_adopts_the_running_haproxy(
    agent: AgentHandle, two: list[Backend]
) -> None:
    port = free_port()
    agent.push(1, _config(port, two))
    master, workers = agent.status().master_pid, agent.status().worker_pids
    old_agent = agent.agent_pid
    os.kill(old_agent, signal.SIGKILL)
    wait_for(lambda: not pid_alive(old_agent))
    # haproxy does not depend on its agent: traffic continues while none runs.
    assert get_through(f"http://127.0.0.1:{port}/").status_code == 200

    agent.start_agent()
    assert agent.agent_pid != old_agent
    status = agent.status()
    assert (status.master_pid, status.worker_pids, status.generation) == (master, workers, 1)
    assert get_through(f"http://127.0.0.1:{port}/").status_code == 200
    # The adopted master reloads on the new agent's command.
    assert agent.push(2, _config(port, two[:1])).action == "reloaded"
    assert agent.status().master_pid == master
    assert {get_through(f"http://127.0.0.1:{port}/").text for _ in range(3)} == {"b0"}


def test_sigterm_of_the_agent_stops_its_haproxy(agent: AgentHandle, two: list[Backend]) -> None:
    agent.push(1, _config(free_port(), two))
    master = agent.status().master_pid
    assert master is not None
    os.kill(agent.agent_pid, signal.SIGTERM)
    wait_for(lambda: not pid_alive(master), timeout=15)
    wait_for(lambda: not pid_alive(agent.agent_pid), timeout=15)


def test_haproxy_stop_start_reload_and_status(agent: AgentHandle, two: list[Backend]) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    agent.push(1, _config(port, two))
    assert agent.status("stop").running is False
    with pytest.raises(httpx.ConnectError):
        get_through(url)
    started = agent.status("start")
    assert started.running and started.master_pid is not None
    assert get_through(url).status_code == 200
    workers, reloads = started.worker_pids, started.reloads
    reloaded = agent.status("reload")
    assert reloaded.reloads == reloads + 1
    wait_for(lambda: set(agent.status().worker_pids).isdisjoint(workers), timeout=15)
    assert get_through(url).status_code == 200


def test_stats_have_a_row_per_frontend_backend_and_server(
    agent: AgentHandle, two: list[Backend]
) -> None:
    port = free_port()
    agent.push(1, _config(port, two))
    for _ in range(4):
        get_through(f"http://127.0.0.1:{port}/")
    rows = agent.run(agent.client.stats(agent.endpoint, agent.amphora_id)).rows
    by_key = {(r.proxy, r.name): r for r in rows}
    assert by_key[("fe1", "FRONTEND")].kind == "frontend"
    assert by_key[("fe1", "FRONTEND")].total_sessions >= 4
    assert by_key[("pool1:fe1", "BACKEND")].kind == "backend"
    for backend in two:
        server = by_key[("pool1:fe1", backend.name)]
        assert (server.kind, server.weight, server.total_sessions) == ("server", 1, 2)
