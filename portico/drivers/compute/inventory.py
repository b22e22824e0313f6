"""What the host-local compute drivers made, found again without the database.

Housekeeping compares what a driver runs with the amphora rows to reap orphans, so each
driver must list its instances from its own records and never from a guess: an amphora
directory under ``<data_dir>/amphorae`` (pid files inside), and for the ``netns`` driver a
ledger entry ``<data_dir>/netns-namespaces/<amphora id>`` written *before* the namespace is
made and removed only after it is gone. A namespace that merely looks like portico's
(another portico on the same host with its own data directory, a test) is in no ledger of
ours and is never touched.

``age`` is the time since the instance last changed on disk: the youngest of its files, so
an amphora being (re)booted right now always looks young.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterable
from pathlib import Path


def _is_amphora_id(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


def amphora_dirs(root: Path) -> list[str]:
    """Names of the amphora directories under ``root`` (only uuid-named ones are ours)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _is_amphora_id(p.name))


def age(paths: Iterable[Path]) -> float | None:
    """Seconds since the youngest of ``paths`` changed; None when none of them exists."""
    newest: float | None = None
    for path in paths:
        with contextlib.suppress(OSError):
            mtime = path.stat().st_mtime
            newest = mtime if newest is None else max(newest, mtime)
    return None if newest is None else max(0.0, time.time() - newest)


class Ledger:
    """A directory of empty files, one per thing made, named by amphora id."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, amphora_id: str) -> Path:
        return self.root / amphora_id

    def add(self, amphora_id: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path(amphora_id).touch()

    def remove(self, amphora_id: str) -> None:
        self.path(amphora_id).unlink(missing_ok=True)

    def entries(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _is_amphora_id(p.name))
