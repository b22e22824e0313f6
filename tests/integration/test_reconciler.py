"""The reconciler: coalescing, leases, retries and ERROR, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import update

from portico import bootstrap
from portico.db.engine import Database
from portico.db.models import LoadBalancer
from portico.domain.errors import PermanentError, TransientError
from portico.drivers.providers.base import ApplyResult, LoadBalancerSnapshot
from portico.reconciler.loop import Reconciler
from portico.services import reconcile
from portico.settings import Settings
from tests.conftest import create_lb


class RecordingProvider:
    """A provider that records what it was asked to converge and can fail on demand."""

    name = "noop"
    description = "test double"

    def __init__(self) -> None:
        self.applied: list[tuple[str, int]] = []
        self.failures: list[Exception] = []
        self.during_apply: Callable[[], None] | None = None

    async def apply(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        self.applied.append((snapshot.id, snapshot.generation))
        if self.during_apply is not None:
            hook, self.during_apply = self.during_apply, None
            await asyncio.to_thread(hook)
        if self.failures:
            raise self.failures.pop(0)
        return ApplyResult(operating_status={snapshot.id: "ONLINE"})

    async def delete(self, snapshot: LoadBalancerSnapshot) -> None:
        self.applied.append((snapshot.id, -snapshot.generation))

    def unsupported(self, feature: str) -> bool:
        return False


def _setup(
    database_url: str, tmp_path: Path, client_factory: Callable[..., TestClient]
) -> tuple[TestClient, Database, Settings]:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, default_provider_driver="noop"
    )
    client = client_factory(settings, with_reconciler=False)
    return client, client.app.state.portico.db, settings  # type: ignore[attr-defined]


def _lb(db: Database, lb_id: str) -> LoadBalancer:
    with db.reading() as session:
        lb = session.get(LoadBalancer, lb_id)
        assert lb is not None
        return lb


def test_writes_while_pending_converge_in_one_generation(
    database_url: str, tmp_path: Path, client_factory: Callable[..., TestClient]
) -> None:
    client, db, settings = _setup(database_url, tmp_path, client_factory)
    lb_id = create_lb(client)
    for name in ("a", "b", "c"):
        url = f"/v2/lbaas/loadbalancers/{lb_id}"
        assert client.put(url, json={"loadbalancer": {"name": name}}).status_code == 200
    provider = RecordingProvider()
    asyncio.run(Reconciler(db, {"noop": provider}, settings).run_until_idle())
    assert provider.applied == [(lb_id, 4)]
    lb = _lb(db, lb_id)
    assert (lb.provisioning_status, lb.applied_generation, lb.operating_status) == (
        "ACTIVE",
        4,
        "ONLINE",
    )


def test_a_write_during_apply_is_applied_by_a_second_pass(
    database_url: str, tmp_path: Path, client_factory: Callable[..., TestClient]
) -> None:
    client, db, settings = _setup(database_url, tmp_path, client_factory)
    lb_id = create_lb(client)
    provider = RecordingProvider()

    def concurrent_write() -> None:
        url = f"/v2/lbaas/loadbalancers/{lb_id}"
        assert client.put(url, json={"loadbalancer": {"name": "late"}}).status_code == 200

    provider.during_apply = concurrent_write
    asyncio.run(Reconciler(db, {"noop": provider}, settings).run_until_idle())
    assert provider.applied == [(lb_id, 1), (lb_id, 2)]
    lb = _lb(db, lb_id)
    assert (lb.provisioning_status, lb.applied_generation, lb.name) == ("ACTIVE", 2, "late")


def test_transient_failure_retries_with_backoff_then_succeeds(
    database_url: str, tmp_path: Path, client_factory: Callable[..., TestClient]
) -> None:
    client, db, settings = _setup(database_url, tmp_path, client_factory)
    lb_id = create_lb(client)
    provider = RecordingProvider()
    provider.failures.append(TransientError("agent unreachable"))
    reconciler = Reconciler(db, {"noop": provider}, settings)
    asyncio.run(reconciler.run_until_idle())
    lb = _lb(db, lb_id)
    assert lb.provisioning_status == "PENDING_CREATE"
    assert lb.last_error == "agent unreachable"
    assert lb.next_attempt_at is not None
    with db.writing() as session:  # the backoff has passed
        session.execute(update(LoadBalancer).values(next_attempt_at=None))
    asyncio.run(reconciler.run_until_idle())
    assert _lb(db, lb_id).provisioning_status == "ACTIVE"


def test_permanent_failure_ends_in_error_with_the_reason(
    database_url: str, tmp_path: Path, client_factory: Callable[..., TestClient]
) -> None:
    client, db, settings = _setup(database_url, tmp_path, client_factory)
    lb_id = create_lb(client)
    provider = RecordingProvider()
    provider.failures.append(PermanentError("image not found"))
    asyncio.run(Reconciler(db, {"noop": provider}, settings).run_until_idle())
    lb = _lb(db, lb_id)
    assert (lb.provisioning_status, lb.last_error) == ("ERROR", "image not found")
    # ERROR is not pending: a later change is accepted and retried.
    url = f"/v2/lbaas/loadbalancers/{lb_id}"
    assert client.put(url, json={"loadbalancer": {"name": "again"}}).status_code == 200
    asyncio.run(Reconciler(db, {"noop": provider}, settings).run_until_idle())
    assert _lb(db, lb_id).provisioning_status == "ACTIVE"


def test_a_dead_workers_lease_expires_and_another_takes_over(
    database_url: str, tmp_path: Path, client_factory: Callable[..., TestClient]
) -> None:
    client, db, settings = _setup(database_url, tmp_path, client_factory)
    lb_id = create_lb(client)
    with db.writing() as session:
        claimed = reconcile.claim(session, owner="dead-worker", lease_seconds=60, limit=10)
    assert claimed == [lb_id]
    provider = RecordingProvider()
    other = Reconciler(db, {"noop": provider}, settings)
    asyncio.run(other.run_until_idle())
    assert provider.applied == []  # the lease still holds
    with db.writing() as session:
        past = dt.datetime(2000, 1, 1)
        session.execute(update(LoadBalancer).values(lease_expires=past))
    asyncio.run(other.run_until_idle())
    assert provider.applied == [(lb_id, 1)]
    assert _lb(db, lb_id).provisioning_status == "ACTIVE"


def test_a_late_result_from_a_worker_that_lost_its_lease_is_ignored(
    database_url: str, tmp_path: Path, client_factory: Callable[..., TestClient]
) -> None:
    client, db, _settings = _setup(database_url, tmp_path, client_factory)
    lb_id = create_lb(client)
    with db.writing() as session:
        reconcile.claim(session, owner="slow", lease_seconds=60, limit=10)
    with db.writing() as session:
        session.execute(update(LoadBalancer).values(lease_owner="someone-else"))
    with db.writing() as session:
        reconcile.record_success(session, lb_id, owner="slow", generation=1, result=ApplyResult())
    assert _lb(db, lb_id).provisioning_status == "PENDING_CREATE"


def test_delete_removes_the_row_after_the_provider_deleted(
    database_url: str, tmp_path: Path, client_factory: Callable[..., TestClient]
) -> None:
    client, db, settings = _setup(database_url, tmp_path, client_factory)
    lb_id = create_lb(client)
    assert client.delete(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 204
    provider = RecordingProvider()
    asyncio.run(Reconciler(db, {"noop": provider}, settings).run_until_idle())
    assert provider.applied == [(lb_id, -2)]
    with db.reading() as session:
        assert session.get(LoadBalancer, lb_id) is None
    assert bootstrap  # the composition root wires the same Reconciler in serve
