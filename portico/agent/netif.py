"""The amphora's addresses as the kernel holds them, read and changed with ``ip``.

The agent runs inside the amphora's network namespace, so plain ``ip`` sees the amphora's
interfaces. Every call is an argument vector (no shell ever sees an interface name or an
address) and state is read back as JSON (``ip -j``); the parsing is pure so it is tested
without a namespace. Addresses are compared as ``ipaddress`` objects, so ``fd00::1`` and
``fd00:0::1`` are the same address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Iterable
from typing import Any, cast

IP = "ip"
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class IpFailed(Exception):
    """``ip`` exited non-zero (or could not run); the message is its stderr."""


def host_address(text: str) -> IpAddress:
    """The address of ``address`` or ``address/prefixlen``; ``ValueError`` if malformed."""
    return ipaddress.ip_address(text.split("/", 1)[0])


def interface_of(links: list[dict[str, Any]], address: IpAddress) -> str | None:
    """The name of the interface carrying ``address`` in ``ip -j addr show`` output."""
    for link in links:
        for info in link.get("addr_info", []):
            if _matches(info, {address}):
                return str(link["ifname"])
    return None


def addresses_among(links: list[dict[str, Any]], wanted: Iterable[IpAddress]) -> list[str]:
    """``local/prefixlen`` of each address of ``links`` that is one of ``wanted``.

    The prefix length is the kernel's, not the caller's: ``ip addr del`` needs it to match.
    """
    targets = set(wanted)
    return [
        f"{info['local']}/{info['prefixlen']}"
        for link in links
        for info in link.get("addr_info", [])
        if _matches(info, targets)
    ]


def _matches(info: dict[str, Any], targets: set[IpAddress]) -> bool:
    try:
        return ipaddress.ip_address(str(info.get("local", ""))) in targets
    except ValueError:
        return False


async def _ip(*args: str) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            IP,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise IpFailed(f"{IP}: {exc}") from exc
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise IpFailed(f"{IP} {' '.join(args)}: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")


async def links(interface: str | None = None) -> list[dict[str, Any]]:
    """``ip -j addr show [dev INTERFACE]``, parsed."""
    text = await _ip("-j", "addr", "show", *(("dev", interface) if interface else ()))
    # ``ip -j`` prints nothing at all (not "[]") for some empty answers.
    return cast(list[dict[str, Any]], json.loads(text)) if text.strip() else []


async def delete_address(address: str, interface: str) -> None:
    """``ip addr del ADDRESS dev INTERFACE`` (``ADDRESS`` as ``local/prefixlen``)."""
    await _ip("addr", "del", address, "dev", interface)
