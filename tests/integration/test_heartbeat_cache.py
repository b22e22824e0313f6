"""The health service's cache between batches never serves what the database no longer holds.

Each test records heartbeats through one ``heartbeat_cache.Cache`` kept across batches, as
the health service does, and changes the database between them the way the API, the
reconciler or another health service would; statuses and counters must come out as if every
batch had read everything afresh. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import gc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from portico.db import migrate
from portico.db.base import utcnow
from portico.db.engine import Database, make_engine
from portico.db.health_models import AmphoraHealth
from portico.db.models import Amphora, Listener, ListenerStatistics, LoadBalancer, Member, Pool
from portico.services import heartbeat_cache, heartbeats
from portico.wire.heartbeat import Heartbeat, ListenerReport, PoolReport, ServerStatus


@dataclass
class Site:
    db: Database
    amphora: str
    lb: str
    listener: str
    pool: str
    members: list[str]
    sequence: int = 0

    def beat(
        self,
        cache: heartbeat_cache.Cache,
        words: dict[str, ServerStatus] | None = None,
        *,
        connections: int = 0,
        generation: int | None = None,
    ) -> None:
        self.sequence += 1
        if generation is None:
            generation = self.value(LoadBalancer.applied_generation)
        members = {m: "UP" for m in self.members} | (words or {})
        heartbeat = Heartbeat(
            amphora_id=self.amphora,
            generation=generation,
            listeners={
                self.listener: ListenerReport(
                    status="OPEN", total_connections=connections, bytes_in=10 * connections
                )
            },
            pools={f"{self.pool}:{self.listener}": PoolReport(status="UP", members=members)},
        )
        record = heartbeats.HeartbeatRecord(
            self.amphora, dt.datetime(2026, 12, 2), self.sequence, generation, heartbeat
        )
        heartbeats.record(self.db, [record], cache=cache)

    def value(self, column: Any, where: Any = None) -> Any:
        with self.db.reading() as session:
            return session.scalar(select(column).where(where if where is not None else True))

    def statuses(self) -> dict[str, str]:
        with self.db.reading() as session:
            found = {
                "lb": session.scalar(
                    select(LoadBalancer.operating_status).where(LoadBalancer.id == self.lb)
                ),
                "pool": session.scalar(select(Pool.operating_status).where(Pool.id == self.pool)),
            }
            for member_id, status in session.execute(
                select(Member.id, Member.operating_status).where(Member.pool_id == self.pool)
            ):
                found[f"m{self.members.index(member_id)}"] = status
            return found

    def connections(self) -> int:
        with self.db.reading() as session:
            return int(
                session.scalar(
                    select(ListenerStatistics.total_connections).where(
                        ListenerStatistics.listener_id == self.listener
                    )
                )
                or 0
            )

    def change(self, model: Any, object_id: str, **values: Any) -> None:
        """A user's change as the API records it, converged as the reconciler records it."""
        with self.db.writing() as session:
            if values:
                session.execute(update(model).where(model.id == object_id).values(**values))
            session.execute(
                update(LoadBalancer)
                .where(LoadBalancer.id == self.lb)
                .values(generation=LoadBalancer.generation + 1)
            )
            session.execute(
                update(LoadBalancer)
                .where(LoadBalancer.id == self.lb)
                .values(applied_generation=LoadBalancer.generation, provisioning_status="ACTIVE")
            )

    def add_member(self) -> None:
        member_id = str(uuid.uuid4())
        with self.db.writing() as session:
            session.execute(insert(Member), [_member(member_id, self.pool, len(self.members))])
        self.members.append(member_id)
        self.change(LoadBalancer, self.lb)


def _member(member_id: str, pool_id: str, index: int) -> dict[str, Any]:
    return {
        "id": member_id,
        "project_id": "p",
        "created_at": utcnow(),
        "provisioning_status": "ACTIVE",
        "operating_status": "NO_MONITOR",
        "pool_id": pool_id,
        "address": f"127.0.0.{index + 10}",
        "protocol_port": 8080,
    }


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    migrate.upgrade(database_url)
    db = Database(make_engine(database_url))
    ids = [str(uuid.uuid4()) for _ in range(5)]
    amphora, lb, listener, pool, member = ids
    common = {"project_id": "p", "created_at": utcnow(), "provisioning_status": "ACTIVE"}
    with db.writing() as session:
        session.execute(
            insert(LoadBalancer),
            [{**common, "id": lb, "provider": "amphora", "operating_status": "ONLINE",
              "generation": 1, "applied_generation": 1}],
        )  # fmt: skip
        session.execute(
            insert(Pool),
            [{**common, "id": pool, "load_balancer_id": lb, "protocol": "HTTP",
              "lb_algorithm": "ROUND_ROBIN", "operating_status": "ONLINE"}],
        )  # fmt: skip
        session.execute(
            insert(Listener),
            [{**common, "id": listener, "load_balancer_id": lb, "protocol": "HTTP",
              "protocol_port": 80, "default_pool_id": pool, "operating_status": "ONLINE"}],
        )  # fmt: skip
        session.execute(insert(Member), [_member(member, pool, 0)])
        session.execute(
            insert(Amphora),
            [{"id": amphora, "load_balancer_id": lb, "status": "ALLOCATED",
              "created_at": utcnow(), "capabilities": []}],
        )  # fmt: skip
    try:
        yield Site(db, amphora, lb, listener, pool, [member])
    finally:
        db.dispose()


