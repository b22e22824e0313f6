"""Log offloading on real amphorae: haproxy's tenant flow lines and admin lines reach syslog
receivers started by the test (UDP and TCP, on 127.0.0.1) through the amphora's agent, and
the amphora's local files; a stream's second target is a backup that gets nothing while the
first works, a TCP target that comes up late gets the lines queued for it, and
``forward_all_logs`` ships the agent's own records too.

Each scenario (``_scene``) has one load balancer with one HTTP listener whose pool holds a
live backend and a member on a closed port with a one-failure health monitor: its going DOWN
is the admin line. It is created, ACTIVE and has carried REQUESTS requests when a test
looks at the receivers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, wait_for, wait_lb_status
from tests.support.amphorae import amphora_pids, get_through, reap_amphorae
from tests.support.backends import backends
from tests.support.processes import free_port
from tests.support.syslog import SyslogReceiver, syslog_receiver

PROJECT = "5408b89aa45b48c69a53dca1aaec58db"
HEADERS = {"X-Project-Id": PROJECT, "X-Roles": "member"}
PORT = 8080
REQUESTS = 5


@dataclass(frozen=True)
class Scene:
    client: TestClient
    ids: dict[str, str]
    logs: Path  # the amphora's haproxy/log directory


@pytest.fixture
def scene(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> Callable[..., AbstractContextManager[Scene]]:
    """``scene(**log_settings)``: an amphora API with those settings and the load balancer."""

    @contextmanager
    def run(**logging: Any) -> Iterator[Scene]:
        settings = settings_factory(
            default_provider_driver="amphora", compute_driver="local", **logging
        )
        with backends(1) as [server]:
            try:
                client = client_factory(settings)
                lb = _load_balancer(client, server.address, server.port)
                ids = _ids(client, lb, server.port)
                _traffic(lb)
                yield Scene(client, ids, _log_dir(client, tmp_path))
            finally:
                reap_amphorae(tmp_path)

    return run


def _load_balancer(client: TestClient, live: str, live_port: int) -> dict[str, Any]:
    """Created and ACTIVE: a live member and one on a closed port (it goes DOWN)."""
    dead = {"address": "127.0.0.1", "protocol_port": free_port()}
    body = {
        "vip_subnet_id": LOCAL_SUBNET,
        "name": 'shop %[src] "quoted"',
        "listeners": [
            {
                "protocol": "HTTP",
                "protocol_port": PORT,
                "default_pool": {
                    "name": "web",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": live, "protocol_port": live_port}, dead],
                    "healthmonitor": {
                        "type": "TCP",
                        "delay": 1,
                        "timeout": 1,
                        "max_retries": 1,
                        "max_retries_down": 1,
                    },
                },
            }
        ],
    }
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}, headers=HEADERS)
    assert created.status_code == 201, created.text
    return wait_lb_status(client, created.json()["loadbalancer"]["id"], timeout=30)


def _ids(client: TestClient, lb: dict[str, Any], live_port: int) -> dict[str, str]:
    listener = lb["listeners"][0]["id"]
    pool = client.get(f"/v2/lbaas/listeners/{listener}").json()["listener"]["default_pool_id"]
    members = client.get(f"/v2/lbaas/pools/{pool}/members").json()["members"]
    live = next(m["id"] for m in members if m["protocol_port"] == live_port)
    dead = next(m["id"] for m in members if m["id"] != live)
    return {"lb": lb["id"], "listener": listener, "pool": pool, "live": live, "dead": dead}


def _traffic(lb: dict[str, Any]) -> None:
    url = f"http://{lb['vip_address']}:{PORT}/"
    for _ in range(REQUESTS):
        # The dead member may take a request before its check fails; haproxy redispatches.
        assert get_through(url).status_code == 200


def _log_dir(client: TestClient, data_dir: Path) -> Path:
    [amphora] = client.get("/v2/octavia/amphorae").json()["amphorae"]
    return data_dir / "amphorae" / str(amphora["compute_id"]) / "haproxy" / "log"


def _flow_lines(messages: list[str], ids: dict[str, str]) -> list[str]:
    return [m for m in messages if ids["lb"] in m and "GET / HTTP/1.1" in m]


def _assert_flow_line(line: str, ids: dict[str, str]) -> None:
    """Octavia's default fields, in its order, after the syslog header."""
    fields = line.split(f"{PROJECT} ", 1)[1].split(" ")
    assert fields[0] == ids["lb"]
    assert fields[1] == ids["listener"]
    assert fields[2] == "127.0.0.1"  # client ip
    assert fields[3].isdigit()  # client port
    assert '"GET / HTTP/1.1"' in line
    status = fields[fields.index('HTTP/1.1"') + 1]
    assert status == "200"
    assert f"{ids['pool']}:{ids['listener']}" in fields  # the backend (pool)
    assert ids["live"] in fields  # the member that answered
    assert "shop" not in line  # the load balancer's name is not logged


