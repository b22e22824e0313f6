"""Network namespaces for tests of the ``netns`` compute driver: clients, backends, checks.

A ``Peer`` is a namespace the test creates and removes, with one veth leg on a bridge of the
driver (a VIP or member network), an address there, and optionally HTTP backends inside
that answer their name. Test traffic only ever goes from a peer to addresses on the same
bridge: nothing leaves the namespaces and bridges the test and the driver made.

``leftovers()`` lists every namespace and host link with portico's prefixes, so a test can
compare before and after: the driver and the test must leave none behind.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from portico.drivers.compute import netns_names as names
from tests.conftest import wait_for
from tests.support.netns_links import ip, legged

BACKEND_SCRIPT = """
import http.server, sys, time
name, host, port, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(delay)
        body = name.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((host, port), Handler).serve_forever()
"""


@functools.cache
def skip_reason() -> str | None:
    """Why netns tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "the netns compute driver needs root"
    if shutil.which("ip") is None or shutil.which("bridge") is None:
        return "the netns compute driver needs iproute2 (ip, bridge)"
    probe = f"{names.NAMESPACE_PREFIX}probe{uuid.uuid4().hex[:6]}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "`ip netns add` fails here (no network namespace support)"
    subprocess.run(["ip", "netns", "del", probe], check=True)
    return None


def require_netns() -> None:
    """Skip (with the reason) where namespaces cannot be made; probed once, at first use."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)


def leftovers() -> set[str]:
    """portico's namespaces and host links, by name."""
    spaces = {n["name"] for n in json.loads(ip("-j", "netns", "list") or "[]")}
    links = {link["ifname"] for link in json.loads(ip("-j", "link", "show") or "[]")}
    return {n for n in spaces if n.startswith(names.NAMESPACE_PREFIX)} | {
        n for n in links if n.startswith(names.LINK_PREFIX)
    }


def bridge_of(network_id: str) -> str:
    """The bridge the driver makes for a network (as the driver names it)."""
    return names.network_bridge(network_id)


@dataclass
class Peer:
    """A test namespace with one leg on ``bridge`` at ``address`` (``a.b.c.d/len``)."""

    namespace: str
    address: str
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]

    def serve(self, name: str, port: int, *, delay: float = 0.0) -> None:
        """An HTTP backend in this namespace answering ``name`` on its address, each answer
        ``delay`` seconds after the request (so that one is in flight most of the time)."""
        argv = ["ip", "netns", "exec", self.namespace, sys.executable, "-c", BACKEND_SCRIPT]
        proc = subprocess.Popen(
            [*argv, name, self.ip, str(port), str(delay)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.servers.append(proc)
        wait_for(lambda: self.get(f"http://{self.ip}:{port}/") == name, timeout=10)

    def get(self, url: str, *, seconds: float = 2.0) -> str | None:
        """One request from this namespace (a fresh connection); None if it failed."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.namespace, "curl", "-sf", "-m", str(seconds), url],
            capture_output=True,
            text=True,
        )
        return result.stdout if result.returncode == 0 else None


@contextlib.contextmanager
def peer(bridge: str, address: str) -> Iterator[Peer]:
    """A namespace on ``bridge`` (made if missing, removed after if it is left empty)."""
    suffix = uuid.uuid4().hex[:8]
    item = Peer(namespace=f"{names.NAMESPACE_PREFIX}t{suffix}", address=address)
    host_leg = f"{names.LINK_PREFIX}t{suffix}"
    with legged(bridge, namespace=item.namespace, host_leg=host_leg, address=address):
        try:
            yield item
        finally:
            for proc in item.servers:  # by the pid we started, never by name
                proc.kill()
                proc.wait(timeout=10)
