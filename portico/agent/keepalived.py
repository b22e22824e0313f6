"""Runs keepalived for an ACTIVE_STANDBY pair: validate, write, start or reload, clean up.

The controller renders keepalived's configuration for both amphorae of a pair; the agent
stores, validates (``keepalived -t``) and applies it, and renders nothing. Files live under
``<base_dir>/vrrp/`` (``base_dir`` being the amphora directory haproxy runs in):

- ``keepalived.conf``: the line ``$AMPHORA_DIR=<absolute base_dir>``, then the controller's
  text, which names the agent's files as ``${AMPHORA_DIR}/vrrp/...`` (keepalived's parameter
  substitution; relative paths cannot work, keepalived changes directory to ``/``);
- ``keepalived.pid`` (main process), ``vrrp.pid`` (its VRRP child); ``state.json``:
  generation, hash, interface and VIPs of what is applied, so a restarted agent adopts a
  running keepalived and knows which addresses to clean up;
- ``check-haproxy.sh``: the slow safety net (keepalived's ``vrrp_script``): exits 0 iff
  haproxy's master is alive;
- ``haproxy-state``: the fast path (keepalived's ``track_file``, weight 0): ``0`` while haproxy
  runs, ``1`` when it does not. Replaced by rename, which keepalived sees through inotify
  within milliseconds: it goes FAULT and the VIP moves to the peer.

keepalived output goes to ``<base_dir>/log/keepalived.log``. A keepalived killed with -9
leaves its VIPs on the interface (both amphorae would then answer for them), so the agent
deletes them itself before every start and after every stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from portico.agent import netif, procfs, syn_drop
from portico.agent.haproxy import HaproxyManager
from portico.agent.keepalived_files import check_script, keepalived_conf, start_argv, vrrp_hash
from portico.wire.agent_api import VrrpConfig

LOG = logging.getLogger(__name__)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
VALIDATE_TIMEOUT = 30.0


class VrrpRejected(Exception):
    """``keepalived -t`` refused the configuration; ``output`` is what keepalived said."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output


