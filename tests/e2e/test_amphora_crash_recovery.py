"""kill -9 of ``portico serve`` mid-create, mid-update and mid-delete of real load balancers.

The amphorae (agent + haproxy, in their own sessions) outlive the controller. After each kill
a new ``portico serve`` on the same data directory and database must converge everything the
user asked for: ACTIVE with traffic through the VIP (reaching the members the user added),
or gone after a delete; no amphora leaked (every running agent has a live row, every live row
a running agent, one amphora per load balancer) and nothing left in PENDING_* or BOOTING.
Kill points are taken both from observed intermediate states (an amphora directory appears,
an agent answers) and from seeded random delays, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LOCAL_SUBNET, wait_for
from tests.support.amphorae import amphora_pids, get_through, reap_amphorae
from tests.support.backends import Backend, backends
from tests.support.processes import PorticoProcess, free_port, start_portico

V2 = "/v2/lbaas"
AMPHORAE = "/v2/octavia/amphorae"
CONVERGE_DEADLINE = 60.0
ROUNDS = 3
AMPHORA_ENV = {
    "PORTICO_DEFAULT_PROVIDER_DRIVER": "amphora",
    "PORTICO_COMPUTE_DRIVER": "local",
    # What the killed server leased is taken over once the lease expires: keep it short (the
    # reconciler renews it while a pass runs, so a short lease never splits a live pass).
    "PORTICO_RECONCILE_LEASE_SECONDS": "2",
}


class Cluster:
    """One ``portico serve`` at a time on a fixed data directory and database."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.started: list[PorticoProcess] = []
        self.current: PorticoProcess | None = None
        # One health port for every restart, as a real controller keeps its address: the
        # amphorae go on sending heartbeats where they were told at boot, and a restarted
        # controller that listened elsewhere would rightly fail them all over.
        self.env = {**AMPHORA_ENV, "PORTICO_HEALTH_BIND_PORT": str(free_port(socket.SOCK_DGRAM))}

    def start(self) -> httpx.Client:
        self.current = start_portico(
            "serve", data_dir=self.data_dir, database_url=self.database_url, env=self.env
        )
        self.started.append(self.current)
        return httpx.Client(base_url=self.current.url, timeout=10)

    def kill(self, client: httpx.Client) -> None:
        client.close()
        assert self.current is not None
        self.current.kill9()

    def restart(self, client: httpx.Client) -> httpx.Client:
        self.kill(client)
        return self.start()


@pytest.fixture
def cluster(tmp_path: Path, database_url: str) -> Iterator[Cluster]:
    found = Cluster(tmp_path / "data", database_url)
    try:
        yield found
    finally:
        for proc in found.started:
            proc.stop()
        reap_amphorae(found.data_dir)


def _member(server: Backend) -> dict[str, Any]:
    return {"address": server.address, "protocol_port": server.port}


def _create(client: httpx.Client, servers: list[Backend], port: int) -> str:
    body = {
        "vip_subnet_id": LOCAL_SUBNET,
        "listeners": [
            {
                "name": "web",
                "protocol": "HTTP",
                "protocol_port": port,
                "default_pool": {
                    "name": "pool",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [_member(s) for s in servers],
                    "healthmonitor": {
                        "type": "HTTP",
                        "delay": 1,
                        "timeout": 1,
                        "max_retries": 2,
                    },
                },
            }
        ],
    }
    created = client.post(f"{V2}/loadbalancers", json={"loadbalancer": body})
    assert created.status_code == 201, created.text
    return str(created.json()["loadbalancer"]["id"])


def _update(client: httpx.Client, lb_id: str, server: Backend) -> None:
    """Add a member and change the listener: one runtime-capable and one reload change."""
    lb = client.get(f"{V2}/loadbalancers/{lb_id}").json()["loadbalancer"]
    listener_id = lb["listeners"][0]["id"]
    pool_id = lb["pools"][0]["id"]
    added = client.post(f"{V2}/pools/{pool_id}/members", json={"member": _member(server)})
    assert added.status_code == 201, added.text
    changed = client.put(
        f"{V2}/listeners/{listener_id}",
        json={"listener": {"name": "renamed", "timeout_client_data": 40000}},
    )
    assert changed.status_code == 200, changed.text


def _amphorae(client: httpx.Client) -> list[dict[str, Any]]:
    amphorae: list[dict[str, Any]] = client.get(AMPHORAE).json()["amphorae"]
    return amphorae


def _settled(client: httpx.Client) -> bool:
    """Nothing PENDING_* and no amphora still BOOTING."""
    lbs = client.get(f"{V2}/loadbalancers").json()["loadbalancers"]
    if any(lb["provisioning_status"].startswith("PENDING_") for lb in lbs):
        return False
    for resource in ("listeners", "pools", "healthmonitors"):
        for obj in client.get(f"{V2}/{resource}").json()[resource]:
            if obj["provisioning_status"].startswith("PENDING_"):
                return False
    return all(a["status"] != "BOOTING" for a in _amphorae(client))


