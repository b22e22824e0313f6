"""Listener counters from a batch of heartbeats, kept cumulative (``portico.domain.counters``).

Each row (listener, amphora) carries the sequence of the heartbeat it was last written from,
and every write is compare-and-set on it: health services sharing the database never count a
heartbeat twice, nor an older one after a newer. The rows as stored are remembered in the
cache (``heartbeat_cache.AmphoraEntry.stats``), so a steady heartbeat costs one UPDATE per
listener and no read; when the UPDATEs match fewer rows than remembered (another writer, a
deleted listener), those amphorae's rows are read again and their counters recomputed, in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from portico.db import bulk
from portico.db.models import ListenerStatistics
from portico.domain import counters
from portico.services.heartbeat_cache import AmphoraEntry, Cache, Report, StoredCounters

_COLUMNS = (
    "bytes_in",
    "bytes_out",
    "active_connections",
    "total_connections",
    "request_errors",
    "raw_bytes_in",
    "raw_bytes_out",
    "raw_total_connections",
    "raw_request_errors",
    "heartbeat_sequence",
)
_T = ListenerStatistics
_UPDATE = bulk.Bulk(
    update(_T)
    .where(
        _T.amphora_id == bindparam("b_amphora"),
        _T.listener_id == bindparam("b_listener"),
        # Compare-and-set: a concurrent writer's newer heartbeat wins.
        _T.heartbeat_sequence == bindparam("b_seen"),
    )
    .values({name: bindparam(f"v_{name}") for name in _COLUMNS}),
    ("b_amphora", "b_listener", "b_seen", *(f"v_{name}" for name in _COLUMNS)),
)
# (amphora id, listener id) -> what is stored once the batch's writes are done.
_Written = dict[tuple[str, str], StoredCounters]


def record(
    connection: Connection,
    reports: Iterable[Report],
    *,
    cache: Cache,
    listeners: Mapping[str, tuple[str, ...]],
    write: bool = True,
) -> None:
    """Count each report's listeners; ``listeners`` maps each amphora in service to its load
    balancer's listeners (a frontend the database no longer has is not counted).

    Rows the cache holds are counted in the cache, and all that it counted since the last
    write is written when ``write``; rows it does not hold are read and written now.
    """
    unknown: list[Report] = []
    for report in reports:
        entry, ours = cache.amphorae.get(report.amphora_id), listeners.get(report.amphora_id)
        if entry is None or ours is None:
            continue
        raw = _raw(report, ours)
        if not all(listener_id in entry.stats for listener_id, _ in raw):
            unknown.append(report)
            continue
        for listener_id, counted in raw:
            stored = entry.stats[listener_id]
            if stored.sequence < report.sequence:
                kept = counters.accumulate(stored.kept, counted)
                entry.stats[listener_id] = StoredCounters(kept, report.sequence)
                entry.unwritten.setdefault(listener_id, stored.sequence)
                cache.unwritten.add(report.amphora_id)
    if write and cache.unwritten:
        lost = _write_counted(connection, cache)
        # Count this batch's reports again from the rows as stored.
        unknown += [r for r in reports if r.amphora_id in lost and r not in unknown]
    if unknown:
        _record_read(connection, unknown, cache=cache, listeners=listeners)


def _write_counted(connection: Connection, cache: Cache) -> set[str]:
    """Write what the cache counted since its rows were last written (compare-and-set on the
    sequence each row has). If a row was not as the cache had it (another health service
    wrote it, the listener was deleted), which is unknown: all the amphorae written are
    returned, their rows to be read again and counted from what is stored."""
    updates: list[tuple[Any, ...]] = []
    entries: dict[str, AmphoraEntry] = {}
    for amphora_id in cache.unwritten:
        entry = cache.amphorae.get(amphora_id)
        if entry is None:
            continue  # forgotten, its counts with it
        entries[amphora_id] = entry
        for listener_id, seen in entry.unwritten.items():
            stored = entry.stats[listener_id]
            updates.append(_update_row(amphora_id, listener_id, seen, stored))
    cache.unwritten.clear()
    lost = _UPDATE.execute(connection, updates) != len(updates)
    for entry in entries.values():
        entry.unwritten.clear()
        if lost:
            entry.stats.clear()
    return set(entries) if lost else set()


def _record_read(
    connection: Connection,
    reports: list[Report],
    *,
    cache: Cache,
    listeners: Mapping[str, tuple[str, ...]],
) -> None:
    """Read the rows of these reports' amphorae, then count; the cache holds what is stored."""
    amphorae = {report.amphora_id for report in reports}
    stored = {
        (row.amphora_id, row.listener_id): row
        for row in connection.execute(
            select(_T.amphora_id, _T.listener_id, *(getattr(_T, c) for c in _COLUMNS)).where(
                _T.amphora_id.in_(amphorae)
            )
        )
    }
    inserts, updates = [], []
    written: _Written = {}
    for report in reports:
        entry = cache.amphorae[report.amphora_id]
        entry.stats.clear()
        entry.unwritten.clear()  # counted from the rows as read instead
        for listener_id, raw in _raw(report, listeners[report.amphora_id]):
            row = stored.get((report.amphora_id, listener_id))
            if row is not None:
                entry.stats[listener_id] = StoredCounters(_kept(row), row.heartbeat_sequence)
                if row.heartbeat_sequence >= report.sequence:
                    continue  # another health service already counted this or a newer one
            kept = counters.accumulate(_kept(row) if row is not None else None, raw)
            written[(report.amphora_id, listener_id)] = StoredCounters(kept, report.sequence)
            if row is None:
                key = {"amphora_id": report.amphora_id, "listener_id": listener_id}
                inserts.append({**key, **_values(kept, report.sequence)})
            else:
                counted = StoredCounters(kept, report.sequence)
                updates.append(
                    _update_row(report.amphora_id, listener_id, row.heartbeat_sequence, counted)
                )
    if inserts:
        connection.execute(insert(_T), inserts)
    if _UPDATE.execute(connection, updates) == len(updates):
        _remember(cache, written)
    else:
        # A concurrent writer won some rows (PostgreSQL): which is unknown, so read next time.
        for amphora_id in amphorae:
            cache.amphorae[amphora_id].stats.clear()


