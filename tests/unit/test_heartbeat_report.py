"""The agent turns haproxy's ``show stat`` rows into the heartbeat's states and counters."""

from __future__ import annotations

from portico.agent.heartbeat_sender import build_heartbeat, server_status


def test_haproxy_status_words_reduce_to_the_heartbeat_states() -> None:
    assert server_status("UP 1/3") == "UP"
    assert server_status("DOWN 1/2") == "DOWN"
    assert server_status("NOLB") == "DRAIN"
    assert server_status("MAINT (via b/s)") == "MAINT"
    assert server_status("no check") == "no check"
    assert server_status("OPEN") is None


def test_rows_become_listeners_pools_and_members() -> None:
    rows = [
        {"pxname": "l1", "svname": "FRONTEND", "type": "0", "status": "OPEN", "bin": "10",
         "bout": "20", "scur": "1", "stot": "5", "ereq": "2"},
        {"pxname": "p1:l1", "svname": "m1", "type": "2", "status": "UP"},
        {"pxname": "p1:l1", "svname": "m2", "type": "2", "status": "MAINT"},
        {"pxname": "p1:l1", "svname": "BACKEND", "type": "1", "status": "UP"},
    ]  # fmt: skip
    beat = build_heartbeat("a", 3, rows)
    assert beat.generation == 3
    listener = beat.listeners["l1"]
    assert (listener.status, listener.bytes_in, listener.bytes_out) == ("OPEN", 10, 20)
    assert (listener.active_connections, listener.total_connections) == (1, 5)
    assert listener.request_errors == 2
    assert beat.pools["p1:l1"].status == "UP"
    assert beat.pools["p1:l1"].members == {"m1": "UP", "m2": "MAINT"}