def _has_flows(receiver: SyslogReceiver, ids: dict[str, str]) -> bool:
    return len(_flow_lines(receiver.messages(), ids)) >= REQUESTS


def _stays_empty(receiver: SyslogReceiver, ids: dict[str, str], seconds: float = 1.5) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert _flow_lines(receiver.messages(), ids) == []
        time.sleep(0.05)


Scenes = Callable[..., AbstractContextManager[Scene]]


def test_udp_targets_get_flow_lines_and_admin_lines_and_local_files_keep_both(
    scene: Scenes,
) -> None:
    with (
        syslog_receiver("UDP") as tenant,
        syslog_receiver("UDP") as admin,
        scene(tenant_log_targets=[tenant.address], admin_log_targets=[admin.address]) as s,
    ):
        wait_for(partial(_has_flows, tenant, s.ids), timeout=20)
        flow = _flow_lines(tenant.messages(), s.ids)
        _assert_flow_line(flow[0], s.ids)
        assert flow[0].startswith("<134>1 ")  # local0 (16) * 8 + info (6), RFC 5424
        down = admin.wait_for(s.ids["dead"], "is DOWN")
        facility, severity = divmod(int(down[1 : down.index(">")]), 8)
        assert (facility, severity <= 5) == (17, True)  # local1, notice or worse
        assert _flow_lines(admin.messages(), s.ids) == []  # admin targets get no flow lines

        wait_for(lambda: len(_flow_lines(_read(s.logs / "tenant.log"), s.ids)) >= REQUESTS)
        _assert_flow_line(_flow_lines(_read(s.logs / "tenant.log"), s.ids)[0], s.ids)
        wait_for(lambda: [m for m in _read(s.logs / "admin.log") if s.ids["dead"] in m])
        assert _flow_lines(_read(s.logs / "admin.log"), s.ids) == []


def test_tcp_targets_get_both_streams_a_backup_none_and_nothing_is_stored_locally(
    scene: Scenes,
) -> None:
    with (
        syslog_receiver("TCP") as tenant,
        syslog_receiver("TCP") as backup,
        syslog_receiver("TCP") as admin,
        scene(
            tenant_log_targets=[tenant.address, backup.address],
            admin_log_targets=[admin.address],
            log_protocol="TCP",
            disable_local_log_storage=True,
        ) as s,
    ):
        wait_for(partial(_has_flows, tenant, s.ids))
        _assert_flow_line(_flow_lines(tenant.messages(), s.ids)[0], s.ids)
        admin.wait_for(s.ids["dead"], "is DOWN")
        assert _flow_lines(admin.messages(), s.ids) == []
        # The second tenant target is the first one's backup: it gets nothing while that works.
        targets = _log_targets(s.client)
        assert targets[tenant.address]["sent"] >= REQUESTS
        assert (targets[backup.address]["sent"], targets[backup.address]["suspended"]) == (
            0,
            False,
        )
        assert targets[tenant.address]["suspended"] is False
        assert backup.messages() == []
        assert not (s.logs / "tenant.log").exists()
        assert not (s.logs / "admin.log").exists()


