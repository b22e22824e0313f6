"""What the health service remembers between batches, and the write that proves it current.

Rolling up every heartbeat from a fresh read of its load balancer's objects costs tens of
microseconds a heartbeat; at 10,000 amphorae a second that is the whole budget. So the
health service keeps, per load balancer, its layout (the ``Topology``) and the operating
statuses as stored, and per amphora the heartbeat sequence it last wrote and its listener
counters as stored. A steady heartbeat then writes its liveness and its counters only.

The database stays the truth: an entry is used only while the batch's liveness UPDATE
(``record_liveness``, a compare-and-set, so a steady batch reads nothing) finds unchanged what
the entry was built from:

- the load balancer's ``generation`` (every user change and every failover bumps it),
  ``applied_generation`` and ``provisioning_status`` (what the reconciler writes with the
  statuses it observed after a push) are those the entry was read at;
- the amphora still serves that load balancer, is not being deleted, and the ``sequence`` of
  its ``amphora_health`` row is the one this process last wrote. Every health service writes
  the sequence in the transaction that writes statuses from that heartbeat, so a write by
  another controller shows here; on PostgreSQL the UPDATE locks the health row and share-locks
  the amphora row until commit, so none can slip in between the check and this batch's status
  writes;
- every amphora that served the load balancer when it was read is checked in this batch (a
  load balancer with two amphorae, ACTIVE_STANDBY, is not trusted on the word of one).

When the UPDATE misses rows, one query tells which; anything not proven goes through a fresh
read, which rebuilds the entry. Listener counters are written compare-and-set on their
stored sequence: if any row was not where the cache had it, that batch's counters are read
again and recomputed. A batch that fails clears everything.
"""

from __future__ import annotations

import datetime as dt
import operator
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from sqlalchemy import Connection, bindparam, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portico.db import bulk
from portico.db.health_models import AmphoraHealth
from portico.db.models import Amphora, HealthMonitor, Listener, LoadBalancer, Member, Pool
from portico.domain import counters
from portico.domain.constants import AmphoraStatus, OperatingStatus
from portico.domain.operating_status import Topology, from_heartbeat
from portico.wire.heartbeat import Heartbeat, PoolReport

Model = type[LoadBalancer] | type[Listener] | type[Pool] | type[Member] | type[HealthMonitor]


class Signature(msgspec.Struct, frozen=True, gc=False):
    """What of a heartbeat the roll-up reads: listeners and their states, backends and their
    members' words. A Struct rather than a tuple: a dict keyed by tuples stays tracked by the
    garbage collector (``LbEntry``)."""

    listeners: tuple[str, ...]
    states: tuple[str, ...]
    backends: tuple[str, ...]
    members: tuple[tuple[tuple[str, str], ...], ...]


# Roll-ups remembered per load balancer (a flapping member alternates between two).
ROLLED_KEPT = 4
_AMPHORA_GONE = (AmphoraStatus.PENDING_DELETE, AmphoraStatus.DELETED)
_LIVENESS_FIELDS = ("b_id", "at", "seq", "gen")
_LIVENESS_VALUES: dict[str, Any] = {
    "last_heartbeat_at": bindparam("at"),
    "sequence": bindparam("seq"),
    "generation": bindparam("gen"),
}
# Entries not used for this many batches are dropped (amphorae gone, load balancers deleted).
IDLE_BATCHES = 120


# The entries below live as long as their load balancers and amphorae serve: msgspec Structs
# untracked by the garbage collector (gc=False; none holds a reference cycle), whose dicts hold
# strings only, so CPython untracks them too. Tracked, 10,000 load balancers' entries were
# hundreds of thousands of objects that every full collection of the process scanned, and a
# churning batch brings one on (measured: 40 of 100 us a heartbeat).
class Report(msgspec.Struct, frozen=True, gc=False):
    """One amphora's latest heartbeat and the sequence it came with."""

    amphora_id: str
    sequence: int
    heartbeat: Heartbeat


