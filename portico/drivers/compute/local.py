"""Compute driver ``local``: an amphora is an agent process on this host (no root needed).

Each amphora gets ``<data_dir>/amphorae/<id>/`` with its agent config, certificates, haproxy
files and logs. The agent listens on 127.0.0.1 on a port picked at boot, and is started in
its own session so that it (and its haproxy) outlives a restart of the controller, which
finds it again by its pid file: a new controller takes over running amphorae untouched.

VIPs are loopback addresses (all of 127.0.0.0/8 reaches this host on Linux), so plugging
is only a check that the address is one; members are reached directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from portico.domain.errors import PermanentError
from portico.drivers.compute.base import (
    AmphoraRequest,
    Instance,
    InstanceStatus,
    NetworkPlug,
)
from portico.settings import Settings

STOP_SECONDS = 10.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (exited, not yet reaped) is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalCompute:
    """Amphorae as local agent processes."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "amphorae"
        self.haproxy_binary = settings.haproxy_binary
        self.host = "127.0.0.1"
        self._children: dict[str, asyncio.subprocess.Process] = {}

    def _dir(self, compute_id: str) -> Path:
        if not compute_id or "/" in compute_id or compute_id.startswith("."):
            raise PermanentError(f"invalid compute id {compute_id!r}")
        return self.root / compute_id

    async def create(self, request: AmphoraRequest) -> Instance:
        base = self._dir(request.amphora_id)
        config_path = base / "agent.json"
        pid = _read_pid(base / "agent.pid")
        if pid is not None and _pid_alive(pid) and config_path.exists():
            port = json.loads(config_path.read_text())["bind_port"]
            return Instance(request.amphora_id, f"{self.host}:{port}")
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        tls = base / "tls"
        tls.mkdir(exist_ok=True, mode=0o700)
        (tls / "ca.pem").write_bytes(request.boot_files.ca_pem)
        _write_private(tls / "agent.pem", request.boot_files.certificate_pem)
        _write_private(tls / "agent.key", request.boot_files.private_key_pem)
        port = _free_port(self.host)
        config: dict[str, object] = {
            "amphora_id": request.amphora_id,
            "bind_host": self.host,
            "bind_port": port,
            "base_dir": str(base / "haproxy"),
            "haproxy_binary": self.haproxy_binary,
            "ca_file": str(tls / "ca.pem"),
            "cert_file": str(tls / "agent.pem"),
            "key_file": str(tls / "agent.key"),
        }
        if request.image:
            config["agent_version"] = request.image
        config_path.write_text(json.dumps(config))
        with (base / "agent.log").open("ab") as log:
            # The child writes its own pid file (atomically, before exec'ing the agent), so
            # a controller killed right after the fork still leaves a pid file behind: the
            # next ``create`` adopts that agent instead of starting a second one.
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                'echo $$ > "$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"',
                str(base / "agent.pid"),
                sys.executable,
                "-m",
                "portico.agent",
                "--config",
                str(config_path),
                stdout=log,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        self._children[request.amphora_id] = proc
        # Written here too, so ``status`` right after ``create`` never misses it.
        _write_atomic(base / "agent.pid", str(proc.pid))
        return Instance(request.amphora_id, f"{self.host}:{port}")

    async def status(self, compute_id: str) -> InstanceStatus:
        pid = _read_pid(self._dir(compute_id) / "agent.pid")
        if pid is None or not _pid_alive(pid):
            return InstanceStatus.GONE
        return InstanceStatus.RUNNING

    async def delete(self, compute_id: str) -> None:
        base = self._dir(compute_id)
        agent = _read_pid(base / "agent.pid")
        haproxy = _read_pid(base / "haproxy" / "run" / "haproxy.pid")
        if agent is not None:
            # SIGTERM: the agent stops its haproxy gracefully, then exits.
            await _terminate(agent, self._children.pop(compute_id, None))
        if haproxy is not None and _pid_alive(haproxy):
            await _terminate(haproxy, None)
        shutil.rmtree(base, ignore_errors=True)

    async def plug_vip(self, compute_id: str, vip: NetworkPlug) -> None:
        _check_loopback(vip.address)

    async def unplug_vip(self, compute_id: str, vip: NetworkPlug) -> None:
        return None

    async def plug_network(self, compute_id: str, network: NetworkPlug) -> None:
        return None

    async def unplug_network(self, compute_id: str, network: NetworkPlug) -> None:
        return None

    async def instances(self) -> Sequence[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "agent.json").exists())


def _check_loopback(address: str) -> None:
    if not ipaddress.ip_address(address).is_loopback:
        raise PermanentError(
            f"the local compute driver serves loopback VIPs only; {address} is not one "
            "(configure a subnet inside 127.0.0.0/8)"
        )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


async def _terminate(pid: int, child: asyncio.subprocess.Process | None) -> None:
    """SIGTERM, wait up to STOP_SECONDS, then SIGKILL; reaps ``child`` if it is ours."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        if child is not None and child.returncode is not None:
            return
        if child is None and not _pid_alive(pid):
            return
        if child is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), 0.05)
        else:
            await asyncio.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if child is not None:
        await child.wait()
