"""The amphora's health as an operator wants it: load, memory, disk, processes, interfaces.

Read from /proc and /sys (Linux); in a network namespace /proc/net/dev shows that
namespace's interfaces, which is what the amphora sees.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from portico.wire.agent_api import InterfaceCounters, ProcessInfo


def load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def memory() -> tuple[int, int]:
    """(total, available) bytes from /proc/meminfo."""
    values: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0]) * 1024
    return values.get("MemTotal", 0), values.get("MemAvailable", 0)


def disk(path: Path) -> tuple[int, int]:
    usage = shutil.disk_usage(path)
    return usage.total, usage.free


def process(pid: int) -> ProcessInfo | None:
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return ProcessInfo(pid=pid, name=name, rss_bytes=rss_pages * os.sysconf("SC_PAGE_SIZE"))


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (haproxy's workers under its master)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def interfaces() -> list[InterfaceCounters]:
    addresses = _addresses()
    result: list[InterfaceCounters] = []
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if len(fields) < 10:
            continue
        name = name.strip()
        result.append(
            InterfaceCounters(
                name=name,
                addresses=addresses.get(name, []),
                rx_bytes=int(fields[0]),
                rx_packets=int(fields[1]),
                tx_bytes=int(fields[8]),
                tx_packets=int(fields[9]),
            )
        )
    return result


def _addresses() -> dict[str, list[str]]:
    """IPv4 addresses per interface from /proc/net/fib_trie is awkward; use if_nameindex."""
    found: dict[str, list[str]] = {}
    try:
        import fcntl
        import struct

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for _, name in socket.if_nameindex():
                request = struct.pack("256s", name.encode()[:15])
                try:
                    answer = fcntl.ioctl(sock.fileno(), 0x8915, request)  # SIOCGIFADDR
                except OSError:
                    continue
                found.setdefault(name, []).append(socket.inet_ntoa(answer[20:24]))
        finally:
            sock.close()
    except OSError:
        pass
    return found


def os_pid() -> int:
    return os.getpid()