class Version(msgspec.Struct, frozen=True, gc=False):
    """What must not have changed for a load balancer's entry to hold."""

    generation: int
    applied_generation: int
    provisioning_status: str


class RollUp(msgspec.Struct, frozen=True, gc=False):
    """Statuses by object id from one heartbeat. A Struct around the dict: a dict holding
    dicts is always tracked by the garbage collector, one holding Structs is not."""

    statuses: dict[str, str]

    @classmethod
    def of(cls, statuses: Mapping[str, OperatingStatus]) -> RollUp:
        # Plain strings, not the enum's members, which the garbage collector tracks.
        return cls({object_id: status.value for object_id, status in statuses.items()})


class LbEntry(msgspec.Struct, gc=False):
    """A load balancer's layout and its objects' operating statuses as stored."""

    version: Version
    topology: Topology
    stored: dict[str, str]
    # Object id -> its table's name.
    tables: dict[str, str]
    listeners: tuple[str, ...]
    amphorae: tuple[str, ...]
    rolled: dict[Signature, RollUp] = msgspec.field(default_factory=dict)
    written: RollUp | None = None
    used: int = 0

    def observe(self, heartbeat: Heartbeat, changes: dict[str, tuple[str, str]]) -> None:
        """Add to ``changes`` (object id -> table name, status) what this heartbeat's roll-up
        changes, and remember it stored; a later heartbeat's word replaces an earlier's."""
        key = signature(heartbeat)
        rolled = self.rolled.get(key)
        if rolled is None:
            rolled = RollUp.of(from_heartbeat(self.topology, heartbeat))
            if len(self.rolled) >= ROLLED_KEPT:
                del self.rolled[next(iter(self.rolled))]
            self.rolled[key] = rolled
        if rolled is self.written:
            return  # the same roll-up as the last one written: nothing to compare
        for object_id, status in rolled.statuses.items():
            if self.stored.get(object_id, status) != status:
                changes[object_id] = (self.tables[object_id], status)
                self.stored[object_id] = status
        self.written = rolled


class StoredCounters(msgspec.Struct, frozen=True, gc=False):
    """A listener_statistics row as stored: the kept counters and their heartbeat sequence."""

    kept: counters.Kept
    sequence: int


class AmphoraEntry(msgspec.Struct, gc=False):
    lb_id: str
    # The amphora_health sequence as this process last wrote it.
    sequence: int
    # Listener counters as counted, written or not yet (``heartbeat_stats``).
    stats: dict[str, StoredCounters] = msgspec.field(default_factory=dict)
    # Listeners counted since their row was last written -> the sequence the row has.
    unwritten: dict[str, int] = msgspec.field(default_factory=dict)
    used: int = 0


