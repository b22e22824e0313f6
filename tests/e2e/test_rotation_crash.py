"""kill -9 of ``portico serve`` in the middle of a migration: the next one finishes it.

The target image is stored on the load balancer, so nothing lives in the dead process: a
``portico serve`` killed while the new amphora boots leaves the load balancer PENDING_UPDATE
with a lease that expires, and a restarted one (same data directory, database and health
port) takes it over, finishes or replaces the half-booted amphora, removes the old one and
settles ACTIVE on the new image with traffic through the VIP; no amphora process leaks.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import wait_for
from tests.support.amphorae import amphora_pids, get_through, reap_amphorae
from tests.support.backends import backends
from tests.support.dataplane import create_graph, http_listener
from tests.support.processes import PorticoProcess, free_port, start_portico

AMPS = "/v2/octavia/amphorae"
IMAGES = {"v1": {"agent_version": "1.0.0"}, "v2": {"agent_version": "2.0.0"}}


def _lb(client: httpx.Client, lb_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()
    return body["loadbalancer"]


def _amphorae(client: httpx.Client, lb_id: str) -> list[dict[str, Any]]:
    found = client.get(AMPS, params={"loadbalancer_id": lb_id}).json()["amphorae"]
    return [a for a in found if a["status"] != "DELETED"]


def test_a_migration_cut_by_kill_9_is_finished_by_the_next_controller(
    tmp_path: Path, sqlite_url: str
) -> None:
    data_dir = tmp_path / "data"
    env = {
        "PORTICO_DEFAULT_PROVIDER_DRIVER": "amphora",
        "PORTICO_COMPUTE_DRIVER": "local",
        "PORTICO_RECONCILE_LEASE_SECONDS": "2",
        "PORTICO_HEALTH_BIND_PORT": str(free_port(socket.SOCK_DGRAM)),
        "PORTICO_AMPHORA_IMAGE": "v1",
        "PORTICO_COMPUTE_IMAGES": json.dumps(IMAGES),
    }
    started: list[PorticoProcess] = []

    def serve() -> httpx.Client:
        proc = start_portico("serve", data_dir=data_dir, database_url=sqlite_url, env=env)
        started.append(proc)
        return httpx.Client(base_url=proc.url, timeout=10)

    try:
        with backends(1) as (web,):
            client = serve()
            lb_id = create_graph(client, [http_listener(8080, [web])])
            wait_for(lambda: _lb(client, lb_id)["provisioning_status"] == "ACTIVE", timeout=60)
            (old,) = _amphorae(client, lb_id)
            url = f"http://{_lb(client, lb_id)['vip_address']}:8080/"
            moved = client.put(
                f"/v2/portico/loadbalancers/{lb_id}/migrate",
                json={"migration": {"amphora_image": "v2"}},
            )
            assert moved.status_code == 202, moved.text
            # Killed while the replacement boots: its row exists, the old one still serves.
            wait_for(
                lambda: any(a["image_id"] == "v2" for a in _amphorae(client, lb_id)),
                timeout=30,
                interval=0.005,
            )
            client.close()
            started[-1].kill9()
            assert get_through(url).status_code == 200  # the old amphora outlives it
            client = serve()

            def settled() -> list[dict[str, Any]] | None:
                amphorae = _amphorae(client, lb_id)
                if _lb(client, lb_id)["provisioning_status"] != "ACTIVE" or len(amphorae) != 1:
                    return None
                return amphorae

            (new,) = wait_for(settled, timeout=90, interval=0.1)
            assert (new["image_id"], new["status"]) == ("v2", "ALLOCATED")
            assert new["id"] != old["id"]
            assert get_through(url).status_code == 200
            # One agent and one haproxy master: the old amphora's processes are gone.
            assert len(amphora_pids(data_dir)) == 2
            deleted = client.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
            assert deleted.status_code == 204
            wait_for(lambda: amphora_pids(data_dir) == [], timeout=30)
            client.close()
    finally:
        for proc in started:
            proc.stop()
        reap_amphorae(data_dir)
