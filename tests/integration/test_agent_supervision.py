"""The agent restarts a haproxy that dies, and leaves alone one that it was told to stop.

Each test boots a real agent, pushes a listener in front of a real HTTP backend, then kills
haproxy processes by the pids the agent's files and /proc name (never by process name) and
watches what a client of the listener sees: requests fail for a moment, then succeed again
through a new master. A stop through the API is different: haproxy stays down until started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from portico.agent.supervisor import POLL_SECONDS
from portico.drivers.compute.processes import pid_alive
from tests.conftest import wait_for
from tests.support.agent import AgentHandle, haproxy_config
from tests.support.amphorae import get_through, haproxy_workers
from tests.support.backends import Backend, backends
from tests.support.processes import free_port

RESTART_TIMEOUT = 15.0


@pytest.fixture
def backend() -> Iterator[Backend]:
    with backends(1) as servers:
        yield servers[0]


def _master(agent: AgentHandle) -> int | None:
    """The live haproxy master named by the agent's pid file."""
    try:
        pid = int((agent.haproxy_dir / "run" / "haproxy.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def _serves(url: str) -> bool:
    try:
        return get_through(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _start(agent: AgentHandle, backend: Backend) -> tuple[str, int]:
    """Push a listener in front of ``backend``; returns its URL and haproxy's master pid."""
    port = free_port()
    agent.push(1, haproxy_config(port=port, servers={backend.name: backend.port}))
    url = f"http://127.0.0.1:{port}/"
    assert get_through(url).text == backend.name
    master = _master(agent)
    assert master is not None
    return url, master


def _restarted(agent: AgentHandle, dead: int) -> int:
    """Wait for a master other than ``dead`` to run; returns its pid."""
    return int(wait_for(lambda: (pid := _master(agent)) != dead and pid, timeout=RESTART_TIMEOUT))


def test_a_killed_master_is_restarted_and_traffic_comes_back(
    agent: AgentHandle, backend: Backend
) -> None:
    url, master = _start(agent, backend)
    os.kill(master, signal.SIGKILL)

    new = _restarted(agent, master)
    wait_for(lambda: _serves(url), timeout=RESTART_TIMEOUT)
    status = agent.status()
    assert (status.master_pid, status.generation, status.running) == (new, 1, True)
    assert (status.restarts, status.last_restart_ok) == (1, True)
    assert status.last_restart_at is not None
    assert get_through(url).text == backend.name


def test_a_killed_worker_takes_its_master_down_and_both_come_back(
    agent: AgentHandle, backend: Backend
) -> None:
    url, master = _start(agent, backend)
    (worker,) = haproxy_workers(master)
    os.kill(worker, signal.SIGKILL)

    new = _restarted(agent, master)
    assert not pid_alive(master)  # haproxy 2.6's master exits when its worker dies
    wait_for(lambda: _serves(url), timeout=RESTART_TIMEOUT)
    assert agent.status().master_pid == new
    assert agent.status().restarts == 1


def test_a_stuck_worker_left_behind_by_a_killed_master_is_removed_before_the_restart(
    agent: AgentHandle, backend: Backend
) -> None:
    url, master = _start(agent, backend)
    (worker,) = haproxy_workers(master)
    # A stopped worker cannot notice its master's death: it keeps the listening socket, and
    # with SO_REUSEPORT it would share new connections with the new master and never answer.
    os.kill(worker, signal.SIGSTOP)
    try:
        os.kill(master, signal.SIGKILL)
        _restarted(agent, master)
        wait_for(lambda: not pid_alive(worker), timeout=RESTART_TIMEOUT)
        wait_for(lambda: _serves(url), timeout=RESTART_TIMEOUT)
        # Every connection is answered: none lands on a socket of the old worker.
        assert all(get_through(url).status_code == 200 for _ in range(20))
    finally:
        if pid_alive(worker) and os.readlink(f"/proc/{worker}/cwd") == str(agent.haproxy_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)


def test_haproxy_stopped_through_the_api_stays_stopped_until_started(
    agent: AgentHandle, backend: Backend
) -> None:
    url, master = _start(agent, backend)
    assert agent.status("stop").running is False
    assert not pid_alive(master)

    # "Stays stopped" is a stretch of nothing happening, so it is watched for a fixed time, not
    # polled for: the supervisor looks every POLL_SECONDS (0.1 s), so half a second is five
    # chances to restart it, each of which would show a master here and a restart counted.
    deadline = time.monotonic() + 5 * POLL_SECONDS
    while time.monotonic() < deadline:
        assert _master(agent) is None
        assert not _serves(url)
        time.sleep(0.05)  # the sampling period within that stretch
    assert agent.status().restarts == 0

    started = agent.status("start")
    assert started.running and started.master_pid is not None
    assert get_through(url).text == backend.name
    # Started again, it is supervised again.
    os.kill(started.master_pid, signal.SIGKILL)
    _restarted(agent, started.master_pid)
    wait_for(lambda: _serves(url), timeout=RESTART_TIMEOUT)
    assert agent.status().restarts == 1


def test_the_agent_going_away_stops_haproxy_for_good(agent: AgentHandle, backend: Backend) -> None:
    _, master = _start(agent, backend)
    agent_pid = agent.agent_pid
    os.kill(agent_pid, signal.SIGTERM)
    wait_for(lambda: not pid_alive(agent_pid), timeout=RESTART_TIMEOUT)
    # Its own shutdown stop is not a death to repair: no master runs after it left.
    assert not pid_alive(master)
    assert _master(agent) is None
