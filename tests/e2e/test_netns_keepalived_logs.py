"""``forward_all_logs`` with a real keepalived (root): an ACTIVE_STANDBY pair's VRRP lines
reach the admin syslog target.

The target is a UDP receiver in the member's namespace, on the VIP's network, which the
amphorae reach from their own namespaces. keepalived logs its state changes; killing the
MASTER's haproxy makes both halves log one (the check script fails, the VIP moves), and those
lines must arrive with keepalived's app name and the administrative facility (local1).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import wait_for
from tests.e2e.test_netns_active_standby import active_standby, assert_takes_over

pytestmark = pytest.mark.xdist_group("netns")
PORT = 5514
# A UDP syslog receiver: each datagram as one line of the file named by argv[3].
RECEIVER = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[1], int(sys.argv[2])))
with open(sys.argv[3], "ab", buffering=0) as out:
    while True:
        out.write(sock.recv(65535).replace(b"\\n", b" ") + b"\\n")
"""


def test_keepalived_lines_reach_the_admin_target(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    received = tmp_path / "syslog.txt"
    received.touch()
    with active_standby(
        client_factory,
        settings_factory,
        tmp_path,
        admin_log_targets=[f"10.216.0.101:{PORT}"],
        forward_all_logs=True,
    ) as pair:
        argv = ["ip", "netns", "exec", pair.member.namespace, sys.executable, "-c", RECEIVER]
        receiver = subprocess.Popen(
            [*argv, pair.member.ip, str(PORT), str(received)],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        pair.member.servers.append(receiver)  # killed by its pid with the namespace's servers
        roles = pair.by_role()
        master, backup = roles["MASTER"]["id"], roles["BACKUP"]["id"]
        assert_takes_over(pair, master, backup)

        def keepalived_lines() -> list[str]:
            return [line for line in received.read_text().splitlines() if " keepalived " in line]

        lines = wait_for(keepalived_lines, timeout=20)
    # RFC 5424: <PRI>1 TIMESTAMP HOST APP ...; local1 (17) at any severity: PRI 136-143.
    pri = int(lines[0][1 : lines[0].index(">")])
    assert pri // 8 == 17, lines[0]
    hosts = {line.split(" ")[2] for line in lines}
    assert hosts & {master, backup}, lines
