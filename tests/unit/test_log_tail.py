"""The agent's log pages: newest lines from the end, exact offsets to continue from, and a
file that is missing, has no final newline, or is much larger than a page."""

from __future__ import annotations

from pathlib import Path

from portico.agent import log_tail
from portico.agent.log_tail import read_page
from portico.wire.agent_diagnostics import LogSource

SRC = LogSource.HAPROXY


def _lines(page: object) -> list[str]:
    return [line.text for line in page.lines]  # type: ignore[attr-defined]


def test_a_missing_file_is_an_empty_page(tmp_path: Path) -> None:
    page = read_page(tmp_path / "nope.log", SRC, limit=10, before=None, after=None)
    assert (page.exists, page.lines, page.size) == (False, [], 0)


def test_the_newest_lines_come_last_and_offsets_continue_backwards(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("".join(f"line {i}\n" for i in range(10)))
    page = read_page(path, SRC, limit=3, before=None, after=None)
    assert _lines(page) == ["line 7", "line 8", "line 9"]
    assert page.end == page.size and page.lines[0].offset == page.start
    older = read_page(path, SRC, limit=3, before=page.start, after=None)
    assert _lines(older) == ["line 4", "line 5", "line 6"] and older.end == page.start
    oldest = read_page(path, SRC, limit=30, before=older.start, after=None)
    assert _lines(oldest) == [f"line {i}" for i in range(4)] and oldest.start == 0


def test_forwards_from_an_offset_and_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("one\ntwo\nthree")
    first = read_page(path, SRC, limit=2, before=None, after=0)
    assert _lines(first) == ["one", "two"] and first.end == 8
    rest = read_page(path, SRC, limit=2, before=None, after=first.end)
    assert _lines(rest) == ["three"] and rest.end == rest.size
    assert _lines(read_page(path, SRC, limit=1, before=None, after=None)) == ["three"]


def test_a_large_file_is_read_from_its_end_only(tmp_path: Path, monkeypatch: object) -> None:
    path = tmp_path / "big.log"
    with path.open("w") as fh:
        for i in range(200_000):
            fh.write(f"{i:08d} some log text that fills the line\n")
    reads: list[int] = []
    real_open = log_tail.os.fdopen

    def counting(fd: int, mode: str) -> object:
        fh = real_open(fd, mode)
        original = fh.read

        def read(size: int = -1) -> bytes:
            reads.append(size)
            return original(size)

        fh.read = read  # type: ignore[method-assign]
        return fh

    monkeypatch.setattr(log_tail.os, "fdopen", counting)  # type: ignore[attr-defined]
    page = read_page(path, SRC, limit=5, before=None, after=None)
    assert _lines(page)[-1].startswith("00199999") and len(page.lines) == 5
    assert sum(reads) <= log_tail.BLOCK_BYTES and -1 not in reads


def test_an_offset_beyond_a_rotated_file_is_clamped_and_long_lines_are_cut(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.log"
    path.write_text("x" * (log_tail.MAX_LINE_BYTES * 2) + "\nshort\n")
    page = read_page(path, SRC, limit=5, before=10**9, after=None)
    assert [len(text) for text in _lines(page)] == [log_tail.MAX_LINE_BYTES, 5]
    assert page.lines[1].offset == log_tail.MAX_LINE_BYTES * 2 + 1
    assert read_page(path, SRC, limit=5, before=None, after=10**9).lines == []
