"""Helpers for tests that run real amphorae (the local compute driver).

``reap_amphorae`` is the safety net every such test's teardown runs: it stops the agents and
haproxy masters whose pid files are under the test's data directory (by pid, never by name),
so a failing test leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import httpx

from portico.drivers.compute.processes import pid_alive, read_pid


def amphora_pids(data_dir: Path) -> list[int]:
    """Live agent and haproxy master pids of every amphora under ``data_dir``."""
    root = data_dir / "amphorae"
    if not root.exists():
        return []
    pids = []
    for base in root.iterdir():
        for path in (base / "agent.pid", base / "haproxy" / "run" / "haproxy.pid"):
            pid = read_pid(path)
            if pid is not None and pid_alive(pid):
                pids.append(pid)
    return pids


def reap_amphorae(data_dir: Path, *, deadline: float = 10.0) -> list[int]:
    """Stop every amphora process under ``data_dir``; returns the pids that were running."""
    pids = amphora_pids(data_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + deadline
    while time.monotonic() < end and any(pid_alive(p) for p in pids):
        time.sleep(0.02)
    for pid in pids:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return pids


def get_through(url: str, *, timeout: float = 2.0, **kwargs: object) -> httpx.Response:
    """One request through a VIP, on a fresh connection (no pooling between calls)."""
    with httpx.Client(timeout=timeout, **kwargs) as client:  # type: ignore[arg-type]
        return client.get(url)
