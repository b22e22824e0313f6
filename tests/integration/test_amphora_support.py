"""Support staff's calls on real amphorae (local compute driver: agent + haproxy processes):
amphora show with what the agent runs, diagnostics, logs, and a resync that repairs an
amphora whose applied configuration was edited behind the controller's back."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import portico
from portico.drivers.compute.processes import pid_alive, read_pid
from portico.wire.agent_api import SUPPORTED_API_VERSIONS
from tests.conftest import wait_for, wait_lb_status
from tests.support.amphorae import get_through
from tests.support.backends import backends
from tests.support.dataplane import build_lb, http_listener

SUPPORT = "/v2/portico"


def _amphora(client: TestClient, lb_id: str) -> dict[str, Any]:
    found = client.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb_id}).json()
    [amphora] = found["amphorae"]
    return dict(amphora)


def _diagnostics(client: TestClient, amphora_id: str) -> dict[str, Any]:
    response = client.get(f"{SUPPORT}/amphorae/{amphora_id}/diagnostics")
    assert response.status_code == 200, response.text
    return dict(response.json()["diagnostics"])


def _amphora_dir(data_dir: Path, amphora: dict[str, Any]) -> Path:
    return data_dir / "amphorae" / amphora["compute_id"]


def test_amphora_show_has_what_the_agent_runs_and_its_heartbeat_age(
    amphora_client: TestClient,
) -> None:
    with backends(1) as servers:
        lb = build_lb(amphora_client, [http_listener(8091, servers)])
        amphora_id = _amphora(amphora_client, lb["id"])["id"]

        def beating() -> dict[str, Any] | None:
            body = amphora_client.get(f"/v2/octavia/amphorae/{amphora_id}").json()["amphora"]
            return body if body["last_heartbeat_at"] is not None else None

        shown = wait_for(beating)
    assert (shown["role"], shown["status"]) == ("STANDALONE", "ALLOCATED")
    assert shown["cert_expiration"] is not None and shown["loadbalancer_id"] == lb["id"]
    assert (
        shown["agent_version"] == portico.__version__
        and shown["api_version"] in SUPPORTED_API_VERSIONS
    )
    assert shown["haproxy_version"].startswith("2.") and shown["openssl_version"]
    assert 0 <= shown["heartbeat_age_seconds"] < 10


def test_diagnostics_show_haproxy_and_a_resync_repairs_an_edited_config(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(1) as servers:
        lb = build_lb(amphora_client, [http_listener(8092, servers)])
        amphora = _amphora(amphora_client, lb["id"])
        before = _diagnostics(amphora_client, amphora["id"])
        config = before["config"]
        assert config["in_sync"] is True and config["expected_hash"] == config["applied_hash"]
        assert config["recorded_hash"] == config["agent_hash"] == config["expected_hash"]
        assert before["haproxy"]["running"] is True
        assert before["haproxy"]["info"]["Version"].startswith("2.")
        proxies = {row["pxname"] for row in before["haproxy"]["stat"]}
        assert any(name.startswith(lb["listeners"][0]["id"]) for name in proxies)
        assert isinstance(before["haproxy"]["errors"], str)
        assert before["last_reload"]["ok"] is True and before["agent_error"] is None
        assert before["agent"]["amphora_id"] == amphora["id"]
        assert before["loadbalancer"]["provisioning_status"] == "ACTIVE"

        # Someone edits the applied configuration on the amphora.
        cfg = _amphora_dir(tmp_path, amphora) / "haproxy" / "haproxy.cfg"
        cfg.write_text(cfg.read_text() + "# edited by hand\n")
        drifted = _diagnostics(amphora_client, amphora["id"])["config"]
        assert drifted["in_sync"] is False
        assert drifted["applied_hash"] != drifted["expected_hash"]
        assert drifted["agent_hash"] == drifted["expected_hash"]  # the agent's record lies

        resync = amphora_client.put(f"{SUPPORT}/loadbalancers/{lb['id']}/resync")
        assert resync.status_code == 202, resync.text
        shown = amphora_client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()
        assert shown["loadbalancer"]["provisioning_status"] in ("PENDING_UPDATE", "ACTIVE")
        wait_lb_status(amphora_client, lb["id"])
        wait_for(lambda: _diagnostics(amphora_client, amphora["id"])["config"]["in_sync"])
        assert "# edited by hand" not in cfg.read_text()
        assert get_through(f"http://{lb['vip_address']}:8092/").text == "b0"


def _walk(client: TestClient, path: str, params: dict[str, str]) -> list[list[str]]:
    """Every page of a logs call, following ``next`` links."""
    pages = []
    response = client.get(path, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["line"] for item in body["logs"]])
        links = [link["href"] for link in body["logs_links"] if link["rel"] == "next"]
        if not links:
            return pages
        response = client.get(links[0])


def test_logs_page_from_the_newest_line_back_and_forwards_with_page_reverse(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(1) as servers:
        lb = build_lb(amphora_client, [http_listener(8093, servers)])
        amphora = _amphora(amphora_client, lb["id"])
        path = f"{SUPPORT}/amphorae/{amphora['id']}/logs"
        log = _amphora_dir(tmp_path, amphora) / "haproxy" / "log" / "haproxy.log"
        on_disk = log.read_text().splitlines()
        assert len(on_disk) >= 2

        newest = amphora_client.get(path, params={"source": "haproxy", "limit": "1"}).json()
        assert [item["line"] for item in newest["logs"]] == on_disk[-1:]
        assert {item["amphora_id"] for item in newest["logs"]} == {amphora["id"]}
        backwards = _walk(amphora_client, path, {"limit": "1"})
        assert [line for page in reversed(backwards) for line in page] == on_disk
        assert len(backwards) == len(on_disk)
        forwards = _walk(amphora_client, path, {"limit": "1", "page_reverse": "true"})
        assert [line for page in forwards for line in page] == on_disk

        agent = amphora_client.get(path, params={"source": "agent"})
        assert agent.status_code == 200
        assert get_through(f"http://{lb['vip_address']}:8093/").text == "b0"

        def flow_lines() -> list[str]:
            found = amphora_client.get(path, params={"source": "tenant"}).json()["logs"]
            return [item["line"] for item in found if lb["id"] in item["line"]]

        # The agent's log sink stores haproxy's flow log line of that request.
        assert wait_for(flow_lines)
        assert amphora_client.get(path, params={"source": "admin"}).status_code == 200
        lb_logs = amphora_client.get(f"{SUPPORT}/loadbalancers/{lb['id']}/logs")
        assert lb_logs.status_code == 200
        body = lb_logs.json()
        assert [item["line"] for item in body["logs"]] == on_disk[-100:]
        assert {item["amphora_id"] for item in body["logs"]} == {amphora["id"]}
        assert body["unreachable"] == []


def test_an_unreachable_agent_is_reported_beside_what_the_database_knows(
    client_factory: Any, settings_factory: Any, tmp_path: Path
) -> None:
    from tests.support.amphorae import reap_amphorae

    # No health service: the dead agent must not be failed over while we look at it.
    settings = settings_factory(
        default_provider_driver="amphora", compute_driver="local", run_health=False
    )
    try:
        client = client_factory(settings)
        with backends(1) as servers:
            lb = build_lb(client, [http_listener(8094, servers)])
            amphora = _amphora(client, lb["id"])
            agent_pid = read_pid(_amphora_dir(tmp_path, amphora) / "agent.pid")
            assert agent_pid is not None
            os.kill(agent_pid, signal.SIGKILL)
            wait_for(lambda: not pid_alive(agent_pid))

            found = _diagnostics(client, amphora["id"])
            logs = client.get(f"{SUPPORT}/amphorae/{amphora['id']}/logs")
            lb_logs = client.get(f"{SUPPORT}/loadbalancers/{lb['id']}/logs")
    finally:
        reap_amphorae(tmp_path)
    assert found["amphora"]["id"] == amphora["id"] and found["agent"] is None
    assert found["haproxy"] is None and found["config"]["in_sync"] is None
    assert found["config"]["expected_hash"] == found["config"]["recorded_hash"]
    error = found["agent_error"]
    assert error["faultcode"] == "Server" and error["debuginfo"] is None
    assert error["faultstring"].startswith(f"Amphora {amphora['id']} agent is unavailable")
    assert logs.status_code == 503 and lb_logs.status_code == 503
    assert logs.json()["faultstring"].startswith(f"Amphora {amphora['id']} agent is unavailable")
    assert set(logs.json()) == {"faultcode", "faultstring", "debuginfo"}
