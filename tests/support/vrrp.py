"""A lab for VRRP tests: amphora agents in namespaces of their own, on one switched network.

``vrrp_lab`` makes, for one test, namespaces named ``ptvrrp-<suffix>-...``:

- a *switch* namespace holding a bridge (``br0``) with the address ``CLIENT``: the tenant
  network, and the client that requests the VIP from there;
- one namespace per amphora, with a veth leg ``eth1`` on that bridge (its own address, the
  VIP moves between them), and a management veth to the host that its agent binds, so the
  test reaches each agent over mutual TLS as the controller does.

Each agent runs as its own process (``ip netns exec ... python -m portico.agent``), runs
haproxy and keepalived inside its namespace, and is stopped by the pid recorded here; then
whatever still runs in the lab's namespaces (by ``ip netns pids``) is killed and every
namespace deleted, so nothing survives the test even when it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from portico.drivers.certs.pki import CertificateAuthority
from portico.drivers.compute.base import AmphoraRequest, BootFiles
from portico.drivers.compute.processes import pid_alive, write_agent_files
from tests.conftest import wait_for

SUBNET_PREFIX = 24
VIP = "10.252.0.100"
CLIENT = "10.252.0.50"
AGENT_PORT = 9443
IFNAME = "eth1"


def ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def in_ns(namespace: str, *argv: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Amphora:
    """One amphora of the lab: its namespace, agent process and HTTPS client."""

    name: str
    namespace: str
    address: str  # on the tenant network (``eth1``)
    directory: Path
    amphora_id: str
    endpoint: str
    client: httpx.Client
    agent: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> Path:
        """The agent's base directory (haproxy's working directory, ``${AMPHORA_DIR}``)."""
        return self.directory / "haproxy"

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.client.request(
            method,
            f"https://{self.endpoint}{path}",
            json=body,
            extensions={"sni_hostname": self.amphora_id},
        )

    def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.call(method, path, body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def holds_vip(self) -> bool:
        """The VIP is on ``eth1`` now (read from the kernel, not the agent)."""
        links = json.loads(ip("-n", self.namespace, "-j", "addr", "show", "dev", IFNAME) or "[]")
        return any(a.get("local") == VIP for link in links for a in link.get("addr_info", []))

    def pid_file(self, relative: str) -> int | None:
        try:
            return int((self.base / relative).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start_agent(self) -> None:
        """(Re)start the agent process and wait until it answers."""
        log = (self.directory / "agent.log").open("ab")
        argv = [
            sys.executable,
            "-m",
            "portico.agent",
            "--config",
            str(self.directory / "agent.json"),
        ]
        self.agent = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()

        def answers() -> bool:
            try:
                return self.call("GET", "/").status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(answers, timeout=30)
        except AssertionError as exc:
            text = (self.directory / "agent.log").read_text(errors="replace")[-4000:]
            raise AssertionError(f"agent {self.name} never answered:\n{text}") from exc

    def signal_agent(self, sig: int) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(sig)

    def stop_agent(self, sig: int = signal.SIGTERM) -> None:
        """Signal the agent by its pid and wait for it (SIGKILL after a bound)."""
        if self.agent is None:
            return
        self.signal_agent(sig)
        try:
            self.agent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            self.agent.wait(timeout=10)


@dataclass
class Lab:
    switch: str
    amphorae: list[Amphora] = field(default_factory=list)

    def client_get(self, url: str, *, seconds: float = 1.0) -> str | None:
        """One request from the client on the tenant network; None if it failed."""
        done = in_ns(self.switch, "curl", "-sf", "-m", str(seconds), url, timeout=seconds + 5)
        return done.stdout if done.returncode == 0 else None


def _controller_client(ca: CertificateAuthority) -> httpx.Client:
    files = ca.controller_client()
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files.ca_path))
    context.load_cert_chain(str(files.cert_path), str(files.key_path))
    return httpx.Client(verify=context, timeout=20.0)


@contextlib.contextmanager
def vrrp_lab(root: Path, names: list[str]) -> Iterator[Lab]:
    """Namespaces, links and one running agent per name; all removed afterwards.

    The agents' directories are under ``root/"vrrp lab"``: a space in ``${AMPHORA_DIR}``, as
    an operator's data directory may have.
    """
    root = root / "vrrp lab"
    suffix = uuid.uuid4().hex[:6]
    lab = Lab(switch=f"ptvrrp-{suffix}-sw")
    mgmt = random.randrange(0, 256)  # 10.253.<mgmt>.0/24: one /30 per amphora
    ca = CertificateAuthority(root / "pki")
    client = _controller_client(ca)
    made: list[str] = []
    try:
        ip("netns", "add", lab.switch)
        made.append(lab.switch)
        ip("-n", lab.switch, "link", "set", "lo", "up")
        ip("-n", lab.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", lab.switch, "addr", "add", f"{CLIENT}/{SUBNET_PREFIX}", "dev", "br0")
        ip("-n", lab.switch, "link", "set", "br0", "up")
        for index, name in enumerate(names):
            namespace = f"ptvrrp-{suffix}-{name}"
            ip("netns", "add", namespace)
            made.append(namespace)
            amphora = _amphora(lab, ca, client, root, index, name, namespace, mgmt, suffix)
            lab.amphorae.append(amphora)
            amphora.start_agent()
        yield lab
    finally:
        try:
            for amphora in lab.amphorae:  # all at once: each stop takes a second or two
                amphora.signal_agent(signal.SIGTERM)
            for amphora in lab.amphorae:
                amphora.stop_agent()
            for namespace in made:
                _kill_all_in(namespace)
        finally:
            for namespace in made:
                ip("netns", "del", namespace, check=False)
            client.close()


def _amphora(
    lab: Lab,
    ca: CertificateAuthority,
    client: httpx.Client,
    root: Path,
    index: int,
    name: str,
    namespace: str,
    mgmt: int,
    suffix: str,
) -> Amphora:
    """Links and agent files for one amphora (the agent is started by the caller)."""
    ip("-n", namespace, "link", "set", "lo", "up")
    # Namespace-local sysctls, as the netns driver sets them: haproxy binds the VIP on the
    # BACKUP too, where keepalived has not configured it.
    in_ns(namespace, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1")
    host_leg, inside = f"ptv{suffix}m{index}", "mgmt"
    host_addr, agent_addr = f"10.253.{mgmt}.{4 * index + 1}", f"10.253.{mgmt}.{4 * index + 2}"
    ip("link", "add", host_leg, "type", "veth", "peer", "name", inside, "netns", namespace)
    ip("addr", "add", f"{host_addr}/30", "dev", host_leg)
    ip("link", "set", host_leg, "up")
    ip("-n", namespace, "addr", "add", f"{agent_addr}/30", "dev", inside)
    ip("-n", namespace, "link", "set", inside, "up")
    # The tenant leg: created in the switch namespace, one end moved into the amphora's.
    address = f"10.252.0.{index + 1}"
    ip("-n", lab.switch, "link", "add", f"p{index}", "type", "veth", "peer", "name", IFNAME)
    ip("-n", lab.switch, "link", "set", IFNAME, "netns", namespace)
    ip("-n", lab.switch, "link", "set", f"p{index}", "master", "br0", "up")
    ip("-n", namespace, "addr", "add", f"{address}/{SUBNET_PREFIX}", "dev", IFNAME)
    ip("-n", namespace, "addr", "add", f"fd00:252::{index + 1}/64", "dev", IFNAME, "nodad")
    ip("-n", namespace, "link", "set", IFNAME, "up")

    amphora_id = str(uuid.uuid4())
    issued = ca.issue(amphora_id, server=True)
    request = AmphoraRequest(
        amphora_id=amphora_id,
        boot_files=BootFiles(ca.ca_pem, issued.certificate_pem, issued.private_key_pem),
    )
    directory = root / "amphorae" / name
    directory.mkdir(parents=True)
    write_agent_files(
        directory, request, bind_host=agent_addr, bind_port=AGENT_PORT, haproxy_binary="haproxy"
    )
    return Amphora(
        name=name,
        namespace=namespace,
        address=address,
        directory=directory,
        amphora_id=amphora_id,
        endpoint=f"{agent_addr}:{AGENT_PORT}",
        client=client,
    )


def _kill_all_in(namespace: str) -> None:
    """SIGKILL what still runs in a namespace this lab made (only the lab's processes)."""
    for text in ip("netns", "pids", namespace, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(text), signal.SIGKILL)
    wait_for(
        lambda: (
            not [
                p for p in ip("netns", "pids", namespace, check=False).split() if pid_alive(int(p))
            ]
        ),
        timeout=10,
    )