def test_without_connection_logging_no_flow_line_is_sent_or_stored_but_admin_lines_are(
    scene: Scenes,
) -> None:
    with (
        syslog_receiver("UDP") as receiver,
        scene(
            tenant_log_targets=[receiver.address],
            admin_log_targets=[receiver.address],
            connection_logging=False,
        ) as s,
    ):
        # One receiver for both streams: it hears the DOWN line, so it was reachable all
        # along, yet gets no flow line.
        receiver.wait_for(s.ids["dead"], "is DOWN")
        wait_for(lambda: [m for m in _read(s.logs / "admin.log") if s.ids["dead"] in m])
        _stays_empty(receiver, s.ids)
        assert _flow_lines(_read(s.logs / "tenant.log"), s.ids) == []
        assert _flow_lines(_read(s.logs / "admin.log"), s.ids) == []


def test_a_tcp_target_up_late_gets_the_queued_flow_lines_and_the_agent_says_so(
    scene: Scenes,
) -> None:
    late = free_port()  # nothing listens there while the load balancer carries traffic
    with (
        syslog_receiver("TCP") as admin,
        scene(
            tenant_log_targets=[f"127.0.0.1:{late}"],
            admin_log_targets=[admin.address],
            log_protocol="TCP",
            log_retry_count=1000,
            log_retry_interval=0.2,
            forward_all_logs=True,
        ) as s,
    ):
        unreachable = admin.wait_for(" portico-agent ", f"127.0.0.1:{late} (tenant) unreachable")
        assert unreachable.startswith("<140>1 ")  # local1 (17) * 8 + warning (4)
        with syslog_receiver("TCP", late) as tenant:
            wait_for(partial(_has_flows, tenant, s.ids), timeout=20)
            _assert_flow_line(_flow_lines(tenant.messages(), s.ids)[0], s.ids)
            admin.wait_for(" portico-agent ", f"127.0.0.1:{late} (tenant) reachable again")
            # What became of the lines, as the management API shows it.
            targets = _log_targets(s.client)
            assert targets[f"127.0.0.1:{late}"]["stream"] == "tenant"
            assert targets[f"127.0.0.1:{late}"]["connected"] is True
            assert targets[f"127.0.0.1:{late}"]["sent"] >= REQUESTS
            assert targets[f"127.0.0.1:{late}"]["dropped_queue_full"] == 0
            assert targets[f"127.0.0.1:{late}"]["dropped_retries_exhausted"] == 0
            assert targets[admin.address]["stream"] == "admin"


def test_amphora_configure_pushes_new_log_settings_to_a_running_amphora(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    common: dict[str, Any] = {"default_provider_driver": "amphora", "compute_driver": "local"}
    try:
        with (
            syslog_receiver("UDP") as before,
            syslog_receiver("UDP") as after,
            backends(1) as [server],
        ):
            old = client_factory(settings_factory(tenant_log_targets=[before.address], **common))
            lb = _load_balancer(old, server.address, server.port)
            ids = _ids(old, lb, server.port)
            [amphora] = old.get("/v2/octavia/amphorae").json()["amphorae"]
            # The operator's runbook: the controller restarts with new settings, then pushes.
            old.__exit__(None, None, None)
            new = client_factory(settings_factory(tenant_log_targets=[after.address], **common))
            pids = amphora_pids(tmp_path)
            accepted = new.put(f"/v2/octavia/amphorae/{amphora['id']}/config")
            assert accepted.status_code == 202, accepted.text
            wait_lb_status(new, lb["id"], timeout=30)
            wait_for(lambda: _log_targets(new).keys() == {after.address}, timeout=20)
            _traffic(lb)
            wait_for(partial(_has_flows, after, ids), timeout=20)
            assert _flow_lines(before.messages(), ids) == []
            assert amphora_pids(tmp_path) == pids  # the same amphora, not a new one
    finally:
        reap_amphorae(tmp_path)


def _log_targets(client: TestClient) -> dict[str, dict[str, Any]]:
    [amphora] = client.get("/v2/octavia/amphorae").json()["amphorae"]
    answer = client.get(f"/v2/portico/amphorae/{amphora['id']}/diagnostics")
    assert answer.status_code == 200, answer.text
    return {t["target"]: t for t in answer.json()["diagnostics"]["log_targets"]}


def _read(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