def _remember(cache: Cache, written: _Written) -> None:
    for (amphora_id, listener_id), stored in written.items():
        entry: AmphoraEntry = cache.amphorae[amphora_id]
        entry.stats[listener_id] = stored


def _raw(report: Report, ours: tuple[str, ...]) -> list[tuple[str, counters.Counters]]:
    return [
        (
            listener_id,
            counters.Counters(
                bytes_in=listener.bytes_in,
                bytes_out=listener.bytes_out,
                active_connections=listener.active_connections,
                total_connections=listener.total_connections,
                request_errors=listener.request_errors,
            ),
        )
        for listener_id, listener in report.heartbeat.listeners.items()
        if listener_id in ours
    ]


def _update_row(
    amphora_id: str, listener_id: str, seen: int, counted: StoredCounters
) -> tuple[Any, ...]:
    total, raw = counted.kept.total, counted.kept.raw
    return (
        amphora_id,
        listener_id,
        seen,
        total.bytes_in,
        total.bytes_out,
        total.active_connections,
        total.total_connections,
        total.request_errors,
        raw.bytes_in,
        raw.bytes_out,
        raw.total_connections,
        raw.request_errors,
        counted.sequence,
    )


def _kept(row: Row[*tuple[Any, ...]]) -> counters.Kept:
    return counters.Kept(
        total=counters.Counters(
            bytes_in=row.bytes_in,
            bytes_out=row.bytes_out,
            active_connections=row.active_connections,
            total_connections=row.total_connections,
            request_errors=row.request_errors,
        ),
        raw=counters.Counters(
            bytes_in=row.raw_bytes_in,
            bytes_out=row.raw_bytes_out,
            total_connections=row.raw_total_connections,
            request_errors=row.raw_request_errors,
        ),
    )


def _values(kept: counters.Kept, sequence: int) -> dict[str, int]:
    return {
        "bytes_in": kept.total.bytes_in,
        "bytes_out": kept.total.bytes_out,
        "active_connections": kept.total.active_connections,
        "total_connections": kept.total.total_connections,
        "request_errors": kept.total.request_errors,
        "raw_bytes_in": kept.raw.bytes_in,
        "raw_bytes_out": kept.raw.bytes_out,
        "raw_total_connections": kept.raw.total_connections,
        "raw_request_errors": kept.raw.request_errors,
        "heartbeat_sequence": sequence,
    }
