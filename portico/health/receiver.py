"""The health service's UDP receiver: verify, drop replays, remember, flush in batches.

Each datagram is checked by ``portico.wire.heartbeat`` (signature before anything else);
then its sequence number must exceed the highest accepted from that amphora, so a replayed
or reordered-stale datagram changes nothing. What an amphora last said is kept in memory and
written to the database every ``flush_interval`` in one transaction (liveness, operating
statuses rolled up from it, cumulative listener statistics), so the database sees one write
per batch rather than one per heartbeat; what one batch read of the load balancers is kept for
the next (``services.heartbeat_cache``), so a steady heartbeat writes only its liveness and
counters. Every outcome is counted by reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable

from portico.db.engine import Database
from portico.health.staleness import StaleWatcher
from portico.services import heartbeat_cache, heartbeats
from portico.settings import Settings
from portico.wire.heartbeat import (
    AmphoraKey,
    HeartbeatRejected,
    Reassembler,
    decode_body,
    open_frame,
)

LOG = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5
CHECK_SECONDS = 0.25
# Listener counters are written this often, liveness and statuses every flush: half of the
# database's work per heartbeat is saved, and /stats lags by at most COUNTERS_SECONDS plus a
# flush and a check (``STATS_LAG``), still fresher than Octavia's 10 s heartbeat interval.
COUNTERS_SECONDS = 5.0
STATS_LAG = COUNTERS_SECONDS + FLUSH_SECONDS + CHECK_SECONDS
# One wall-clock time serves every heartbeat within this many seconds of it: building the
# datetime costs more than the rest of a heartbeat's bookkeeping (1.5 µs), and staleness is
# judged in seconds.
STAMP_SECONDS = 0.001
# Derived keys kept; deriving one costs an HMAC, so only a bound on memory matters.
KEY_CACHE = 65536


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class HeartbeatReceiver(asyncio.DatagramProtocol):
    """Counts and remembers heartbeats; ``take_batch`` hands over what changed since last."""

    def __init__(
        self,
        secret: bytes,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self._secret = secret
        # Keyed by the id's 16 bytes as they arrive: no UUID is built for a known amphora.
        self._key_for = functools.lru_cache(maxsize=KEY_CACHE)(self._derive)
        self._clock = clock
        self._wall = wall
        self._joiner = Reassembler()
        self._stamped_at, self._stamp = -math.inf, wall()
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        # By the amphora id's 16 bytes.
        self.latest: dict[bytes, heartbeats.HeartbeatRecord] = {}
        self._dirty: set[bytes] = set()

    def _derive(self, raw_id: bytes) -> AmphoraKey:
        return AmphoraKey.derived(self._secret, uuid.UUID(bytes=raw_id))

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            self.receive(data)
        except HeartbeatRejected as exc:
            self.rejected[exc.reason] += 1

    def receive(self, data: bytes) -> None:
        frame = open_frame(data, self._key_for)
        self._check_fresh(frame.amphora, frame.sequence)
        now = self._clock()
        body = self._joiner.add(frame, now=now)
        if body is None:
            return
        heartbeat = decode_body(frame.amphora_id, body)
        # Checked again: another message of this amphora may have completed meanwhile.
        self._check_fresh(frame.amphora, frame.sequence)
        if now - self._stamped_at >= STAMP_SECONDS:
            self._stamped_at, self._stamp = now, self._wall()
        self.latest[frame.amphora] = heartbeats.HeartbeatRecord(
            heartbeat.amphora_id, self._stamp, frame.sequence, heartbeat.generation, heartbeat
        )
        self._dirty.add(frame.amphora)
        self.accepted += 1

    def _check_fresh(self, amphora: bytes, sequence: int) -> None:
        last = self.latest.get(amphora)
        if last is not None and sequence <= last.sequence:
            raise HeartbeatRejected("replay")

    def take_batch(self) -> list[heartbeats.HeartbeatRecord]:
        batch = [self.latest[amphora_id] for amphora_id in self._dirty]
        self._dirty.clear()
        return batch

    def requeue(self, batch: list[heartbeats.HeartbeatRecord]) -> None:
        """A batch that was not written goes out with the next one (with newer values)."""
        self._dirty.update(uuid.UUID(record.amphora_id).bytes for record in batch)


async def run_health(
    settings: Settings,
    db: Database,
    receiver: HeartbeatReceiver,
    *,
    on_failover: Callable[[str], None] | None = None,
) -> None:
    """Receive heartbeats on ``health_bind_host:health_bind_port`` until cancelled.

    Besides flushing what arrived every ``FLUSH_SECONDS``, every ``CHECK_SECONDS`` it looks
    for amphorae silent for ``heartbeat_timeout`` and fails them over (``on_failover`` is
    called with each load balancer that needs its reconciler).
    """
    loop = asyncio.get_running_loop()
    address = (settings.health_bind_host, settings.health_bind_port)
    try:
        transport, _ = await loop.create_datagram_endpoint(lambda: receiver, local_addr=address)
    except OSError as exc:
        # The API and the reconciler keep working; say loudly that heartbeats do not arrive.
        LOG.error("health service cannot listen on %s:%s (%s): no heartbeats", *address, exc)
        return
    LOG.info("health service on %s:%s", settings.health_bind_host, settings.health_bind_port)
    watcher = StaleWatcher(settings, db, on_failover=on_failover)
    # Amphorae that ran before we listened need one timeout to be heard again.
    trust_from = time.monotonic() + settings.heartbeat_timeout
    flushed_at, written = time.monotonic(), True
    cache = heartbeat_cache.Cache(counters_every=COUNTERS_SECONDS)
    try:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            if time.monotonic() - flushed_at >= FLUSH_SECONDS:
                flushed_at, written = time.monotonic(), await _flush(receiver, db, cache)
            if written and time.monotonic() >= trust_from:
                try:
                    await watcher.check()
                except Exception:
                    LOG.exception("stale-amphora check failed; retrying")
    finally:
        transport.close()
        await _flush(receiver, db, cache, counters=True)


async def _flush(
    receiver: HeartbeatReceiver,
    db: Database,
    cache: heartbeat_cache.Cache,
    *,
    counters: bool | None = None,
) -> bool:
    """Write what arrived since the last flush, and the counters when due (``counters``:
    now, whatever the interval); False if it could not be written."""
    batch = receiver.take_batch()
    if not batch and not cache.unwritten:
        return True
    try:
        await asyncio.to_thread(heartbeats.record, db, batch, cache=cache, counters=counters)
    except Exception:
        LOG.exception("heartbeat batch of %s not written; retried with the next", len(batch))
        receiver.requeue(batch)
        return False
    return True
