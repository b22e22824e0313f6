"""TCP behaviour through a real amphora: a TCP listener balances connections over an echo
pool, a disabled listener refuses connections, and the listener's client timeout is the one
haproxy enforces on an idle client."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.backends import backends
from tests.support.dataplane import (
    build_lb,
    delete_lb,
    echo_once,
    echo_servers,
    http_pool,
    rendered_config,
)


def test_tcp_pool_disabled_listener_and_idle_client_timeout(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with echo_servers(2) as echo, backends(1) as web:
        tcp_pool = {
            "name": "echo",
            "protocol": "TCP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [
                {"name": s.name, "address": "127.0.0.1", "protocol_port": s.port} for s in echo
            ],
        }
        lb = build_lb(
            amphora_client,
            [
                {
                    "name": "tcp",
                    "protocol": "TCP",
                    "protocol_port": 9001,
                    "timeout_client_data": 500,
                    "default_pool": tcp_pool,
                },
                {
                    "name": "off",
                    "protocol": "HTTP",
                    "protocol_port": 9002,
                    "admin_state_up": False,
                    "default_pool": http_pool("web", web),
                },
            ],
        )
        vip = lb["vip_address"]
        config = rendered_config(tmp_path)

        answers = [echo_once(vip, 9001, b"ping %d" % i) for i in range(4)]
        assert [a.split(b":", 1)[1] for a in answers] == [b"ping %d" % i for i in range(4)]
        names = [a.split(b":", 1)[0] for a in answers]
        assert sorted(names) == [b"e0", b"e0", b"e1", b"e1"], (answers, config)

        # timeout_client_data 500 ms: an idle client is disconnected by haproxy (the
        # default, 50 s, would outlast the socket's own 5 s timeout).
        with socket.create_connection((vip, 9001), timeout=5) as conn:
            conn.sendall(b"hello")
            assert conn.recv(4096).endswith(b":hello")
            started = time.monotonic()
            assert conn.recv(4096) == b"", config
            assert time.monotonic() - started < 3, config

        # A listener with admin_state_up false does not listen at all.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((vip, 9002), timeout=3).close()
        delete_lb(amphora_client, lb["id"], tmp_path)
