"""``portico admin amphora …`` and ``portico admin loadbalancer …`` against a real API (with
its reconciler) served on 127.0.0.1, whose load balancer runs on a real amphora."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from typer.testing import CliRunner

from portico.cli.main import app
from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, wait_for
from tests.support.amphorae import reap_amphorae
from tests.support.api_server import serving
from tests.support.backends import backends


def _status(url: str, lb_id: str) -> str:
    lb = httpx.get(f"{url}/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
    return str(lb["provisioning_status"])


def _create(url: str, address: str, port: int) -> str:
    pool = {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    pool["members"] = [{"address": address, "protocol_port": port}]  # type: ignore[assignment]
    body = {
        "vip_subnet_id": LOCAL_SUBNET,
        "listeners": [{"protocol": "HTTP", "protocol_port": 8095, "default_pool": pool}],
    }
    created = httpx.post(f"{url}/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert created.status_code == 201, created.text
    lb_id = str(created.json()["loadbalancer"]["id"])
    wait_for(lambda: _status(url, lb_id) == "ACTIVE", timeout=30)
    return lb_id


def test_admin_amphora_and_loadbalancer_commands(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(default_provider_driver="amphora", compute_driver="local")
    runner = CliRunner()
    try:
        with backends(1) as servers, serving(settings, with_reconciler=True) as url:
            lb_id = _create(url, servers[0].address, servers[0].port)
            opts = ["--endpoint", url]
            listed = runner.invoke(app, ["admin", "amphora", "list", *opts])
            assert listed.exit_code == 0, listed.output
            [line] = listed.output.splitlines()
            amphora_id = line.split()[0]
            assert f"lb={lb_id}" in line and "ALLOCATED" in line and "STANDALONE" in line
            shown = runner.invoke(app, ["admin", "amphora", "show", amphora_id, *opts])
            assert f"loadbalancer_id: {lb_id}" in shown.output.splitlines()
            found = runner.invoke(app, ["admin", "amphora", "diagnostics", amphora_id, *opts])
            assert found.exit_code == 0, found.output
            assert "config in sync: yes" in found.output.splitlines()
            assert "haproxy running: yes" in found.output.splitlines()
            logs = runner.invoke(app, ["admin", "amphora", "logs", amphora_id, *opts])
            assert logs.exit_code == 0 and "Loading success." in logs.output
            lb_logs = runner.invoke(app, ["admin", "loadbalancer", "logs", lb_id, *opts])
            assert all(line.startswith(amphora_id) for line in lb_logs.output.splitlines())
            resync = runner.invoke(app, ["admin", "loadbalancer", "resync", lb_id, *opts])
            assert resync.exit_code == 0, resync.output
            assert resync.output == f"resync of load balancer {lb_id} accepted\n"
            wait_for(lambda: _status(url, lb_id) == "ACTIVE", timeout=30)
            missing = runner.invoke(app, ["admin", "amphora", "diagnostics", "nope", *opts])
            assert missing.exit_code == 1 and missing.output.startswith("404: Amphora nope")
    finally:
        reap_amphorae(tmp_path)


def test_admin_support_commands_show_the_api_refusal_for_a_non_admin(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(noauth_default_roles=["member"])
    with serving(settings, with_reconciler=True) as url:
        runner = CliRunner()
        results = [
            runner.invoke(app, ["admin", *command, "--endpoint", url])
            for command in (
                ["amphora", "list"],
                ["amphora", "diagnostics", "x"],
                ["amphora", "logs", "x"],
                ["loadbalancer", "logs", "x"],
                ["loadbalancer", "resync", "x"],
            )
        ]
    for result in results:
        assert result.exit_code == 1 and result.output.startswith("403: "), result.output