def test_a_member_added_between_heartbeats_is_rolled_up(site: Site) -> None:
    cache = heartbeat_cache.Cache()
    site.beat(cache)
    site.beat(cache)
    assert site.statuses() == {"lb": "ONLINE", "pool": "ONLINE", "m0": "ONLINE"}

    site.add_member()
    site.beat(cache, {site.members[1]: "DOWN"})
    assert site.statuses() == {"lb": "DEGRADED", "pool": "DEGRADED", "m0": "ONLINE", "m1": "ERROR"}


def test_a_generation_change_between_heartbeats_is_rolled_up(site: Site) -> None:
    cache = heartbeat_cache.Cache()
    site.beat(cache, {site.members[0]: "DOWN"})
    assert site.statuses() == {"lb": "ERROR", "pool": "ERROR", "m0": "ERROR"}

    # The same word again is served from the cache; a disabled member then reads OFFLINE.
    site.beat(cache, {site.members[0]: "DOWN"})
    site.change(Member, site.members[0], admin_state_up=False)
    site.beat(cache, {site.members[0]: "DOWN"})
    assert site.statuses() == {"lb": "ONLINE", "pool": "ONLINE", "m0": "OFFLINE"}


def test_statuses_written_by_the_reconciler_are_not_trusted_from_the_cache(site: Site) -> None:
    cache = heartbeat_cache.Cache()
    site.beat(cache, {site.members[0]: "DOWN"})
    # A push converged: the reconciler writes what it observed, with the applied generation.
    with site.db.writing() as session:
        session.execute(update(Member).values(operating_status="ONLINE"))
        session.execute(
            update(LoadBalancer).values(
                generation=2, applied_generation=2, operating_status="ONLINE"
            )
        )
    site.beat(cache, {site.members[0]: "DOWN"})
    assert site.statuses() == {"lb": "ERROR", "pool": "ERROR", "m0": "ERROR"}


def test_statuses_written_by_another_health_service_are_not_trusted_from_the_cache(
    site: Site,
) -> None:
    ours, theirs = heartbeat_cache.Cache(), heartbeat_cache.Cache()
    site.beat(ours, {site.members[0]: "DOWN"})
    site.beat(ours, {site.members[0]: "DOWN"})
    # Another controller heard a heartbeat this one missed.
    site.beat(theirs)
    assert site.statuses()["m0"] == "ONLINE"

    site.beat(ours, {site.members[0]: "DOWN"})
    assert site.statuses() == {"lb": "ERROR", "pool": "ERROR", "m0": "ERROR"}


def test_counters_stay_cumulative_across_a_reset_and_another_health_service(
    site: Site,
) -> None:
    ours, theirs = heartbeat_cache.Cache(), heartbeat_cache.Cache()
    site.beat(ours, connections=10)
    site.beat(ours, connections=20)
    assert site.connections() == 20

    # haproxy restarted: its counters start again, and are added to what was served.
    site.beat(ours, connections=5)
    assert site.connections() == 25
    # Another health service counts the next heartbeat; ours must not count its growth twice.
    site.beat(theirs, connections=7)
    site.beat(ours, connections=9)
    assert site.connections() == 29
    site.beat(ours, connections=12)
    assert site.connections() == 32


def test_an_amphora_being_deleted_changes_nothing_with_a_warm_cache(site: Site) -> None:
    cache = heartbeat_cache.Cache()
    site.beat(cache, connections=3)
    site.beat(cache, connections=4)
    with site.db.writing() as session:
        session.execute(update(Amphora).values(status="PENDING_DELETE"))
    site.beat(cache, {site.members[0]: "DOWN"}, connections=40)
    assert site.statuses()["m0"] == "ONLINE"
    assert site.connections() == 4
    assert site.value(AmphoraHealth.sequence) == site.sequence  # liveness still recorded


def test_a_heartbeat_older_than_the_applied_generation_changes_no_status(site: Site) -> None:
    cache = heartbeat_cache.Cache()
    site.beat(cache)
    site.beat(cache, {site.members[0]: "DOWN"}, generation=0, connections=2)
    assert site.statuses()["m0"] == "ONLINE"
    assert site.connections() == 2


