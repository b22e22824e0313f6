"""A namespace with one veth leg on a bridge: the client and backend namespaces that tests
and benchmarks put beside the ``netns`` driver's amphorae (root).

The standard library only, so the benchmarks (``bench/netns_rig.py``) use the same code as the
tests (``tests/support/netns.py``). Everything made here is removed on the way out: the leg,
the namespace, and the bridge when it is left without ports.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def _links(*args: str) -> set[str]:
    return {x["ifname"] for x in json.loads(ip("-j", "link", "show", *args) or "[]")}


@contextlib.contextmanager
def legged(bridge: str, *, namespace: str, host_leg: str, address: str) -> Iterator[None]:
    """Namespace ``namespace`` whose ``eth0`` has ``address`` (``a.b.c.d/len``) and whose peer,
    ``host_leg``, is a port of ``bridge`` (made if missing).

    A bridge made here is the driver's to share: the driver deletes only bridges without
    ports, and so does this on the way out. Processes in the namespace are the caller's to
    stop (by their pids) before the block ends.
    """
    ip("netns", "add", namespace)
    try:
        if bridge not in _links():
            ip("link", "add", "name", bridge, "type", "bridge")
        ip("link", "set", bridge, "up")
        ip("link", "add", host_leg, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        ip("link", "set", host_leg, "master", bridge, "up")
        ip("-n", namespace, "addr", "add", address, "dev", "eth0")
        ip("-n", namespace, "link", "set", "eth0", "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        yield
    finally:
        subprocess.run(["ip", "link", "del", host_leg], capture_output=True)
        ip("netns", "del", namespace)
        if bridge in _links() and not _links("master", bridge):
            # Not checked: the driver may delete the empty bridge at the same moment.
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)
