"""The ``ip`` command (iproute2) as typed async calls, for the ``netns`` compute driver.

Every call is an argument vector handed to ``asyncio.create_subprocess_exec``: no shell ever
sees an interface name or an address. State is read back as JSON (``ip -j``) so the driver
decides what to create by looking at the kernel, never by parsing error messages: that is
what makes its calls idempotent. A failed command raises ``TransientError`` with its stderr
(the reconciler retries); a missing ``ip`` binary is a ``PermanentError``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import shutil
from typing import Any, cast

from portico.domain.errors import PermanentError, TransientError

IP = "ip"
BRIDGE = "bridge"
ARPING = "arping"
LOG = logging.getLogger(__name__)
# Announcements still running (arping waits a second between its two probes).
_announcing: set[asyncio.Task[None]] = set()


async def run(*args: str, netns: str | None = None) -> str:
    """``ip [-n NETNS] ARGS...``; returns stdout, raises with stderr on a non-zero exit."""
    argv = [IP, *(("-n", netns) if netns else ()), *args]
    return await _exec(argv)


async def exec_in(netns: str, *argv: str) -> str:
    """Run a program inside a namespace (``ip netns exec NETNS ARGV...``) and wait for it."""
    return await _exec([IP, "netns", "exec", netns, *argv])


async def bridge(*args: str) -> str:
    """The ``bridge`` command, for port flags that ``ip link`` cannot set."""
    return await _exec([BRIDGE, *args])


async def _exec(argv: list[str]) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise PermanentError(f"{argv[0]!r} not found: the netns driver needs iproute2") from exc
    out, err = await proc.communicate()
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
        raise TransientError(f"{' '.join(argv)}: {message}")
    return out.decode(errors="replace")


def _json(text: str) -> list[dict[str, Any]]:
    # ``ip -j`` prints nothing at all (not "[]") for some empty answers.
    return cast(list[dict[str, Any]], json.loads(text)) if text.strip() else []


async def namespaces() -> set[str]:
    return {entry["name"] for entry in _json(await run("-j", "netns", "list"))}


async def link_names(*, netns: str | None = None, master: str | None = None) -> set[str]:
    """Names of the links of a namespace (the host's by default), or the ports of a bridge."""
    args = ["-j", "link", "show", *(("master", master) if master else ())]
    return {entry["ifname"] for entry in _json(await run(*args, netns=netns))}


async def addresses(device: str, *, netns: str | None = None) -> set[str]:
    """``address/prefixlen`` of every address on ``device``."""
    found: set[str] = set()
    for link in _json(await run("-j", "addr", "show", "dev", device, netns=netns)):
        for info in link.get("addr_info", []):
            found.add(f"{info['local']}/{info['prefixlen']}")
    return found


async def pids(netns: str) -> list[int]:
    """Processes running inside a namespace (``ip netns pids``)."""
    return [int(word) for word in (await run("netns", "pids", netns)).split()]


async def ensure_bridge(name: str) -> None:
    if name not in await link_names():
        await run("link", "add", "name", name, "type", "bridge")
    await run("link", "set", name, "up")


async def ensure_address(device: str, address: str, *, netns: str | None = None) -> None:
    """Configure ``address/prefixlen`` on ``device`` unless it is there already."""
    if address not in await addresses(device, netns=netns):
        await run("addr", "add", address, "dev", device, netns=netns)


async def delete_link(name: str) -> None:
    """Delete a host link if it exists (deleting one end of a veth deletes both)."""
    if name in await link_names():
        await run("link", "del", name)


async def delete_bridge_if_unused(name: str) -> bool:
    """Delete a bridge that no port is attached to any more; True if it was deleted."""
    if name not in await link_names() or await link_names(master=name):
        return False
    await run("link", "del", name)
    return True


async def announce(netns: str, device: str, address: str) -> None:
    """Gratuitous ARP for ``address`` from ``device`` inside ``netns``, in the background.

    A VIP that moves to another amphora answers from a new MAC address; neighbours would
    keep sending to the old one until their cache entries expire (tens of seconds). Two
    unsolicited ARPs, a second apart, update them at once. IPv4 only; without ``arping``
    (Debian's iputils-arping) the move waits for the caches.
    """
    if ipaddress.ip_interface(address).version != 4 or shutil.which(ARPING) is None:
        LOG.debug("no gratuitous ARP for %s on %s", address, device)
        return
    host = str(ipaddress.ip_interface(address).ip)
    proc = await asyncio.create_subprocess_exec(
        *(IP, "netns", "exec", netns, ARPING, "-q", "-U", "-c", "2", "-I", device, host),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def reap() -> None:
        await proc.wait()

    task = asyncio.create_task(reap())
    _announcing.add(task)
    task.add_done_callback(_announcing.discard)
