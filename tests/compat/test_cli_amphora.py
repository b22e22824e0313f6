"""The unmodified ``openstack loadbalancer`` CLI against ``portico serve`` on the amphora
provider: the commands a user types give a VIP that balances real HTTP traffic, and a
cascade delete leaves no amphora process behind.

This module starts its own server (the suite's shared one runs the noop provider), with its
data directory in the test's temporary directory so its amphorae can be found and reaped.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.conftest import COMPAT, Osc, unique
from tests.support.amphorae import amphora_pids, get_through, reap_amphorae
from tests.support.backends import backends
from tests.support.processes import PorticoProcess, start_portico

pytestmark = COMPAT

if shutil.which("haproxy") is None:
    pytest.skip("needs haproxy (make test installs it)", allow_module_level=True)


@pytest.fixture
def amphora_server(tmp_path: Path) -> Iterator[tuple[PorticoProcess, Path]]:
    data_dir = tmp_path / "data"
    server = start_portico(
        "serve",
        data_dir=data_dir,
        env={"PORTICO_DEFAULT_PROVIDER_DRIVER": "amphora"},
        startup_timeout=90.0,
    )
    try:
        yield server, data_dir
    finally:
        server.stop()
        reap_amphorae(data_dir)


def test_cli_builds_a_balancing_load_balancer_and_cascade_delete_leaves_no_process(
    amphora_server: tuple[PorticoProcess, Path], tmp_path: Path
) -> None:
    server, data_dir = amphora_server
    home = tmp_path / "home"
    home.mkdir()
    osc = Osc(server.url, home)
    with backends(2) as web:
        lb = osc("create", "--name", unique("lb"), "--vip-subnet-id", "local", "--wait")
        assert lb["provisioning_status"] == "ACTIVE"
        assert lb["provider"] == "amphora"
        listener = osc(
            "listener",
            "create",
            *("--name", "web", "--protocol", "HTTP", "--protocol-port", "8080", "--wait"),
            lb["id"],
        )
        pool = osc(
            "pool",
            "create",
            *("--name", "web", "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN"),
            *("--listener", listener["id"], "--wait"),
        )
        for backend in web:
            osc(
                "member",
                "create",
                *("--name", backend.name, "--address", backend.address),
                *("--protocol-port", str(backend.port), "--wait"),
                pool["id"],
            )
        url = f"http://{lb['vip_address']}:8080/"
        seen = Counter(get_through(url).text for _ in range(10))
        assert seen == {"b0": 5, "b1": 5}
        assert amphora_pids(data_dir)

        osc("delete", "--cascade", "--wait", lb["id"], json=False)
        assert amphora_pids(data_dir) == []
        root = data_dir / "amphorae"
        assert not root.exists() or list(root.iterdir()) == []


def test_cli_amphora_configure_pushes_the_agent_settings(
    amphora_server: tuple[PorticoProcess, Path], tmp_path: Path
) -> None:
    """``openstack loadbalancer amphora configure --wait`` (Octavia's "Configure Amphora")."""
    server, data_dir = amphora_server
    home = tmp_path / "home"
    home.mkdir()
    osc = Osc(server.url, home)
    lb = osc("create", "--name", unique("lb"), "--vip-subnet-id", "local", "--wait")
    (amphora,) = osc("amphora", "list", "--loadbalancer", lb["id"])
    agent_file = data_dir / "amphorae" / amphora["id"] / "agent.json"
    before = json.loads(agent_file.read_text())["heartbeat_targets"]
    # Mark the settings as changed on the amphora, so the push is seen to rewrite them.
    settings = json.loads(agent_file.read_text()) | {"heartbeat_targets": ["127.0.0.1:9"]}
    agent_file.write_text(json.dumps(settings))
    osc("amphora", "configure", "--wait", amphora["id"], json=False)
    assert osc("show", lb["id"])["provisioning_status"] == "ACTIVE"
    assert json.loads(agent_file.read_text())["heartbeat_targets"] == before
    osc("delete", "--cascade", "--wait", lb["id"], json=False)
