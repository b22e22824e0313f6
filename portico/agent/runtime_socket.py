"""A client for haproxy's runtime API (the stats socket), one command per connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

TIMEOUT_SECONDS = 5.0


class RuntimeApiError(RuntimeError):
    """haproxy refused a runtime command; the message is haproxy's answer."""


async def command(socket_path: Path, line: str, *, seconds: float = TIMEOUT_SECONDS) -> str:
    """Send one command and return haproxy's whole answer."""
    if "\n" in line or "\r" in line or ";" in line:
        # One command per call: a separator would let a value smuggle in a second command.
        raise ValueError("a runtime command may not contain newlines or ';'")

    async def run() -> str:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            return (await reader.read()).decode(errors="replace")
        finally:
            writer.close()

    return await asyncio.wait_for(run(), seconds)


def _failed(answer: str) -> bool:
    text = answer.strip().lower()
    markers = (
        "no such",
        "unknown",
        "not found",
        "error",
        "refused",
        "cannot",
        "invalid",
        "require",
    )
    return any(marker in text for marker in markers)


async def checked(socket_path: Path, line: str) -> str:
    """Like ``command``, but an answer that reports a failure raises ``RuntimeApiError``."""
    answer = await command(socket_path, line)
    if _failed(answer):
        raise RuntimeApiError(f"{line!r}: {answer.strip()}")
    return answer


def parse_csv_stats(text: str) -> list[dict[str, str]]:
    """``show stat`` output (CSV with a ``# `` header) as one dict per row."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return []
    header = lines[0][2:].split(",")
    return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]