def test_a_load_balancer_with_two_amphorae_is_trusted_only_when_both_check(site: Site) -> None:
    """Its statuses may come from either amphora: one that is not checked in a batch (or
    fails the check) makes the load balancer read again, in that same batch."""
    cache = heartbeat_cache.Cache()
    other = Site(site.db, str(uuid.uuid4()), site.lb, site.listener, site.pool, site.members)
    with site.db.writing() as session:
        session.execute(
            insert(Amphora),
            [{"id": other.amphora, "load_balancer_id": site.lb, "status": "ALLOCATED",
              "created_at": utcnow(), "capabilities": []}],
        )  # fmt: skip
    site.beat(cache)
    other.beat(cache)
    site.beat(cache)
    # Another health service writes from the second amphora only; ours then hears the first.
    other.beat(heartbeat_cache.Cache(), {site.members[0]: "DOWN"})
    assert site.statuses()["m0"] == "ERROR"
    site.beat(cache)
    assert site.statuses() == {"lb": "ONLINE", "pool": "ONLINE", "m0": "ONLINE"}

    # Both in one batch, the second failing the check: no error, the first's word counts.
    with site.db.writing() as session:
        session.execute(
            update(Amphora).where(Amphora.id == other.amphora).values(status="PENDING_DELETE")
        )
    site.sequence += 1
    other.sequence += 1
    generation = site.value(LoadBalancer.applied_generation)
    records = [
        heartbeats.HeartbeatRecord(
            s.amphora,
            dt.datetime(2026, 12, 2),
            s.sequence,
            generation,
            Heartbeat(
                amphora_id=s.amphora,
                generation=generation,
                listeners={site.listener: ListenerReport(status="OPEN")},
                pools={
                    f"{site.pool}:{site.listener}": PoolReport(
                        status="UP", members={site.members[0]: word}
                    )
                },
            ),
        )
        for s, word in ((site, "DOWN"), (other, "UP"))
    ]
    heartbeats.record(site.db, records, cache=cache)
    assert site.statuses()["m0"] == "ERROR"


def test_counters_written_every_interval_count_every_heartbeat_in_between(site: Site) -> None:
    now = [0.0]
    cache = heartbeat_cache.Cache(counters_every=5.0, clock=lambda: now[0])
    site.beat(cache, connections=10)
    assert site.connections() == 10  # a row the cache does not hold is written at once

    # Until the interval passes, counters are counted in the cache, a reset included.
    for at, connections in ((1.0, 20), (2.0, 5), (3.0, 8)):
        now[0] = at
        site.beat(cache, connections=connections)
        assert site.connections() == 10
    now[0] = 5.0
    site.beat(cache, connections=9)
    # 10, +10, a restarted haproxy's 5, +3, +1: as if every heartbeat had been written.
    assert site.connections() == 29

    # Counted, then no heartbeat: an empty batch writes them once the interval passes.
    now[0] = 6.0
    site.beat(cache, connections=12)
    heartbeats.record(site.db, [], cache=cache)
    assert site.connections() == 29
    now[0] = 10.0
    heartbeats.record(site.db, [], cache=cache)
    assert site.connections() == 32


def test_counters_held_back_lose_to_another_health_services_write_and_recount(
    site: Site,
) -> None:
    now = [0.0]
    ours = heartbeat_cache.Cache(counters_every=5.0, clock=lambda: now[0])
    theirs = heartbeat_cache.Cache()
    site.beat(ours, connections=10)
    now[0] = 1.0
    site.beat(ours, connections=20)  # counted, not yet written
    site.beat(theirs, connections=30)  # written by the other health service
    assert site.connections() == 30
    now[0] = 5.0
    # Our write finds the row moved on: counted again from it in the same batch, not twice.
    site.beat(ours, connections=40)
    assert site.connections() == 40
    now[0] = 6.0
    site.beat(ours, connections=41)
    now[0] = 11.0
    site.beat(ours, connections=42)
    assert site.connections() == 42


def test_what_the_cache_keeps_is_untracked_by_the_garbage_collector(site: Site) -> None:
    # Kept for every load balancer heard from: tracked, 10,000 of them made each full
    # collection of the health service scan hundreds of thousands of objects.
    cache = heartbeat_cache.Cache(counters_every=3600)
    site.beat(cache, {site.members[0]: "DOWN"}, connections=1)
    site.beat(cache, connections=2)
    gc.collect()  # CPython untracks dicts and tuples of untracked values as it collects
    (lb,) = cache.lbs.values()
    (amphora,) = cache.amphorae.values()
    kept = [lb, lb.version, lb.topology, *lb.topology.pools, *lb.topology.listeners]
    kept += [node for pool in lb.topology.pools for node in pool.members]
    kept += [lb.stored, lb.tables, lb.listeners, lb.amphorae, lb.rolled]
    kept += [r for rolled in lb.rolled.values() for r in (rolled, rolled.statuses)]
    kept += [amphora, amphora.stats, amphora.unwritten, *amphora.stats.values()]
    assert len(lb.rolled) == 2 and amphora.unwritten
    assert [o for o in kept if gc.is_tracked(o)] == []
