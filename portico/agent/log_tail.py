"""Pages of a log file read from the end, without loading the file.

A support engineer wants the newest lines first, and a log may be large: the file is read
backwards in blocks until enough lines are found (``before``), or forwards from an offset
(``after``), never more than ``MAX_SCAN_BYTES`` per page. Offsets are byte offsets into the
file as it is now; every offset handed out is the start of a line (or the file's end), so a
page continues exactly where the previous one stopped. A file replaced by rotation makes old
offsets point into the new file: they are clamped to its size, never an error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from portico.wire.agent_diagnostics import LogLine, LogPage, LogSource

BLOCK_BYTES = 64 * 1024
MAX_SCAN_BYTES = 8 * 1024 * 1024
# A longer line is cut when shown (its offsets stay exact).
MAX_LINE_BYTES = 8 * 1024


def read_page(
    path: Path, source: LogSource, *, limit: int, before: int | None, after: int | None
) -> LogPage:
    """Up to ``limit`` lines ending at ``before`` (default: the end), or starting at ``after``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return LogPage(source=source, exists=False, size=0, start=0, end=0, lines=[])
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if after is not None:
            start, data = _forward(fh, min(after, size), size, limit)
        else:
            start, data = _backward(fh, size if before is None else min(before, size), limit)
    lines = _split(start, data)
    end = start + len(data)
    return LogPage(source=source, exists=True, size=size, start=start, end=end, lines=lines)


def _backward(fh: BinaryIO, stop: int, limit: int) -> tuple[int, bytes]:
    """The bytes of the last ``limit`` whole lines before ``stop``, and where they start."""
    data = b""
    low = stop
    while low > 0 and stop - low < MAX_SCAN_BYTES:
        step = min(BLOCK_BYTES, low)
        low -= step
        fh.seek(low)
        data = fh.read(step) + data
        # The text's own last newline ends the last line; more than ``limit`` before it
        # means the first complete line of the page is found.
        if data[: len(data) - 1].count(b"\n") >= limit:
            break
    body = data[:-1] if data.endswith(b"\n") else data
    cuts = [i for i, byte in enumerate(body) if byte == 0x0A]
    if len(cuts) >= limit:
        first = cuts[len(cuts) - limit] + 1
    elif low > 0 and cuts:
        first = cuts[0] + 1  # the scan stopped inside a line: start at the next whole one
    else:
        first = 0
    return low + first, data[first:]


def _forward(fh: BinaryIO, begin: int, size: int, limit: int) -> tuple[int, bytes]:
    """The bytes of up to ``limit`` lines from ``begin`` (a line start)."""
    fh.seek(begin)
    data = b""
    while len(data) < MAX_SCAN_BYTES and begin + len(data) < size:
        chunk = fh.read(min(BLOCK_BYTES, size - begin - len(data)))
        if not chunk:
            break
        data += chunk
        if data.count(b"\n") >= limit:
            break
    count, position = 0, 0
    while count < limit:
        found = data.find(b"\n", position)
        if found < 0:
            # The file's last line, still being written, ends the page when it is the end.
            # So does a line longer than a page can scan (else the page would never move on).
            if begin + len(data) >= size or count == 0:
                position = len(data)
            break
        position, count = found + 1, count + 1
    return begin, data[:position]


def _split(start: int, data: bytes) -> list[LogLine]:
    lines: list[LogLine] = []
    offset = start
    while offset < start + len(data):
        found = data.find(b"\n", offset - start)
        stop = len(data) if found < 0 else found
        raw = data[offset - start : stop].rstrip(b"\r")
        lines.append(LogLine(offset=offset, text=raw[:MAX_LINE_BYTES].decode(errors="replace")))
        offset = start + stop + 1
    return lines
