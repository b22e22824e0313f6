"""Heartbeat benchmark: heartbeats verified and recorded per second on one core.

Not a test: it prints figures, never asserts. For 1,000 and 10,000 simulated amphorae, each
serving a load balancer (one listener, one pool of four members) that exists in a fresh
database (SQLite, or PostgreSQL with ``--db``), it encodes a stream of signed heartbeats,
then measures on this process's one thread:

- verify: ``HeartbeatReceiver.datagram_received`` (HMAC check, replay check, inflate, parse);
- record: the health service's batched database writes (``services.heartbeats.record``:
  liveness, status roll-up, cumulative statistics), one batch per heartbeat round, in two
  cases: steady (statuses unchanged, counters growing) and churn (one member of every load
  balancer flips UP/DOWN every round, so each heartbeat writes member, pool and LB statuses);
- forged: the cost of refusing datagrams signed with the wrong key (a flood of garbage).

"record" counts every batch, the first included: it finds the cache empty and reads every load
balancer, as a health service does once after it starts. "warm" leaves the first batch out:
what a running health service spends on each later one. A round stands for one second (each
amphora heartbeats once a second), so listener counters are written every
``COUNTERS_SECONDS`` rounds, as ``run_health`` writes them.

"reference" is the Octavia-like path beside it: every heartbeat verified the same way, then
recorded in a transaction of its own that reads its load balancer afresh (no cache, counters
and liveness written per heartbeat), measured on the first ``--reference`` heartbeats.

The target is 20,000 heartbeats verified and recorded per second. Octavia's health manager has
no published figure to set beside it; at its 10 s interval 10,000 amphorae send 1,000/s.

    .venv/bin/python bench/heartbeats.py
    .venv/bin/python bench/heartbeats.py --amphorae 1000 --heartbeats 20000
    .venv/bin/python bench/heartbeats.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig import postgres_database
from sqlalchemy import insert

from portico.db import migrate
from portico.db.base import utcnow
from portico.db.engine import Database, make_engine
from portico.db.models import Amphora, Listener, LoadBalancer, Member, Pool
from portico.health.receiver import COUNTERS_SECONDS, HeartbeatReceiver
from portico.services import heartbeat_cache, heartbeats
from portico.wire.heartbeat import (
    Heartbeat,
    ListenerReport,
    PoolReport,
    ServerStatus,
    derive_key,
    encode,
)

SECRET = b"bench-secret"
TARGET_PER_SECOND = 20_000


@dataclass(frozen=True)
class Site:
    """One amphora and the ids of the load balancer it serves."""

    amphora: uuid.UUID
    lb: str
    listener: str
    pool: str
    members: tuple[str, ...]

    @classmethod
    def make(cls) -> Site:
        return cls(
            amphora=uuid.uuid4(),
            lb=str(uuid.uuid4()),
            listener=str(uuid.uuid4()),
            pool=str(uuid.uuid4()),
            members=tuple(str(uuid.uuid4()) for _ in range(4)),
        )

    def report(self, round_: int, *, churn: bool) -> Heartbeat:
        members: dict[str, ServerStatus] = {m: "UP" for m in self.members}
        if churn and round_ % 2:
            members[self.members[0]] = "DOWN"
        traffic = ListenerReport(
            status="OPEN", bytes_in=1_000 * (round_ + 1), total_connections=10 * (round_ + 1)
        )
        return Heartbeat(
            amphora_id=str(self.amphora),
            generation=1,
            listeners={self.listener: traffic},
            pools={f"{self.pool}:{self.listener}": PoolReport(status="UP", members=members)},
        )


def datagrams(sites: list[Site], rounds: int, *, churn: bool) -> list[list[bytes]]:
    """One list of datagrams per round; every amphora sends once per round."""
    keys = {s.amphora: derive_key(SECRET, s.amphora) for s in sites}
    return [
        [
            d
            for s in sites
            for d in encode(s.report(r, churn=churn), key=keys[s.amphora], sequence=r + 1)
        ]
        for r in range(rounds)
    ]


def _rows(sites: list[Site]) -> dict[Any, list[dict[str, Any]]]:
    now, project = utcnow(), "bench"
    common = {"project_id": project, "created_at": now, "provisioning_status": "ACTIVE"}
    return {
        LoadBalancer: [
            {**common, "id": s.lb, "provider": "amphora", "operating_status": "ONLINE",
             "generation": 1, "applied_generation": 1, "vip_address": "127.64.0.2"}
            for s in sites
        ],
        Pool: [
            {**common, "id": s.pool, "load_balancer_id": s.lb, "protocol": "HTTP",
             "lb_algorithm": "ROUND_ROBIN", "operating_status": "ONLINE"}
            for s in sites
        ],
        Listener: [
            {**common, "id": s.listener, "load_balancer_id": s.lb, "protocol": "HTTP",
             "protocol_port": 80, "default_pool_id": s.pool, "operating_status": "ONLINE"}
            for s in sites
        ],
        Member: [
            {**common, "id": m, "pool_id": s.pool, "address": f"127.0.0.{i + 10}",
             "protocol_port": 8080, "operating_status": "ONLINE"}
            for s in sites
            for i, m in enumerate(s.members)
        ],
        Amphora: [
            {"id": str(s.amphora), "load_balancer_id": s.lb, "status": "ALLOCATED",
             "role": "STANDALONE", "created_at": now, "capabilities": []}
            for s in sites
        ],
    }  # fmt: skip


@contextmanager
def _fresh_url(backend: str) -> Iterator[str]:
    """A new empty database: a SQLite file, or a PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="portico-bench-hb-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        return
    with postgres_database(backend, prefix="portico_bench_hb") as url:
        yield url


