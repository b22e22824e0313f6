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
    """Live agent and haproxy master pids of every amphora under ``data_dir`` (those in the
    local driver's compute zones, ``zones/<zone>/<id>``, included)."""
    root, zones = data_dir / "amphorae", data_dir / "zones"
    bases = [*root.glob("*/"), *zones.glob("*/*/")]
    pids = []
    for base in bases:
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
    # A deadline poll, but not wait_for: its end is no failure, the survivors get SIGKILL.
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


def haproxy_workers(master: int) -> list[int]:
    """Live children of a haproxy master (its workers), read from /proc."""
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == master and fields[0] != "Z":
            workers.append(int(entry.name))
    return workers


def amphora_processes(data_dir: Path, amphora_id: str) -> dict[str, list[int]]:
    """The agent, haproxy master and worker pids of one amphora (local driver)."""
    base = data_dir / "amphorae" / amphora_id
    agent = read_pid(base / "agent.pid")
    master = read_pid(base / "haproxy" / "run" / "haproxy.pid")
    return {
        "agent": [agent] if agent is not None and pid_alive(agent) else [],
        "master": [master] if master is not None and pid_alive(master) else [],
        "workers": haproxy_workers(master) if master is not None else [],
    }


def kill_amphora(data_dir: Path, amphora_id: str) -> list[int]:
    """kill -9 a whole amphora: agent, haproxy master and workers; returns their pids."""
    pids = [pid for group in amphora_processes(data_dir, amphora_id).values() for pid in group]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids
