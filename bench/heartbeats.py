"""Heartbeat benchmark: heartbeats verified and recorded per second on one core.

Not a test: it prints figures, never asserts. For 1,000 and 10,000 simulated amphorae it
encodes a stream of signed heartbeats (one listener, one pool of four members each, as a
small load balancer reports), then measures on this process's one thread:

- verify: ``HeartbeatReceiver.datagram_received`` (HMAC check, replay check, inflate, parse);
- record: the health service's batched database writes (``services.heartbeats.record``) into
  a fresh SQLite database holding the amphora rows, one batch per heartbeat round;
- forged: the cost of refusing datagrams signed with the wrong key (a flood of garbage).

The target is 20,000 heartbeats verified and recorded per second. Octavia's health manager has
no published figure to set beside it; at its 10 s interval 10,000 amphorae send 1,000/s.

    .venv/bin/python bench/heartbeats.py
    .venv/bin/python bench/heartbeats.py --amphorae 1000 --rounds 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import insert

from portico.db import migrate
from portico.db.base import utcnow
from portico.db.engine import Database, make_engine
from portico.db.models import Amphora
from portico.health.receiver import HeartbeatReceiver
from portico.services import heartbeats
from portico.wire.heartbeat import Heartbeat, ListenerReport, PoolReport, derive_key, encode

SECRET = b"bench-secret"
TARGET_PER_SECOND = 20_000


def report(amphora_id: uuid.UUID, generation: int) -> Heartbeat:
    listener, pool = str(uuid.uuid4()), str(uuid.uuid4())
    return Heartbeat(
        amphora_id=str(amphora_id),
        generation=generation,
        listeners={listener: ListenerReport(status="OPEN", bytes_in=12_345, total_connections=99)},
        pools={
            f"{pool}:{listener}": PoolReport(
                status="UP", members={str(uuid.uuid4()): "UP" for _ in range(4)}
            )
        },
    )


def datagrams(amphorae: list[uuid.UUID], rounds: int) -> list[list[bytes]]:
    """One list of datagrams per round; every amphora sends once per round."""
    keys = {a: derive_key(SECRET, a) for a in amphorae}
    bodies = {a: report(a, 1) for a in amphorae}
    return [
        [d for a in amphorae for d in encode(bodies[a], key=keys[a], sequence=r + 1)]
        for r in range(rounds)
    ]


@contextmanager
def database(amphorae: list[uuid.UUID]) -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="portico-bench-hb-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        migrate.upgrade(url)
        db = Database(make_engine(url))
        now = utcnow()
        rows = [
            {"id": str(a), "status": "ALLOCATED", "created_at": now, "capabilities": []}
            for a in amphorae
        ]
        with db.writing() as session:
            session.execute(insert(Amphora), rows)
        try:
            yield db
        finally:
            db.dispose()


def run(count: int, rounds: int) -> dict[str, float]:
    amphorae = [uuid.uuid4() for _ in range(count)]
    stream = datagrams(amphorae, rounds)
    receiver = HeartbeatReceiver(SECRET)
    verify = record = 0.0
    with database(amphorae) as db:
        for batch in stream:
            started = time.perf_counter()
            for datagram in batch:
                receiver.datagram_received(datagram, ("127.0.0.1", 0))
            verify += time.perf_counter() - started
            started = time.perf_counter()
            heartbeats.record(db, receiver.take_batch())
            record += time.perf_counter() - started
    total = count * rounds
    assert receiver.accepted == total, (receiver.accepted, receiver.rejected)
    forged_key = derive_key(b"not-the-secret", amphorae[0])
    forged = encode(report(amphorae[0], 1), key=forged_key, sequence=10**12)[0]
    started = time.perf_counter()
    for _ in range(total):
        receiver.datagram_received(forged, ("127.0.0.1", 0))
    refuse = time.perf_counter() - started
    return {
        "verify": total / verify,
        "record": total / record,
        "both": total / (verify + record),
        "forged": total / refuse,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amphorae", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--heartbeats", type=int, default=100_000, help="per size, about")
    args = parser.parse_args()
    print("heartbeats per second on one core (one listener, one pool of 4 members each)")
    print(
        f"{'amphorae':>9} {'verify':>10} {'record':>10} {'verify+record':>14} "
        f"{'forged refused':>15} {'target':>8}"
    )
    for count in args.amphorae:
        rounds = max(2, args.heartbeats // count)
        rates = run(count, rounds)
        print(
            f"{count:>9,} {rates['verify']:>10,.0f} {rates['record']:>10,.0f} "
            f"{rates['both']:>14,.0f} {rates['forged']:>15,.0f} {TARGET_PER_SECOND:>8,}"
        )
    print("Octavia: no published figure; at its 10 s interval 10,000 amphorae send 1,000/s.")


if __name__ == "__main__":
    main()
