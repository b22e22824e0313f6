"""Compute driver ``netns`` (root): an amphora is a network namespace with its own agent.

It keeps the ``local`` driver's conventions (``<data_dir>/amphorae/<id>/`` with the agent's
config, certificates, haproxy files, logs and pid file; the agent in its own session so it
outlives a controller restart), but each amphora lives in namespace ``portico-<short id>``:

- a management bridge (``netns_mgmt_bridge``) carries the private ``netns_mgmt_cidr``; the
  host holds its first address, each amphora a veth leg with the next free one, and its
  agent binds only that address. The amphora ports are *isolated* bridge ports: they reach
  the host, never each other, so one tenant's amphora cannot talk to another's.
- every VIP or member network gets its own bridge, created on demand; plugging gives the
  amphora a veth leg on it with the address (and the subnet's prefix). The host has no
  address on those bridges and nothing forwards between them (``ip_forward`` is 0 inside
  the amphora namespace), so tenants' networks stay apart even with overlapping subnets.

What the driver made is written down in ``netns.json`` beside the agent's files, so
``delete`` removes exactly that: processes (by pid), veths, the namespace, and each bridge no
amphora uses any more. Changes to bridges happen under one lock (an ``flock`` on a file in
the data directory) so two controllers on one host never delete a bridge the other is
attaching to. Names are deterministic (see ``netns_names``), so every call is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from portico.domain.errors import PermanentError, TransientError
from portico.drivers.compute import inventory, iproute
from portico.drivers.compute import netns_names as names
from portico.drivers.compute.base import AmphoraRequest, Instance, InstanceStatus, NetworkPlug

# Same pid-file conventions as the local driver, so its helpers apply unchanged.
from portico.drivers.compute.processes import (
    image_fields,
    pid_alive,
    read_pid,
    terminate,
    write_agent_files,
)
from portico.settings import Settings

STATE_FILE = "netns.json"
LEDGER_DIR = "netns-namespaces"


class NetnsCompute:
    """Amphorae as network namespaces on bridges the driver creates."""

    name = "netns"
    # Amphorae on one bridge per VIP network: keepalived moves the VIP between them.
    vrrp = True

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "amphorae"
        self.lock_path = settings.data_dir / "netns.lock"
        # Namespaces this driver made, by amphora id (see ``inventory``): written before
        # ``ip netns add`` and removed after ``ip netns del``, so a namespace whose directory
        # is lost is still found, and nobody else's is ever taken for ours.
        self.ledger = inventory.Ledger(settings.data_dir / LEDGER_DIR)
        self.haproxy_binary = settings.haproxy_binary
        self.images = settings.compute_images
        self.use_json = settings.use_json
        self.log_forwarding = settings.log_forwarding()
        self.mgmt_bridge = names.check_ifname(settings.netns_mgmt_bridge)
        self.mgmt_cidr = settings.netns_mgmt_cidr
        self.agent_port = settings.netns_agent_port
        self._children: dict[str, asyncio.subprocess.Process] = {}
        self._lock = asyncio.Lock()

    # -- files --------------------------------------------------------------------------
    def _dir(self, compute_id: str) -> Path:
        names.namespace(compute_id)  # refuses anything that is not an amphora uuid
        return self.root / compute_id

    def _state(self, compute_id: str) -> dict[str, Any]:
        path = self._dir(compute_id) / STATE_FILE
        try:
            state: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return state

    def _save(self, compute_id: str, state: dict[str, Any]) -> None:
        path = self._dir(compute_id) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """This driver's lock, and the host-wide one shared by every driver on the data dir."""
        async with self._lock:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock

    # -- the contract -------------------------------------------------------------------
    async def create(self, request: AmphoraRequest) -> Instance:
        _require_root()
        amphora_id = request.amphora_id
        base = self._dir(amphora_id)
        image = image_fields(self.images, request.image)
        async with self._locked():
            state = self._state(amphora_id)
            pid = read_pid(base / "agent.pid")
            if state and pid is not None and pid_alive(pid):
                return self._instance(amphora_id, state)
            base.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not state:
                state = {
                    "namespace": names.namespace(amphora_id),
                    "mgmt_address": names.pick_mgmt_address(self.mgmt_cidr, self._used_mgmt()),
                    "veths": [],
                    "bridges": [],
                }
                self._save(amphora_id, state)
            await self._make_namespace(amphora_id, state)
        config_path = self._write_agent_files(request, state["mgmt_address"], image)
        await self._start_agent(amphora_id, state["namespace"], config_path)
        return self._instance(amphora_id, state)

    async def status(self, compute_id: str) -> InstanceStatus:
        state = self._state(compute_id)
        pid = read_pid(self._dir(compute_id) / "agent.pid")
        if not state or pid is None or not pid_alive(pid):
            return InstanceStatus.GONE
        if state["namespace"] not in await iproute.namespaces():
            return InstanceStatus.GONE
        return InstanceStatus.RUNNING

    async def delete(self, compute_id: str, *, graceful: bool = True) -> None:
        base = self._dir(compute_id)
        state = self._state(compute_id)
        namespace = state.get("namespace", names.namespace(compute_id))
        agent = read_pid(base / "agent.pid")
        haproxy = read_pid(base / "haproxy" / "run" / "haproxy.pid")
        if agent is not None:
            # SIGTERM: the agent stops its haproxy gracefully, then exits.
            await terminate(agent, self._children.pop(compute_id, None), graceful=graceful)
        if haproxy is not None and pid_alive(haproxy):
            await terminate(haproxy, None, graceful=graceful)
        async with self._locked():
            if namespace in await iproute.namespaces():
                await _kill_remaining(namespace)
                # Delete the veths first: links inside a deleted namespace vanish only when
                # the kernel gets round to it, and their bridges must be empty now.
                for veth in [names.mgmt_veth(compute_id), *state.get("veths", [])]:
                    await iproute.delete_link(veth)
                await iproute.run("netns", "del", namespace)
            for bridge in [*state.get("bridges", []), self.mgmt_bridge]:
                await iproute.delete_bridge_if_unused(bridge)
        shutil.rmtree(base, ignore_errors=True)
        self.ledger.remove(compute_id)

    async def plug_vip(self, compute_id: str, vip: NetworkPlug) -> None:
        await self._plug(compute_id, vip)

    async def unplug_vip(self, compute_id: str, vip: NetworkPlug) -> None:
        await self._unplug(compute_id, vip)

    async def plug_network(self, compute_id: str, network: NetworkPlug) -> None:
        await self._plug(compute_id, network)

    async def unplug_network(self, compute_id: str, network: NetworkPlug) -> None:
        await self._unplug(compute_id, network)

    async def instances(self) -> Sequence[str]:
        # Its directories and its ledger: a namespace may outlive its directory (an operator
        # removed it, a crash between the two), and must still be found to be removed.
        made = {*inventory.amphora_dirs(self.root), *self.ledger.entries()}
        return sorted(made)

    async def age(self, compute_id: str) -> float | None:
        base = self._dir(compute_id)
        paths = [base, base / STATE_FILE, base / "agent.pid", self.ledger.path(compute_id)]
        return inventory.age(paths)

    # -- amphora namespace and management leg ---------------------------------------------
    def _instance(self, amphora_id: str, state: dict[str, Any]) -> Instance:
        return Instance(amphora_id, f"{state['mgmt_address']}:{self.agent_port}")

    def _used_mgmt(self) -> list[str]:
        if not self.root.exists():
            return []
        return [
            state["mgmt_address"]
            for state in (self._state(p.name) for p in self.root.iterdir() if p.is_dir())
            if "mgmt_address" in state
        ]

    async def _make_namespace(self, amphora_id: str, state: dict[str, Any]) -> None:
        namespace = state["namespace"]
        if namespace not in await iproute.namespaces():
            self.ledger.add(amphora_id)
            await iproute.run("netns", "add", namespace)
        await iproute.run("link", "set", "lo", "up", netns=namespace)
        # Namespace-local sysctls only (the host's stay untouched): never route between the
        # amphora's networks, and let haproxy bind a VIP before it is plugged.
        await iproute.exec_in(namespace, "sysctl", "-qw", "net.ipv4.ip_forward=0")
        await iproute.exec_in(namespace, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1")
        await iproute.ensure_bridge(self.mgmt_bridge)
        await iproute.ensure_address(self.mgmt_bridge, names.host_mgmt_address(self.mgmt_cidr))
        veth = names.mgmt_veth(amphora_id)
        await _ensure_veth(veth, names.MGMT_IFNAME, namespace=namespace, bridge=self.mgmt_bridge)
        # Amphorae reach the host (the bridge itself) but never one another.
        await iproute.bridge("link", "set", "dev", veth, "isolated", "on")
        prefix = names.host_mgmt_address(self.mgmt_cidr).split("/")[1]
        await iproute.ensure_address(
            names.MGMT_IFNAME, f"{state['mgmt_address']}/{prefix}", netns=namespace
        )

    def _write_agent_files(
        self, request: AmphoraRequest, mgmt_address: str, image: Mapping[str, object]
    ) -> Path:
        # The namespace's loopback is its own: the host is its management bridge address.
        return write_agent_files(
            self._dir(request.amphora_id),
            request,
            image=image,
            bind_host=mgmt_address,
            bind_port=self.agent_port,
            haproxy_binary=self.haproxy_binary,
            heartbeat_host=names.host_mgmt_address(self.mgmt_cidr).split("/")[0],
            use_json=self.use_json,
            log_forwarding=self.log_forwarding,
        )

    async def _start_agent(self, amphora_id: str, namespace: str, config_path: Path) -> None:
        base = config_path.parent
        with (base / "agent.log").open("ab") as log:
            # ``ip netns exec`` execs the agent in place, so the pid is the agent's own.
            proc = await asyncio.create_subprocess_exec(
                iproute.IP,
                "netns",
                "exec",
                namespace,
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
        self._children[amphora_id] = proc
        (base / "agent.pid").write_text(str(proc.pid))

    # -- VIP and member networks --------------------------------------------------------
    async def _plug(self, compute_id: str, plug: NetworkPlug) -> None:
        address = names.interface_address(plug.address, plug.subnet_cidr)
        key = names.network_key(plug.network_id, plug.subnet_cidr)
        bridge, veth = names.network_bridge(key), names.network_veth(compute_id, key)
        ifname = names.network_ifname(key)
        async with self._locked():
            state = self._state(compute_id)
            namespace = state.get("namespace")
            if namespace is None or namespace not in await iproute.namespaces():
                raise TransientError(f"amphora {compute_id} has no namespace (not booted)")
            # Written down before the links exist, so a crash in between leaves nothing
            # that delete does not know about.
            state["bridges"] = sorted({*state["bridges"], bridge})
            state["veths"] = sorted({*state["veths"], veth})
            self._save(compute_id, state)
            await iproute.ensure_bridge(bridge)
            await _ensure_veth(veth, ifname, namespace=namespace, bridge=bridge)
            await iproute.ensure_address(ifname, address, netns=namespace)
            await iproute.announce(namespace, ifname, address)

    async def _unplug(self, compute_id: str, plug: NetworkPlug) -> None:
        address = names.interface_address(plug.address, plug.subnet_cidr)
        key = names.network_key(plug.network_id, plug.subnet_cidr)
        bridge, veth = names.network_bridge(key), names.network_veth(compute_id, key)
        ifname = names.network_ifname(key)
        async with self._locked():
            state = self._state(compute_id)
            namespace = state.get("namespace")
            if namespace is None or namespace not in await iproute.namespaces():
                return  # no namespace: nothing is plugged
            if ifname in await iproute.link_names(netns=namespace):
                if address in await iproute.addresses(ifname, netns=namespace):
                    await iproute.run("addr", "del", address, "dev", ifname, netns=namespace)
                if await iproute.addresses(ifname, netns=namespace):
                    return  # the leg still carries another address (the VIP and a member leg)
            await iproute.delete_link(veth)
            state["veths"] = [v for v in state["veths"] if v != veth]
            state["bridges"] = [b for b in state["bridges"] if b != bridge]
            self._save(compute_id, state)
            await iproute.delete_bridge_if_unused(bridge)


async def _ensure_veth(host: str, inside: str, *, namespace: str, bridge: str) -> None:
    """A veth pair: ``host`` on ``bridge``, ``inside`` in ``namespace``, both up."""
    if host not in await iproute.link_names():
        await iproute.run(
            "link", "add", host, "type", "veth", "peer", "name", inside, "netns", namespace
        )
    await iproute.run("link", "set", host, "master", bridge, "up")
    await iproute.run("link", "set", inside, "up", netns=namespace)


async def _kill_remaining(namespace: str) -> None:
    """SIGKILL whatever still runs in a namespace we made (a crashed agent's orphans)."""
    for pid in await iproute.pids(namespace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for _ in range(500):  # bounded: a SIGKILLed process is gone in milliseconds
        if not await iproute.pids(namespace):
            return
        await asyncio.sleep(0.01)
    raise TransientError(f"processes in namespace {namespace} survived SIGKILL")


def _require_root() -> None:
    if os.geteuid() != 0:
        raise PermanentError("the netns compute driver needs root (network namespaces, bridges)")
