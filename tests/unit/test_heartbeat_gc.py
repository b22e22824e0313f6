"""What the health service keeps for every heartbeat is cheap: untracked by the garbage
collector, and stamped with a wall-clock time read once a millisecond.

Thousands of heartbeats a second each leave a record and listener counters behind until the
next one replaces them; as tracked objects they would survive into the oldest generation and
bring on full collections of the whole process (measured: about a fifth of a heartbeat's
cost at 10,000 amphorae, docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
import gc
import uuid

from portico.domain.counters import Counters, accumulate
from portico.health.receiver import HeartbeatReceiver
from portico.services.heartbeat_cache import StoredCounters
from portico.wire.heartbeat import Heartbeat, ListenerReport, PoolReport, derive_key, encode

SECRET = b"gc-secret"


def test_a_received_heartbeat_is_remembered_untracked() -> None:
    receiver = HeartbeatReceiver(SECRET)
    amphora = uuid.uuid4()
    heartbeat = Heartbeat(
        amphora_id=str(amphora),
        generation=3,
        listeners={"l1": ListenerReport(status="OPEN", bytes_in=10)},
        pools={"p1:l1": PoolReport(status="UP", members={"m1": "UP"})},
    )
    for sequence in (1, 2):
        for datagram in encode(heartbeat, key=derive_key(SECRET, amphora), sequence=sequence):
            receiver.datagram_received(datagram, ("127.0.0.1", 0))
    (record,) = receiver.latest.values()
    assert record.sequence == 2
    assert not gc.is_tracked(record)
    assert not gc.is_tracked(record.heartbeat)


def test_kept_counters_are_untracked() -> None:
    kept = accumulate(accumulate(None, Counters(bytes_in=1)), Counters(bytes_in=5))
    stored = StoredCounters(kept, 7)
    assert kept.total.bytes_in == 5
    assert not any(gc.is_tracked(o) for o in (kept, kept.total, kept.raw, stored))


def test_heartbeats_within_a_millisecond_share_one_wall_clock_reading() -> None:
    # Building a datetime per heartbeat cost more than the rest of its bookkeeping.
    ticks = iter([10.0, 10.0004, 10.0012])
    readings: list[dt.datetime] = []

    def wall() -> dt.datetime:
        readings.append(dt.datetime(2030, 1, 1) + dt.timedelta(seconds=len(readings)))
        return readings[-1]

    receiver = HeartbeatReceiver(SECRET, clock=lambda: next(ticks), wall=wall)
    amphorae = [uuid.uuid4() for _ in range(3)]
    for amphora in amphorae:
        beat = Heartbeat(amphora_id=str(amphora), generation=1)
        for datagram in encode(beat, key=derive_key(SECRET, amphora), sequence=1):
            receiver.datagram_received(datagram, ("127.0.0.1", 0))
    stamps = [receiver.latest[a.bytes].at for a in amphorae]
    # One reading at start, one at the first heartbeat, one 1.2 ms later.
    assert stamps == [readings[1], readings[1], readings[2]]
