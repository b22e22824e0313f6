"""The controller side of heartbeats that needs I/O: the shared secret and the batched writes.

The secret is a setting or, unset, generated once into ``data_dir/heartbeat.key``: the
provider (which gives each new amphora its derived key) and the health service (which checks
them) must agree, including across processes on one data directory, so the file is created
atomically and whoever loses the race reads the winner's.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, update

from portico.db.engine import Database
from portico.db.models import Amphora
from portico.services import heartbeat_apply
from portico.settings import Settings
from portico.wire.heartbeat import Heartbeat


def load_secret(settings: Settings) -> bytes:
    if settings.heartbeat_secret:
        return settings.heartbeat_secret.encode()
    path = settings.data_dir / "heartbeat.key"
    if not path.exists():
        _create_once(path, secrets.token_hex(32))
    secret = path.read_text().strip().encode()
    if not secret:
        raise ValueError(f"{path} is empty")
    return secret


def _create_once(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    try:
        # link() fails if the file exists: the first process's secret wins, whole.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


@dataclass(frozen=True)
class HeartbeatRecord:
    """The last accepted heartbeat of one amphora."""

    amphora_id: str
    at: dt.datetime
    sequence: int
    generation: int
    # What it said; None when only the liveness fields are known.
    heartbeat: Heartbeat | None = None


def record(db: Database, heartbeats: Iterable[HeartbeatRecord]) -> None:
    """Write a batch in one transaction; rows that do not exist (deleted amphorae) are skipped.

    Besides the amphora's liveness, the batch's operating statuses and listener statistics
    are written (``heartbeat_apply``).
    """
    heartbeats = list(heartbeats)
    params = [
        {"b_id": h.amphora_id, "at": h.at, "seq": h.sequence, "gen": h.generation}
        for h in heartbeats
    ]
    if not params:
        return
    # Core executemany through the connection: one statement, many rows, no ORM bookkeeping.
    statement = (
        update(Amphora)
        .where(Amphora.id == bindparam("b_id"))
        .values(
            last_heartbeat_at=bindparam("at"),
            heartbeat_sequence=bindparam("seq"),
            heartbeat_generation=bindparam("gen"),
        )
    )
    reports = [
        heartbeat_apply.Report(h.amphora_id, h.sequence, h.heartbeat)
        for h in heartbeats
        if h.heartbeat is not None
    ]
    with db.writing() as session:
        session.connection().execute(statement, params)
        heartbeat_apply.apply(session, reports)
