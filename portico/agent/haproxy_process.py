"""The haproxy master process of one amphora: start, reload, stop, and what it last said.

haproxy runs in master-worker mode with the amphora's directory as working directory
(``run/haproxy.pid``, ``run/master.sock``, ``run/stats.sock``) and writes its output to
``log/haproxy.log``: whether a start or a reload worked is read there ("Loading success",
"Loading failure"), the only place the master says it.

A reload is a SIGUSR2 to the master: listener sockets pass to the new worker, and the
rendered ``option idle-close-on-response`` and ``hard-stop-after`` let the old worker finish
without failing a request. A reload the master refuses ("Loading failure", e.g. an address
already taken) leaves the old workers serving.

``wanted`` records whether haproxy should run: ``start`` (and so every apply) sets it, ``stop``
clears it. The supervisor (``supervisor.py``) restarts a haproxy that is wanted but dead.
``on_change`` is called after every start (successful or not) and stop, so keepalived's track
file follows haproxy at once rather than at the supervisor's next poll. What is applied, and
the rollback to the last known good, is ``haproxy.py``'s part.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from portico.agent import procfs, runtime_socket

LOG = logging.getLogger(__name__)
START_TIMEOUT = 10.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
RESIGNAL_AFTER = 0.25


class ReloadFailed(Exception):
    """haproxy did not come up with the new configuration; the old one was restored.

    ``old_workers_serve``: the master refused the new configuration ("Loading failure") and
    its workers go on serving the previous one, so no rollback reload is needed.
    """

    def __init__(self, output: str, *, old_workers_serve: bool = False) -> None:
        super().__init__(output)
        self.output = output
        self.old_workers_serve = old_workers_serve


class HaproxyProcess:
    """The haproxy master of one amphora. All methods are coroutines of the agent's loop."""

    def __init__(self, base_dir: Path, *, binary: str = "haproxy") -> None:
        self.base = base_dir
        self.binary = binary
        self.last_reload_ok: bool | None = None
        self.last_reload_output: str | None = None
        # Reloads this agent made (SIGUSR2 that haproxy confirmed); runtime changes make none.
        self.reloads = 0
        # Whether haproxy should run once a configuration is applied. True until a stop: an
        # agent that adopts a running haproxy (or boots with one applied) supervises it.
        self.wanted = True
        # Called after haproxy may have started or stopped (keepalived's track file).
        self.on_change: Callable[[], None] | None = None
        self._run_fd: int | None = None
        for sub in ("certs", "run", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)

    # -- paths -------------------------------------------------------------------------
    @property
    def cfg_path(self) -> Path:
        return self.base / "haproxy.cfg"

    @property
    def stats_socket(self) -> Path:
        """A path to connect to the runtime API socket, short enough for AF_UNIX.

        Socket paths are limited to 107 bytes and an amphora's directory can be deeper than
        that; through an open descriptor of ``run/`` the path stays short on Linux.
        """
        path = self.base / "run" / "stats.sock"
        if len(str(path)) < 100:
            return path
        if self._run_fd is None:
            self._run_fd = os.open(self.base / "run", os.O_PATH | os.O_DIRECTORY)
        return Path(f"/proc/self/fd/{self._run_fd}/stats.sock")

    @property
    def pid_path(self) -> Path:
        return self.base / "run" / "haproxy.pid"

    @property
    def log_path(self) -> Path:
        return self.base / "log" / "haproxy.log"

    # -- the process ---------------------------------------------------------------------
    def recorded_pid(self) -> int | None:
        """The pid in the pid file, alive or not (a master that died leaves its file)."""
        try:
            return int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def master_pid(self) -> int | None:
        """The live master's pid; ``None`` when none runs (a zombie counts as dead)."""
        pid = self.recorded_pid()
        if pid is None:
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        # kill 0 succeeds on a zombie: an adopted master that died waits for init to reap it.
        return None if procfs.state(pid) == "Z" else pid

    @property
    def running(self) -> bool:
        return self.master_pid() is not None

    async def start(self) -> None:
        """Start haproxy on the applied configuration unless it runs; it is wanted from now."""
        self.wanted = True
        try:
            await self._start()
        finally:
            self._changed()

    async def _start(self) -> None:
        if self.running:
            return
        if not self.cfg_path.exists():
            raise ReloadFailed("no configuration has been applied yet")
        dead = self.recorded_pid()
        if dead is not None:
            await asyncio.to_thread(self._kill_leftovers, dead)
        self.stats_socket.unlink(missing_ok=True)
        offset = self._log_size()
        log = self.log_path.open("ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                "-W",
                "-S",
                "unix@run/master.sock",
                "-f",
                "haproxy.cfg",
                "-p",
                "run/haproxy.pid",
                cwd=self.base,
                stdout=log,
                stderr=log,
                start_new_session=True,  # survives an agent restart; the new agent adopts it
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise ReloadFailed(self._log_since(offset))
            if "Loading success" in self._log_since(offset) and await self._answers():
                self._record(True, offset)
                # Reap the master when it exits so it never lingers as a zombie.
                asyncio.get_running_loop().create_task(proc.wait())
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.02)
        self._record(False, offset)
        raise ReloadFailed("haproxy did not start in time:\n" + self._log_since(offset))

    async def reload(self) -> None:
        pid = self.master_pid()
        if pid is None:
            await self.start()
            return
        offset = self._log_size()
        os.kill(pid, signal.SIGUSR2)
        signalled = time.monotonic()
        deadline = signalled + RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            text = self._log_since(offset)
            if "Reloading HAProxy" not in text and time.monotonic() - signalled > RESIGNAL_AFTER:
                # Measured on 2.6: a master that has just failed a reload re-executes itself
                # and loses a SIGUSR2 that arrives meanwhile (no "Reloading" line): resend.
                os.kill(pid, signal.SIGUSR2)
                signalled = time.monotonic()
            if "Loading failure" in text:
                self._record(False, offset)
                raise ReloadFailed(text, old_workers_serve=True)
            if "Loading success" in text:
                self._record(True, offset)
                self.reloads += 1
                return
            await asyncio.sleep(0.01)
        self._record(False, offset)
        raise ReloadFailed(
            "haproxy did not confirm the reload in time:\n" + self._log_since(offset)
        )

    async def stop(self) -> None:
        """Stop haproxy (SIGTERM, then SIGKILL) and leave it stopped: it is no longer wanted."""
        self.wanted = False
        try:
            await self._stop()
        finally:
            self._changed()

    async def _stop(self) -> None:
        pid = self.master_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        # Polling another process's exit: there is no event to wait on.
        while time.monotonic() < deadline and self.master_pid() is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if self.master_pid() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await asyncio.to_thread(self._kill_leftovers, pid)
        self.pid_path.unlink(missing_ok=True)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _kill_leftovers(self, master: int) -> None:
        """SIGKILL the processes a dead master left behind in this directory.

        Workers notice their master's death and exit within milliseconds, unless they are
        stuck (or stopped): then they keep their listening sockets, and since haproxy binds
        with SO_REUSEPORT a new master starts beside them while the kernel hands them a share
        of new connections that nobody answers.
        """
        for pid in procfs.kill_group_left_in(master, self.base):
            LOG.warning("haproxy master %s: killed process %s it left", master, pid)

    async def _answers(self) -> bool:
        try:
            await runtime_socket.command(self.stats_socket, "show info", seconds=1.0)
        except (OSError, TimeoutError):
            return False
        return True

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                return fh.read(64_000).decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _record(self, ok: bool, offset: int) -> None:
        self.last_reload_ok = ok
        self.last_reload_output = self._log_since(offset)[-8000:]
