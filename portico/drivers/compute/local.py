"""Compute driver ``local``: an amphora is an agent process on this host (no root needed).

Each amphora gets ``<data_dir>/amphorae/<id>/`` with its agent config, certificates, haproxy
files and logs. The agent listens on 127.0.0.1 on a port picked at boot, and is started in
its own session so that it (and its haproxy) outlives a restart of the controller, which
finds it again by its pid file: a new controller takes over running amphorae untouched.

Compute zones (an AZ profile's ``compute_zone``) are directories: an amphora of zone Z lives
in ``<data_dir>/zones/Z/<id>/`` and its compute id is ``Z:<id>`` (one of no zone keeps the
plain layout and id), so a migration between zones boots a new agent in another place.

VIPs are loopback addresses (all of 127.0.0.0/8 reaches this host on Linux), so plugging
is only a check that the address is one; members are reached directly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from portico.domain.errors import PermanentError
from portico.drivers.compute import inventory
from portico.drivers.compute.base import (
    AmphoraRequest,
    Instance,
    InstanceStatus,
    NetworkPlug,
    ZoneUnavailable,
)
from portico.drivers.compute.processes import (
    image_fields,
    pid_alive,
    read_pid,
    terminate,
    write_agent_files,
    write_atomic,
)
from portico.settings import Settings


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalCompute:
    """Amphorae as local agent processes."""

    name = "local"
    # Every amphora shares the host's loopback: there is no segment for VRRP to move a VIP on.
    vrrp = False

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "amphorae"
        self.zones = settings.data_dir / "zones"
        self.haproxy_binary = settings.haproxy_binary
        self.images = settings.compute_images
        self.use_json = settings.use_json
        self.log_forwarding = settings.log_forwarding()
        self.host = "127.0.0.1"
        self._children: dict[str, asyncio.subprocess.Process] = {}

    def _dir(self, compute_id: str) -> Path:
        zone, _, name = compute_id.rpartition(":")
        if not _plain(name) or (zone and not _plain(zone)):
            raise PermanentError(f"invalid compute id {compute_id!r}")
        return self.zones / zone / name if zone else self.root / name

    async def create(self, request: AmphoraRequest) -> Instance:
        zone = request.availability_zone
        if zone is not None and (not _plain(zone) or ":" in zone):
            raise ZoneUnavailable(f"the local compute driver cannot name a zone {zone!r}")
        compute_id = f"{zone}:{request.amphora_id}" if zone else request.amphora_id
        base = self._dir(compute_id)
        image = image_fields(self.images, request.image)
        config_path = base / "agent.json"
        pid = read_pid(base / "agent.pid")
        if pid is not None and pid_alive(pid) and config_path.exists():
            port = json.loads(config_path.read_text())["bind_port"]
            return Instance(compute_id, f"{self.host}:{port}")
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        port = _free_port(self.host)
        write_agent_files(
            base,
            request,
            image=image,
            bind_host=self.host,
            bind_port=port,
            haproxy_binary=self.haproxy_binary,
            use_json=self.use_json,
            log_forwarding=self.log_forwarding,
        )
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
        self._children[compute_id] = proc
        # Written here too, so ``status`` right after ``create`` never misses it.
        write_atomic(base / "agent.pid", str(proc.pid))
        return Instance(compute_id, f"{self.host}:{port}")

    async def status(self, compute_id: str) -> InstanceStatus:
        pid = read_pid(self._dir(compute_id) / "agent.pid")
        if pid is None or not pid_alive(pid):
            return InstanceStatus.GONE
        return InstanceStatus.RUNNING

    async def delete(self, compute_id: str, *, graceful: bool = True) -> None:
        base = self._dir(compute_id)
        agent = read_pid(base / "agent.pid")
        haproxy = read_pid(base / "haproxy" / "run" / "haproxy.pid")
        if agent is not None:
            # SIGTERM: the agent stops its haproxy gracefully, then exits.
            await terminate(agent, self._children.pop(compute_id, None), graceful=graceful)
        if haproxy is not None and pid_alive(haproxy):
            await terminate(haproxy, None, graceful=graceful)
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
        # Every amphora directory, even one a crash left half written: delete handles it.
        found = inventory.amphora_dirs(self.root)
        if self.zones.is_dir():
            for zone in sorted(p.name for p in self.zones.iterdir() if p.is_dir()):
                found += [f"{zone}:{name}" for name in inventory.amphora_dirs(self.zones / zone)]
        return found

    async def age(self, compute_id: str) -> float | None:
        base = self._dir(compute_id)
        return inventory.age([base, base / "agent.json", base / "agent.pid"])


def _plain(name: str) -> bool:
    """Whether ``name`` is usable as one directory name (no separator, not hidden)."""
    return bool(name) and "/" not in name and "\0" not in name and not name.startswith(".")


def _check_loopback(address: str) -> None:
    if not ipaddress.ip_address(address).is_loopback:
        raise PermanentError(
            f"the local compute driver serves loopback VIPs only; {address} is not one "
            "(configure a subnet inside 127.0.0.0/8)"
        )