@contextmanager
def database(sites: list[Site], backend: str) -> Iterator[Database]:
    with _fresh_url(backend) as url:
        migrate.upgrade(url)
        db = Database(make_engine(url))
        with db.writing() as session:
            for model, rows in _rows(sites).items():
                session.execute(insert(model), rows)
        try:
            yield db
        finally:
            db.dispose()


def reference(sites: list[Site], stream: list[list[bytes]], limit: int, backend: str) -> float:
    """Heartbeats per second, verified and recorded one transaction each, without a cache."""
    receiver = HeartbeatReceiver(SECRET)
    done, spent = 0, 0.0
    with database(sites, backend) as db:
        for batch in stream:
            for datagram in batch[: limit - done]:
                started = time.perf_counter()
                receiver.datagram_received(datagram, ("127.0.0.1", 0))
                heartbeats.record(db, receiver.take_batch())
                spent += time.perf_counter() - started
                done += 1
            if done >= limit:
                break
    return done / spent


@dataclass(frozen=True)
class Case:
    """One line of the table: how many amphorae, for how many rounds, on which database."""

    count: int
    rounds: int
    churn: bool
    reference_limit: int
    backend: str


def run(case: Case) -> dict[str, float]:
    count, rounds, churn = case.count, case.rounds, case.churn
    sites = [Site.make() for _ in range(count)]
    stream = datagrams(sites, rounds, churn=churn)
    receiver = HeartbeatReceiver(SECRET)
    # Kept across batches as the health service keeps it (``run_health``); a round is 1 s.
    clock = [0.0]
    cache = heartbeat_cache.Cache(counters_every=COUNTERS_SECONDS, clock=lambda: clock[0])
    verify = record = first = 0.0
    with database(sites, case.backend) as db:
        for batch in stream:
            started = time.perf_counter()
            for datagram in batch:
                receiver.datagram_received(datagram, ("127.0.0.1", 0))
            verify += time.perf_counter() - started
            started = time.perf_counter()
            heartbeats.record(db, receiver.take_batch(), cache=cache)
            record += time.perf_counter() - started
            first = first or record
            clock[0] += 1.0
    total = count * rounds
    assert receiver.accepted == total, (receiver.accepted, receiver.rejected)
    forged_key = derive_key(b"not-the-secret", sites[0].amphora)
    forged = encode(sites[0].report(0, churn=False), key=forged_key, sequence=10**12)[0]
    started = time.perf_counter()
    for _ in range(total):
        receiver.datagram_received(forged, ("127.0.0.1", 0))
    refuse = time.perf_counter() - started
    warm = count * (rounds - 1) / (record - first)
    return {
        "verify": total / verify,
        "record": total / record,
        "warm": warm,
        "both": total / (verify + record),
        "warm_both": 1 / (verify / total + 1 / warm),
        "forged": total / refuse,
        "reference": reference(sites, stream, case.reference_limit, case.backend),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amphorae", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--heartbeats", type=int, default=100_000, help="per size, about")
    parser.add_argument("--reference", type=int, default=3_000, help="heartbeats, per case")
    parser.add_argument(
        "--db",
        default="sqlite",
        help="sqlite (a temporary file), or a PostgreSQL admin URL such as "
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres (a database is made per case)",
    )
    args = parser.parse_args()
    backend = "sqlite" if args.db == "sqlite" else "postgresql"
    print(
        f"heartbeats per second on one core (one listener, one pool of 4 members each), {backend}"
    )
    print(
        f"{'amphorae':>9} {'case':>7} {'verify':>10} {'record':>10} {'warm':>10} "
        f"{'verify+record':>14} {'warm':>10} {'reference':>10} {'forged refused':>15} "
        f"{'target':>8}"
    )
    for count in args.amphorae:
        rounds = max(2, args.heartbeats // count)
        for churn in (False, True):
            rates = run(Case(count, rounds, churn, args.reference, args.db))
            print(
                f"{count:>9,} {'churn' if churn else 'steady':>7} {rates['verify']:>10,.0f} "
                f"{rates['record']:>10,.0f} {rates['warm']:>10,.0f} {rates['both']:>14,.0f} "
                f"{rates['warm_both']:>10,.0f} {rates['reference']:>10,.0f} "
                f"{rates['forged']:>15,.0f} {TARGET_PER_SECOND:>8,}"
            )
    print("Octavia: no published figure; at its 10 s interval 10,000 amphorae send 1,000/s.")


if __name__ == "__main__":
    main()
