"""What haproxy runs on one amphora: validate, swap atomically, reload, roll back.

The layout under the amphora's directory (haproxy runs with it as working directory, so
the controller renders relative paths that are the same on every amphora):

- ``haproxy.cfg``: the applied configuration; ``haproxy.cfg.lkg``: the last known good;
- ``certs/``: TLS material pushed with the configuration;
- ``run/stats.sock`` (runtime API, declared by the rendered config), ``run/master.sock``
  (master CLI), ``run/haproxy.pid``; ``state.json``: generation and hash of what is applied;
- ``log/haproxy.log``: the master's output, read to learn whether a reload succeeded.

A push is checked with ``haproxy -c`` in a staging directory first, so a refused one changes
nothing. A reload that fails puts the last known good back on disk (and loads it again unless
the old workers still serve it). Reloads are serialised by one lock; pushes that arrive while
one runs wait and the newest wins (older generations are refused with 409 by the caller).
Starting, reloading and stopping the process itself is ``haproxy_process.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from portico.agent.haproxy_process import HaproxyProcess, ReloadFailed
from portico.wire.agent_api import ConfigPush, TlsFile
from portico.wire.config_hash import config_hash

__all__ = ["AppliedState", "ConfigRejected", "HaproxyManager", "ReloadFailed"]


class ConfigRejected(Exception):
    """``haproxy -c`` refused the configuration; ``output`` is what haproxy said."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output


@dataclass
class AppliedState:
    generation: int = 0
    config_hash: str | None = None


class HaproxyManager(HaproxyProcess):
    """Owns the haproxy of one amphora: what is applied, and the process that runs it."""

    def __init__(self, base_dir: Path, *, binary: str = "haproxy") -> None:
        super().__init__(base_dir, binary=binary)
        self.lock = asyncio.Lock()
        self.state = self._load_state()

    # -- state -------------------------------------------------------------------------
    def _load_state(self) -> AppliedState:
        path = self.base / "state.json"
        if not path.exists():
            return AppliedState()
        data = json.loads(path.read_text())
        return AppliedState(generation=int(data["generation"]), config_hash=data["config_hash"])

    def _save_state(self) -> None:
        path = self.base / "state.json"
        tmp = path.with_name(".state.json.tmp")
        tmp.write_text(json.dumps(self.state.__dict__))
        os.replace(tmp, path)

    @property
    def should_run(self) -> bool:
        """A configuration is applied and nobody asked haproxy to stop."""
        return self.wanted and self.state.config_hash is not None

    def disk_hash(self) -> str | None:
        """``config_hash`` of the configuration and certificates as they are on disk now."""
        try:
            text = self.cfg_path.read_text()
            files = [
                TlsFile(name=path.name, content=path.read_text())
                for path in sorted((self.base / "certs").iterdir())
                if path.is_file() and not path.name.startswith(".")
            ]
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        return config_hash(ConfigPush(generation=0, haproxy_cfg=text, files=files))

    # -- validation and files ------------------------------------------------------------
    async def validate(self, cfg_path: Path, *, cwd: Path | None = None) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.binary,
            "-c",  # not -q: it silences the alerts the controller needs to see
            "-f",
            str(cfg_path),
            cwd=cwd or self.base,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise ConfigRejected(out.decode(errors="replace")[-8000:])

    def _write_files(self, files: list[TlsFile]) -> None:
        certs = self.base / "certs"
        for item in files:
            target = certs / item.name
            tmp = certs / f".{item.name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(item.content)
            os.replace(tmp, target)

    def _prune_files(self, keep: list[TlsFile]) -> None:
        wanted = {f.name for f in keep}
        for path in (self.base / "certs").iterdir():
            if path.name not in wanted and not path.name.startswith("."):
                path.unlink(missing_ok=True)

    # -- applying ------------------------------------------------------------------------
    async def apply(self, push: ConfigPush) -> str:
        """Validate and apply ``push``; returns "unchanged", "started" or "reloaded".

        The caller holds ``self.lock``. A refused configuration changes nothing: it is checked
        in a staging directory with its own files, so the running haproxy, the applied config
        and the certificates stay as they were. On a failed reload the last known good
        configuration is put back and reloaded, and ``ReloadFailed`` carries haproxy's output.
        """
        digest = config_hash(push)
        # The files on disk too: someone may have edited them, and a resync must repair that.
        if digest == self.state.config_hash and self.running and self.disk_hash() == digest:
            self.state.generation = push.generation
            self._save_state()
            return "unchanged"
        await self.validate_push(push)
        self._write_files(push.files)
        candidate = self.base / "haproxy.cfg.new"
        candidate.write_text(push.haproxy_cfg)
        lkg = self.base / "haproxy.cfg.lkg"
        if self.cfg_path.exists():
            os.replace(self.cfg_path, lkg)
        os.replace(candidate, self.cfg_path)
        try:
            action = await self._start_or_reload()
        except ReloadFailed as failed:
            if lkg.exists():
                # The last known good goes back on disk so the next reload starts from it;
                # it only needs loading again if the failure left nothing serving it.
                os.replace(lkg, self.cfg_path)
                if not failed.old_workers_serve:
                    with contextlib.suppress(ReloadFailed):
                        await self._start_or_reload()
            raise
        self._prune_files(push.files)
        self.state = AppliedState(generation=push.generation, config_hash=digest)
        self._save_state()
        return action

    async def validate_push(self, push: ConfigPush) -> None:
        """``haproxy -c`` on ``push`` in ``.staging/``, laid out like the live directory."""
        staging = self.base / ".staging"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "certs").mkdir(parents=True)
        (staging / "run").mkdir()
        try:
            for item in push.files:
                fd = os.open(staging / "certs" / item.name, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(item.content)
            (staging / "haproxy.cfg").write_text(push.haproxy_cfg)
            await self.validate(Path("haproxy.cfg"), cwd=staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def record_runtime(self, push: ConfigPush) -> None:
        """Store ``push`` as applied without reloading (its changes were made live).

        The caller validated ``push`` first (``validate_push``), so a later reload of the
        stored configuration cannot be refused for what was made live.
        """
        self._write_files(push.files)
        tmp = self.base / "haproxy.cfg.new"
        tmp.write_text(push.haproxy_cfg)
        os.replace(tmp, self.cfg_path)
        self.state = AppliedState(generation=push.generation, config_hash=config_hash(push))
        self._save_state()

    async def _start_or_reload(self) -> str:
        if self.running:
            await self.reload()
            return "reloaded"
        await self.start()
        return "started"
