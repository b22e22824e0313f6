"""Server changes through haproxy's runtime API, so members change without a reload.

Each op is one runtime command (or a short sequence); any refusal makes the caller fall back
to a reload of the configuration that already contains the change, so the result is the same
either way, only slower.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from portico.agent.runtime_socket import RuntimeApiError, checked
from portico.wire.agent_api import ServerOp

LOG = logging.getLogger(__name__)
DELETE_DEADLINE = 1.0


async def apply_ops(socket_path: Path, ops: list[ServerOp]) -> bool:
    """Apply ``ops`` in order; False (after logging why) if any was refused."""
    try:
        for op in ops:
            await _apply(socket_path, op)
    except (RuntimeApiError, OSError, TimeoutError, ValueError) as exc:
        LOG.info("runtime change refused, reloading instead: %s", exc)
        return False
    return True


async def _apply(sock: Path, op: ServerOp) -> None:
    target = f"{op.backend}/{op.server}"
    if op.op == "weight":
        await checked(sock, f"set server {target} weight {op.weight}")
    elif op.op == "state":
        await checked(sock, f"set server {target} state {op.state}")
    elif op.op == "add":
        await _add(sock, op, target)
    else:
        await _delete(sock, target)


async def _add(sock: Path, op: ServerOp, target: str) -> None:
    if op.address is None or op.port is None:
        raise ValueError("add needs an address and a port")
    address = f"[{op.address}]" if ":" in op.address else op.address
    line = f"add server {target} {address}:{op.port}"
    if op.options:
        line += f" {op.options}"
    await checked(sock, line)
    # A dynamic server starts in maintenance, its checks disabled.
    if op.options and " check" in f" {op.options}":
        await checked(sock, f"enable health {target}")
    await checked(sock, f"set server {target} state {op.state or 'ready'}")


async def _delete(sock: Path, target: str) -> None:
    """Take the server out of rotation, then remove it once nothing is attached to it.

    ``del server`` is refused while a connection is attached, and a keep-alive client keeps
    its server connection attached for as long as it stays connected. Past a short deadline
    the server stays in maintenance (it takes no new request) instead of forcing a reload
    that would gain nothing: the stored configuration no longer has it, so the next reload
    removes it for good.
    """
    await checked(sock, f"set server {target} state maint")
    deadline = time.monotonic() + DELETE_DEADLINE
    while True:
        try:
            await checked(sock, f"del server {target}")
            return
        except RuntimeApiError as exc:
            if "still has connections" not in str(exc):
                raise
            if time.monotonic() > deadline:
                LOG.info("%s stays in maintenance until the next reload: %s", target, exc)
                return
            await asyncio.sleep(0.02)
