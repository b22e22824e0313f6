"""Housekeeping's cost: one purge of a large backlog, and one orphan pass over a fleet's rows.

Not a test: it prints a table. Each backend gets a fresh database (SQLite in a temporary
directory, or a PostgreSQL database created and dropped here) holding ``--events`` expired
events, each with a delivered webhook delivery, ``--deleted`` expired DELETED amphora rows and
``--live`` ALLOCATED rows. Then it times the purge (batches of 500, a transaction each) and an
orphan pass whose compute driver is the ``fake`` one running every live row's instance, so
the pass measures portico's own work (the listing, the row read, one status call per row)
rather than a driver's. Nothing is left behind.

    .venv/bin/python bench/housekeeping.py
    .venv/bin/python bench/housekeeping.py --backends sqlite --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rig import postgres_database
from sqlalchemy import insert

from portico.db import migrate
from portico.db.base import utcnow
from portico.db.engine import Database, make_engine
from portico.db.models import Amphora, Event, EventDelivery
from portico.drivers.compute.base import Instance
from portico.drivers.compute.fake import FakeCompute
from portico.orchestrator.fleet import Fleet
from portico.orchestrator.orphans import reap_orphans
from portico.services.purge import PurgeCutoffs, purge
from portico.settings import Settings


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'bench.sqlite3'}"
        return
    with postgres_database() as url:
        yield url


def seed(db: Database, *, events: int, deleted: int, live: int) -> list[str]:
    """The backlog; returns the live rows' ids."""
    old = utcnow() - dt.timedelta(days=60)
    event_ids = [str(uuid.uuid4()) for _ in range(events)]
    live_ids = [str(uuid.uuid4()) for _ in range(live)]

    def amphora(amphora_id: str, status: str) -> dict[str, object]:
        return {
            "id": amphora_id,
            "status": status,
            "created_at": old,
            "updated_at": old,
            "compute_id": amphora_id,
            "compute_driver": "fake",
            "load_balancer_id": str(uuid.uuid4()),
            "capabilities": [],
            "network_legs": {},
            "applied_generation": 0,
            "cert_busy": False,
        }

    with db.writing() as session:
        session.execute(
            insert(Event),
            [
                {
                    "id": i,
                    "created_at": old,
                    "kind": "failover_started",
                    "severity": "WARNING",
                    "detail": "",
                    "delivery_queued": True,
                }
                for i in event_ids
            ],
        )
        session.execute(
            insert(EventDelivery),
            [
                {
                    "id": str(uuid.uuid4()),
                    "event_id": i,
                    "target": "http://127.0.0.1:1/",
                    "created_at": old,
                    "state": "delivered",
                    "attempts": 1,
                }
                for i in event_ids
            ],
        )
        rows = [amphora(str(uuid.uuid4()), "DELETED") for _ in range(deleted)]
        rows += [amphora(i, "ALLOCATED") for i in live_ids]
        if rows:
            session.execute(insert(Amphora), rows)
    return live_ids


def run(backend: str, args: argparse.Namespace) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        migrate.upgrade(url)
        db = Database(make_engine(url))
        try:
            live = seed(db, events=args.events, deleted=args.deleted, live=args.live)
            started = time.perf_counter()
            counts = purge(db, PurgeCutoffs.at(utcnow(), amphora_age=86400, event_age=86400))
            purged = (time.perf_counter() - started) * 1000
            assert (counts.events, counts.amphorae) == (args.events, args.deleted), counts
            settings = Settings(data_dir=Path(tmp), database_url=url, compute_driver="fake")
            fleet = Fleet(settings, db)
            fake = FakeCompute()
            fake.instances_by_id = {i: Instance(i, f"fake:{i}") for i in live}
            fleet._compute = fake
            started = time.perf_counter()
            report = asyncio.run(reap_orphans(fleet, grace=0.0, threshold=None))
            reaped = (time.perf_counter() - started) * 1000
            assert not (report.reaped or report.failed_over), report
        finally:
            db.dispose()
    return [
        f"| {backend} | purge {args.events:,} events (+ deliveries), {args.deleted:,} amphorae "
        f"| {purged:,.0f} |",
        f"| {backend} | orphan pass, {args.live:,} live amphorae (fake driver) | {reaped:,.0f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--deleted", type=int, default=1_000)
    parser.add_argument("--live", type=int, default=1_000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| backend | pass | ms |\n|---|---|---:|")
    for backend in args.backends:
        for line in run(backend, args):
            print(line)


if __name__ == "__main__":
    main()
