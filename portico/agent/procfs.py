"""What the agent reads about its processes from /proc (Linux): state, name, leftovers.

Pid files outlive their processes (a crash, a reboot), so a pid is trusted only once /proc
says it is alive, not a zombie, and running what we expect.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

LOG = logging.getLogger(__name__)


def state(pid: int) -> str | None:
    """The state letter of ``/proc/<pid>/stat`` (``Z`` for a zombie), ``None`` if unreadable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive_as(pid: int, name: str) -> bool:
    """Whether ``pid`` lives (not a zombie) and runs a program called ``name``."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return comm == Path(name).name[:15] and state(pid) not in (None, "Z")


def kill_group_left_in(group: int, cwd: Path) -> list[int]:
    """SIGKILL every process of process group ``group`` whose working directory is ``cwd``.

    For the workers of a dead haproxy master (their group is the master's pid, as it runs in
    its own session): requiring the directory too keeps a recycled group id from naming a
    stranger. Returns the pids killed.
    """
    base = cwd.resolve()
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != group or Path(os.readlink(entry / "cwd")) != base:
                continue
            os.kill(int(entry.name), signal.SIGKILL)
            killed.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, a zombie (no cwd), or not ours to read
    return killed