class Cache:
    """Entries by load balancer and by amphora; used by one batch at a time (``lock``).

    Listener counters are written every ``counters_every`` seconds of ``clock`` (0: every
    batch); in between they are counted here, heartbeat by heartbeat.
    """

    def __init__(
        self, *, counters_every: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # Held for a whole batch: a flush abandoned by a cancelled task may still be running
        # in its thread when the final flush starts.
        self.lock = threading.Lock()
        self.lbs: dict[str, LbEntry] = {}
        self.amphorae: dict[str, AmphoraEntry] = {}
        self.batches = 0
        self.counters_every = counters_every
        self._clock = clock
        self._counters_at = clock()
        # Amphorae with counters not yet written.
        self.unwritten: set[str] = set()

    def counters_due(self) -> bool:
        """Whether this batch writes the counters; if so, the next interval starts now."""
        now = self._clock()
        if now - self._counters_at < self.counters_every:
            return False
        self._counters_at = now
        return True

    def clear(self) -> None:
        self.lbs.clear()
        self.amphorae.clear()
        self.unwritten.clear()

    def forget(self, amphora_ids: Iterable[str]) -> None:
        """Drop these amphorae and the load balancers they serve."""
        for amphora_id in amphora_ids:
            entry = self.amphorae.pop(amphora_id, None)
            if entry is not None:
                self.lbs.pop(entry.lb_id, None)

    def sweep(self) -> None:
        """Count a batch; now and then drop the entries no recent batch used."""
        self.batches += 1
        if self.batches % IDLE_BATCHES:
            return
        oldest = self.batches - IDLE_BATCHES
        self.lbs = {k: e for k, e in self.lbs.items() if e.used > oldest}
        # Counters not yet written are kept until they are.
        self.amphorae = {k: e for k, e in self.amphorae.items() if e.used > oldest or e.unwritten}


def signature(heartbeat: Heartbeat) -> Signature:
    # map() rather than generator expressions: this runs for every heartbeat.
    listeners, pools = heartbeat.listeners, heartbeat.pools
    return Signature(
        tuple(listeners),
        tuple(map(_status, listeners.values())),
        tuple(pools),
        tuple(map(_members, pools.values())),
    )


_status = operator.attrgetter("status")


def _members(pool: PoolReport) -> tuple[tuple[str, str], ...]:
    return tuple(pool.members.items())


# A heartbeat's liveness, written only where the entry holds: the amphora's health row has
# the sequence this process last wrote, the amphora still serves the load balancer, and the
# load balancer is at the entry's version. On PostgreSQL the UPDATE locks the health row and
# the subquery share-locks the amphora row until commit, so neither another health service's
# write nor the reconciler's move of the amphora can slip in before this batch's status writes.
_SERVES = (
    select(Amphora.id)
    .where(
        Amphora.id == bindparam("b_id2"),
        Amphora.load_balancer_id == bindparam("b_lb"),
        *(Amphora.status != s for s in _AMPHORA_GONE),
    )
    .with_for_update(read=True)
)
_LIVENESS_IF_HELD = bulk.Bulk(
    update(AmphoraHealth)
    .where(
        AmphoraHealth.amphora_id == bindparam("b_id"),
        AmphoraHealth.sequence == bindparam("b_expected"),
        exists(_SERVES),
        exists().where(
            LoadBalancer.id == bindparam("b_lb2"),
            LoadBalancer.generation == bindparam("b_generation"),
            LoadBalancer.applied_generation == bindparam("b_applied"),
            LoadBalancer.provisioning_status == bindparam("b_status"),
        ),
    )
    .values(_LIVENESS_VALUES),
    (*_LIVENESS_FIELDS, "b_expected", "b_id2", "b_lb", "b_lb2", "b_generation", "b_applied",
     "b_status"),
)  # fmt: skip


def _upsert(insert: Callable[[type[AmphoraHealth]], Any]) -> bulk.Bulk:
    """A heartbeat's liveness without an entry: the row is created by the first heartbeat of
    an amphora that exists, and only ever moves to a higher sequence (a health service that
    lags behind another one does not take it back)."""
    heard = select(
        bindparam("b_id", type_=AmphoraHealth.amphora_id.type),
        bindparam("at", type_=AmphoraHealth.last_heartbeat_at.type),
        bindparam("seq", type_=AmphoraHealth.sequence.type),
        bindparam("gen", type_=AmphoraHealth.generation.type),
    ).where(exists().where(Amphora.id == bindparam("b_id2")))
    statement = insert(AmphoraHealth).from_select(_HEALTH_COLUMNS, heard)
    statement = statement.on_conflict_do_update(
        index_elements=[AmphoraHealth.amphora_id],
        set_={name: statement.excluded[name] for name in _HEALTH_COLUMNS[1:]},
        where=AmphoraHealth.sequence < statement.excluded.sequence,
    )
    return bulk.Bulk(statement, (*_LIVENESS_FIELDS, "b_id2"))


_HEALTH_COLUMNS = ("amphora_id", "last_heartbeat_at", "sequence", "generation")
_LIVENESS = {"sqlite": _upsert(sqlite.insert), "postgresql": _upsert(postgresql.insert)}
# After a compare-and-set that missed some rows: which of them do not show what it wrote.
_STALE = (
    "WITH v (amphora_id, lb_id, seq, gen, applied, ps) AS (VALUES {rows}) "
    "SELECT v.amphora_id FROM v "
    "LEFT JOIN amphora_health ON amphora_health.amphora_id = v.amphora_id "
    "AND amphora_health.sequence = v.seq "
    "LEFT JOIN amphora ON amphora.id = v.amphora_id AND amphora.load_balancer_id = v.lb_id "
    "AND amphora.status <> {p} AND amphora.status <> {p} "
    "LEFT JOIN load_balancer ON load_balancer.id = v.lb_id "
    "AND load_balancer.generation = v.gen AND load_balancer.applied_generation = v.applied "
    "AND load_balancer.provisioning_status = v.ps "
    "WHERE amphora_health.amphora_id IS NULL OR amphora.id IS NULL OR load_balancer.id IS NULL"
)
_ROW_PARAMETERS = 6
_CHUNK = (bulk.MAX_PARAMETERS - 2) // _ROW_PARAMETERS
# amphora id, heartbeat time, sequence, generation.
Liveness = tuple[str, dt.datetime, int, int]


def record_liveness(connection: Connection, cache: Cache, rows: list[Liveness]) -> set[str]:
    """Write each amphora's liveness; the amphorae whose entries (and their load balancers')
    held until now. Entries that did not are dropped."""
    checked: list[Liveness] = []
    # Per checked row: the sequence expected, the load balancer and its version.
    versions: list[tuple[Any, ...]] = []
    others: list[Liveness] = []
    for row in rows:
        amphora = cache.amphorae.get(row[0])
        lb = cache.lbs.get(amphora.lb_id) if amphora is not None else None
        if amphora is None or lb is None:
            others.append(row)
            continue
        v = lb.version
        checked.append(row)
        versions.append(
            (amphora.sequence, amphora.lb_id, v.generation, v.applied_generation,
             v.provisioning_status)
        )  # fmt: skip
    matched = _LIVENESS_IF_HELD.execute(
        connection,
        [
            (*row, expected, row[0], lb_id, lb_id, *version)
            for row, (expected, lb_id, *version) in zip(checked, versions, strict=True)
        ],
    )
    held = {row[0] for row in checked}
    if matched < len(checked):
        held = _held(connection, checked, versions, matched)
        cache.forget(row[0] for row in checked if row[0] not in held)
        others += [row for row in checked if row[0] not in held]
    _LIVENESS[connection.dialect.name].execute(connection, [(*row, row[0]) for row in others])
    for row in checked:
        if row[0] in held:
            cache.amphorae[row[0]].sequence = row[2]
    return held


def _held(
    connection: Connection,
    checked: list[Liveness],
    versions: list[tuple[Any, ...]],
    matched: int,
) -> set[str]:
    """Which rows the compare-and-set wrote: those that now show its values. Should more
    show them than it matched (another health service wrote the same sequence before it),
    which were ours is unknown, and none is trusted."""
    rows = [
        (row[0], version[1], row[2], *version[2:])
        for row, version in zip(checked, versions, strict=True)
    ]
    stale: set[str] = set()
    for start in range(0, len(rows), _CHUNK):
        stale.update(_stale(connection, rows[start : start + _CHUNK]))
    held = {row[0] for row in rows if row[0] not in stale}
    return held if len(held) == matched else set()


def _stale(connection: Connection, rows: list[tuple[Any, ...]]) -> set[str]:
    dialect = connection.dialect
    one = f"({bulk.placeholders(dialect, _ROW_PARAMETERS)})"
    marker = bulk.placeholders(dialect, 1)
    sql = _STALE.format(rows=", ".join([one] * len(rows)), p=marker)
    params = [value for row in rows for value in row]
    params += [status.value for status in _AMPHORA_GONE]
    return {row[0] for row in connection.exec_driver_sql(sql, tuple(params))}
