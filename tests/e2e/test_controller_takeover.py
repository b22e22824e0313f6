"""Controller takeover: version N+1 takes over version N's load balancers, amphorae untouched.

Two in-process controllers (API, reconciler, health service) share the database and the data
directory, as an upgrade on the same host does. The two versions are simulated by a setting
that changes what is rendered (``haproxy_hard_stop_after``: 30 s for N, 31 s for N+1). N
creates the load balancer; N+1 starts beside it and the operator's ``PUT .../config`` through
N+1 moves the amphora's heartbeats to N+1's health service; N stops. A bounded load runs
through the VIP the whole time: no request fails, the amphora is the same one (same id, same
agent process), its heartbeats keep arriving (N+1 does not fail it over), and the next change
is rendered by N+1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from portico import bootstrap
from portico.db.models import Amphora
from portico.settings import Settings
from tests.conftest import wait_for, wait_lb_status
from tests.support.amphorae import amphora_pids, reap_amphorae
from tests.support.backends import backends
from tests.support.dataplane import build_lb, http_pool
from tests.support.load import Load

PORT = 8080
AMPS = "/v2/octavia/amphorae"


def _heartbeat_at(settings: Settings, amphora_id: str) -> Any:
    db = bootstrap.build_database(settings)
    try:
        with db.reading() as session:
            row = session.get(Amphora, amphora_id)
            assert row is not None
            return row.status, row.last_heartbeat_at, row.agent_config_pending
    finally:
        db.dispose()


def test_a_newer_controller_takes_over_without_touching_the_amphorae(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    common = {
        "default_provider_driver": "amphora",
        "compute_driver": "local",
        "heartbeat_timeout": 2.0,
    }
    old_settings = settings_factory(haproxy_hard_stop_after=30, **common)
    new_settings = settings_factory(haproxy_hard_stop_after=31, **common)
    assert old_settings.health_bind_port != new_settings.health_bind_port
    try:
        with backends(2) as servers:
            old = client_factory(old_settings)
            listener = {
                "protocol": "HTTP",
                "protocol_port": PORT,
                "default_pool": http_pool("w", servers),
            }
            lb = build_lb(old, [listener])
            (amphora,) = old.get(AMPS, params={"loadbalancer_id": lb["id"]}).json()["amphorae"]
            agent_file = tmp_path / "amphorae" / amphora["id"] / "agent.json"
            cfg = tmp_path / "amphorae" / amphora["id"] / "haproxy" / "haproxy.cfg"
            assert "hard-stop-after 30s" in cfg.read_text()
            assert json.loads(agent_file.read_text())["heartbeat_targets"] == [
                f"127.0.0.1:{old_settings.health_bind_port}"
            ]
            pids = amphora_pids(tmp_path)

            with Load(lb["vip_address"], PORT, keepalive=2, fresh=2, rate=25, seconds=90) as load:
                new = client_factory(new_settings)
                accepted = new.put(f"{AMPS}/{amphora['id']}/config")
                assert accepted.status_code == 202, accepted.text
                new_target = f"127.0.0.1:{new_settings.health_bind_port}"
                wait_for(
                    lambda: json.loads(agent_file.read_text())["heartbeat_targets"] == [new_target],
                    timeout=30,
                )
                wait_lb_status(new, lb["id"], timeout=30)
                # The old controller goes; the amphora now heartbeats to the new one only.
                old.__exit__(None, None, None)
                _, stopped_at, pending = _heartbeat_at(new_settings, amphora["id"])
                assert pending is None

                def heard_since() -> bool:
                    status, at, _ = _heartbeat_at(new_settings, amphora["id"])
                    assert status == "ALLOCATED"  # never failed over
                    return at is not None and (at - stopped_at).total_seconds() > 3.0

                wait_for(heard_since, timeout=20, interval=0.2)
                # The next change is rendered by the new version, still on the same amphora.
                renamed = new.put(
                    f"/v2/lbaas/loadbalancers/{lb['id']}",
                    json={"loadbalancer": {"name": "taken-over"}},
                )
                assert renamed.status_code == 200, renamed.text
                wait_lb_status(new, lb["id"], timeout=30)
                assert wait_for(lambda: "hard-stop-after 31s" in cfg.read_text(), timeout=20)
                result = load.stop()
            print(f"takeover: {result.ok} ok, {result.failed} failed {dict(result.reasons)}")
            assert result.failed == 0, result.reasons
            assert result.ok > 100
            found = new.get(AMPS, params={"loadbalancer_id": lb["id"]}).json()["amphorae"]
            assert [(a["id"], a["status"]) for a in found] == [(amphora["id"], "ALLOCATED")]
            # The same agent process (and its haproxy master) served throughout.
            assert set(pids) <= set(amphora_pids(tmp_path))
    finally:
        reap_amphorae(tmp_path)