def _assert_no_leak(client: httpx.Client, data_dir: Path) -> None:
    lbs = client.get(f"{V2}/loadbalancers").json()["loadbalancers"]
    amphorae = _amphorae(client)
    assert all(lb["provisioning_status"] == "ACTIVE" for lb in lbs), lbs
    assert sorted(a["loadbalancer_id"] for a in amphorae) == sorted(lb["id"] for lb in lbs)
    assert {a["status"] for a in amphorae} <= {"ALLOCATED"}
    root = data_dir / "amphorae"
    running = {base.name for base in (root.iterdir() if root.exists() else []) if _agent(base)}
    assert running == {a["id"] for a in amphorae}
    # An agent and its haproxy master per amphora, nothing more.
    assert len(amphora_pids(data_dir)) == 2 * len(amphorae)


def _agent(base: Path) -> bool:
    """Whether the amphora in ``base`` has a live agent process."""
    try:
        pid = int((base / "agent.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def _serves(url: str, names: set[str]) -> bool:
    """Every name in ``names`` answers through the VIP within a bounded number of requests."""
    seen: set[str] = set()
    for _ in range(4 * len(names)):
        try:
            response = get_through(url, timeout=1.0)
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        seen.add(response.text)
    return seen == names


def _converge(cluster: Cluster, client: httpx.Client) -> None:
    wait_for(lambda: _settled(client), timeout=CONVERGE_DEADLINE, interval=0.1)
    _assert_no_leak(client, cluster.data_dir)


def _kill_points(round_: int, data_dir: Path) -> list[Callable[[], None]]:
    """When to kill the server during the create, the update and the delete.

    Round 0 kills the create while its amphora boots (its directory has appeared beside the
    steady load balancer's: the row is BOOTING, the agent starting); later rounds use seeded
    random delays. A pass converging an update or a delete takes some 50-250 ms here, so
    short delays land inside it, or just before or after it.
    """
    rng = random.Random(4000 + round_)

    def amphora_booting() -> None:
        root = data_dir / "amphorae"
        wait_for(lambda: len(list(root.iterdir())) >= 2, timeout=20, interval=0.002)

    def delay(low: float, high: float) -> Callable[[], None]:
        # Not a wait for anything: the random moment of the crash is what the round tests.
        seconds = rng.uniform(low, high)
        return lambda: time.sleep(seconds)

    at_create = amphora_booting if round_ == 0 else delay(0.05, 0.6)
    return [at_create, delay(0.0, 0.25), delay(0.0, 0.25)]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_kill_during_create_update_delete_converges_without_leaks(
    cluster: Cluster, round_: int
) -> None:
    at_create, at_update, at_delete = _kill_points(round_, cluster.data_dir)
    port = free_port()
    with backends(3) as servers:
        client = cluster.start()
        # A load balancer converged before any kill, to prove adoption leaves it alone.
        steady = _create(client, servers[:1], free_port())
        wait_for(lambda: _settled(client), timeout=CONVERGE_DEADLINE, interval=0.05)
        [steady_amphora] = _amphorae(client)

        lb_id = _create(client, servers[:2], port)
        at_create()
        client = cluster.restart(client)
        _converge(cluster, client)
        vip = client.get(f"{V2}/loadbalancers/{lb_id}").json()["loadbalancer"]["vip_address"]
        url = f"http://{vip}:{port}/"
        assert wait_for(lambda: _serves(url, {"b0", "b1"}), timeout=20)

        _update(client, lb_id, servers[2])
        at_update()
        client = cluster.restart(client)
        _converge(cluster, client)
        assert wait_for(lambda: _serves(url, {"b0", "b1", "b2"}), timeout=20)
        listener = client.get(f"{V2}/loadbalancers/{lb_id}").json()["loadbalancer"]
        assert (
            client.get(f"{V2}/listeners/{listener['listeners'][0]['id']}").json()["listener"][
                "name"
            ]
            == "renamed"
        )

        deleted = client.delete(f"{V2}/loadbalancers/{lb_id}", params={"cascade": "true"})
        assert deleted.status_code == 204, deleted.text
        at_delete()
        client = cluster.restart(client)
        wait_for(
            lambda: client.get(f"{V2}/loadbalancers/{lb_id}").status_code == 404,
            timeout=CONVERGE_DEADLINE,
        )
        _converge(cluster, client)
        assert [lb["id"] for lb in client.get(f"{V2}/loadbalancers").json()["loadbalancers"]] == [
            steady
        ]
        # Adopted through three restarts, never replaced.
        assert [a["id"] for a in _amphorae(client)] == [steady_amphora["id"]]
        client.close()
