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
from pathlib import Path

import msgspec

from portico.db.base import utcnow
from portico.db.engine import Database
from portico.services import heartbeat_apply, heartbeat_cache
from portico.services.heartbeat_cache import Cache
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


class HeartbeatRecord(msgspec.Struct, frozen=True, gc=False):
    """The last accepted heartbeat of one amphora.

    The receiver makes one for every heartbeat and keeps the latest of each amphora until the
    next flush: a frozen dataclass costs several times more to build, and a tuple holding a
    ``Heartbeat`` stays tracked by the garbage collector, so thousands of them a second would
    bring on full collections of the whole process. Holding no reference cycle, it can be left
    untracked (``gc=False``)."""

    amphora_id: str
    at: dt.datetime
    sequence: int
    generation: int
    # What it said; None when only the liveness fields are known.
    heartbeat: Heartbeat | None = None


def record(
    db: Database,
    heartbeats: Iterable[HeartbeatRecord],
    *,
    cache: Cache | None = None,
    counters: bool | None = None,
) -> None:
    """Write a batch in one transaction; rows that do not exist (deleted amphorae) are skipped.

    Besides the amphora's liveness, the batch's operating statuses and listener statistics
    are written (``heartbeat_apply``). ``cache`` is what the previous batches left to reuse
    (``heartbeat_cache``); without one, everything is read afresh. The listener counters
    counted in the cache are written when ``counters`` is True, or when it is None and
    the cache's interval has passed (an empty batch then writes them alone).
    """
    latest: dict[str, HeartbeatRecord] = {}
    for h in heartbeats:
        if h.amphora_id not in latest or latest[h.amphora_id].sequence < h.sequence:
            latest[h.amphora_id] = h
    cache = cache if cache is not None else Cache()
    with cache.lock:
        write = counters if counters is not None else cache.counters_due()
        if latest or (write and cache.unwritten):
            _record(db, latest, cache, counters=write)


def _record(
    db: Database, latest: dict[str, HeartbeatRecord], cache: Cache, *, counters: bool
) -> None:
    cache.sweep()
    now = utcnow()
    params = [(h.amphora_id, h.at, h.sequence, h.generation) for h in latest.values()]
    reports = [
        heartbeat_apply.Report(h.amphora_id, h.sequence, h.heartbeat)
        for h in latest.values()
        if h.heartbeat is not None
    ]
    try:
        with db.writing() as session:
            connection = session.connection()
            verified = heartbeat_cache.record_liveness(connection, cache, params)
            heartbeat_apply.apply(
                connection, reports, cache=cache, verified=verified, now=now, counters=counters
            )
    except BaseException:
        cache.clear()  # it may hold what was rolled back
        raise