class VrrpFailed(Exception):
    """keepalived could not be run (it exited, or never came up); ``output`` is its log."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output


@dataclass
class VrrpState:
    generation: int = 0
    config_hash: str | None = None
    interface: str = ""
    vips: list[str] = field(default_factory=list)
    # SYNs to the VIPs are being dropped (a handover): undone before keepalived starts again.
    syn_drop: bool = False


class KeepalivedManager:
    """Owns the keepalived of one amphora. Changes run under ``lock``, on the agent's loop."""

    def __init__(self, base_dir: Path, *, haproxy: HaproxyManager, binary: str = "keepalived"):
        self.base = base_dir.resolve()
        self.binary = binary
        self.haproxy = haproxy
        self.lock = asyncio.Lock()
        self.dir = self.base / "vrrp"  # made by the first apply: SINGLE amphorae have none
        self.state = self._load_state()
        # Whether keepalived should run once configured; only the agent's shutdown clears it.
        self.wanted = True
        self.last_error: str | None = None
        # The value last written to the track file (None: not yet, by this agent).
        self.haproxy_ok: bool | None = None
        self._reapers: set[asyncio.Task[int]] = set()

    # -- files and processes -------------------------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self.dir / "keepalived.conf"

    @property
    def pid_path(self) -> Path:
        return self.dir / "keepalived.pid"

    @property
    def vrrp_pid_path(self) -> Path:
        return self.dir / "vrrp.pid"

    @property
    def log_path(self) -> Path:
        return self.base / "log" / "keepalived.log"

    @property
    def configured(self) -> bool:
        return self.state.config_hash is not None

    def _load_state(self) -> VrrpState:
        path = self.dir / "state.json"
        return VrrpState(**json.loads(path.read_text())) if path.exists() else VrrpState()

    def _save_state(self) -> None:
        _write_atomic(self.dir / "state.json", json.dumps(asdict(self.state)))

    def _live(self, pid_file: Path) -> int | None:
        """The pid in ``pid_file`` if it is a live keepalived (a zombie or a stranger is not)."""
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        # After a reboot the pid file can name an unrelated process: check what it runs.
        return pid if procfs.alive_as(pid, self.binary) else None

    def pid(self) -> int | None:
        """The live main keepalived process, if any."""
        return self._live(self.pid_path)

    @property
    def running(self) -> bool:
        return self.pid() is not None

    @property
    def should_run(self) -> bool:
        return self.wanted and self.configured

    # -- the track file and the VIPs -------------------------------------------------------
    def track_haproxy(self) -> None:
        """Tell keepalived whether haproxy runs here (``0``) or not (``1``), when it changed.

        Called on every supervisor poll and after every haproxy start or stop; a no-op until
        a VRRP configuration is applied (SINGLE amphorae never run keepalived).
        """
        if not self.configured:
            return
        ok = self.haproxy.running
        if ok is self.haproxy_ok:
            return
        _write_atomic(self.dir / "haproxy-state", "0\n" if ok else "1\n")
        self.haproxy_ok = ok

    async def _present_vips(self) -> list[str]:
        """The VIPs on the interface now, as ``local/prefixlen`` (the kernel's prefix)."""
        wanted = [netif.host_address(vip) for vip in self.state.vips]
        return netif.addresses_among(await netif.links(self.state.interface), wanted)

    async def holds_vips(self) -> bool:
        """Every VIP of the applied configuration is on its interface (this is the MASTER)."""
        if not self.configured:
            return False
        try:
            present = {netif.host_address(a) for a in await self._present_vips()}
        except netif.IpFailed:
            return False  # the interface is gone: it holds nothing
        return present == {netif.host_address(vip) for vip in self.state.vips}

    async def remove_vips(self) -> None:
        """Delete the VIPs that a dead keepalived left on the interface."""
        if not self.configured:
            return
        try:
            for address in await self._present_vips():
                await netif.delete_address(address, self.state.interface)
                LOG.warning("vrrp: removed VIP %s from %s", address, self.state.interface)
        except netif.IpFailed as exc:
            LOG.warning("vrrp: could not remove VIPs from %s: %s", self.state.interface, exc)

    # -- applying ---------------------------------------------------------------------------
    async def apply(self, cfg: VrrpConfig) -> str:
        """Validate and apply ``cfg``; returns "unchanged", "started" or "reloaded".

        The caller holds ``lock`` and has refused older generations. A refused configuration
        changes nothing (``VrrpRejected``); once validated it is applied even if keepalived
        then fails to start (``VrrpFailed``): the supervisor keeps trying.
        """
        digest = vrrp_hash(cfg)
        if digest == self.state.config_hash and self.running:
            self.state.generation = cfg.generation
            self._save_state()
            return "unchanged"
        self.dir.mkdir(exist_ok=True)
        (self.base / "log").mkdir(exist_ok=True)
        _write_atomic(self.dir / "check-haproxy.sh", check_script(self.haproxy.pid_path))
        candidate = self.dir / "keepalived.conf.new"
        candidate.write_text(keepalived_conf(self.base, cfg.keepalived_cfg))
        try:
            await self._validate(candidate)
        except VrrpRejected as exc:
            self.last_error = exc.output
            candidate.unlink(missing_ok=True)
            raise
        self.last_error = None
        await self.accept_syns()  # on the interface it was dropped on, before state changes
        os.replace(candidate, self.conf_path)
        self.state = VrrpState(cfg.generation, digest, cfg.interface, list(cfg.vips))
        self._save_state()
        self.wanted = True
        if (pid := self.pid()) is not None:
            # Measured: a reload that changes the priority does not move the VIP.
            os.kill(pid, signal.SIGHUP)
            return "reloaded"
        await self.start()
        return "started"

    async def _validate(self, path: Path) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                "-t",
                "-f",
                str(path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            raise VrrpFailed(f"{self.binary}: {exc}") from exc
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), VALIDATE_TIMEOUT)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise VrrpFailed(f"keepalived -t did not finish in {VALIDATE_TIMEOUT:.0f} s") from exc
        if proc.returncode != 0:
            text = out.decode(errors="replace")[-8000:]
            raise VrrpRejected(text or f"keepalived -t: exit status {proc.returncode}")

    async def start(self) -> None:
        """Start keepalived on the applied configuration unless it runs; wanted from now.

        What a dead keepalived left is cleared first: an orphaned VRRP child, its VIPs (it
        removes them itself only once it is up), and its pid files (keepalived refuses to start
        while its pid file names a live process, and a zombie counts as live to it).
        """
        self.wanted = True
        if self.running:
            return
        if not self.configured or not self.conf_path.exists():
            raise VrrpFailed("no VRRP configuration has been applied")
        await self.accept_syns()
        await self._clear_leftovers()
        self.haproxy_ok = None  # written afresh: keepalived reads it as it starts
        self.track_haproxy()
        offset = _size(self.log_path)
        argv = start_argv(
            self.binary, conf=self.conf_path, pid=self.pid_path, vrrp_pid=self.vrrp_pid_path
        )
        with self.log_path.open("ab") as log:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,  # survives an agent restart; the new agent adopts it
                )
            except OSError as exc:
                raise VrrpFailed(f"{self.binary}: {exc}") from exc
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.returncode is None:
            if self.pid() == proc.pid and self._live(self.vrrp_pid_path) is not None:
                reaper = asyncio.get_running_loop().create_task(proc.wait())
                self._reapers.add(reaper)
                reaper.add_done_callback(self._reapers.discard)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.02)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await self._clear_leftovers()
        raise VrrpFailed(_read_from(self.log_path, offset) or "keepalived did not start in time")

    async def drop_syns(self) -> None:
        """Drop new TCP connections to the VIPs (a handover, see ``syn_drop``)."""
        self.state.syn_drop = True
        self._save_state()  # first: a restarted agent must know to undo it
        try:
            await syn_drop.install(self.state.interface, self.state.vips)
        except syn_drop.TcFailed:
            await self.accept_syns()
            raise

    async def accept_syns(self) -> None:
        """Undo ``drop_syns``: a MASTER that drops new connections would blackhole the VIP,
        so keepalived never starts while they are dropped (``VrrpFailed`` if tc fails)."""
        if not self.state.syn_drop:
            return
        try:
            await syn_drop.remove(self.state.interface)
        except syn_drop.TcFailed as exc:
            raise VrrpFailed(f"SYNs to the VIPs are still dropped: {exc}") from exc
        self.state.syn_drop = False
        self._save_state()

    async def stop(self) -> None:
        """Stop keepalived (SIGTERM, then SIGKILL) and remove the VIPs; it is no longer wanted."""
        self.wanted = False
        if not self.configured:
            return
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # keepalived sends priority 0: the peer takes over
            deadline = time.monotonic() + STOP_TIMEOUT
            # Polling another process's exit: there is no event to wait on.
            while time.monotonic() < deadline and self.pid() is not None:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            if self.pid() is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        await self._clear_leftovers()

    async def _clear_leftovers(self) -> None:
        """SIGKILL an orphaned VRRP child, then delete the VIPs and the pid files."""
        child = self._live(self.vrrp_pid_path)
        if child is not None and not self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            for _ in range(100):  # bounded: a SIGKILLed process is gone in milliseconds
                if self._live(self.vrrp_pid_path) is None:
                    break
                await asyncio.sleep(0.01)
        await self.remove_vips()
        self.pid_path.unlink(missing_ok=True)
        self.vrrp_pid_path.unlink(missing_ok=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(64_000).decode(errors="replace")[-8000:]
    except FileNotFoundError:
        return ""
