"""Shared fixtures: a fresh database per test (SQLite file or a PostgreSQL database) and an
in-process API with its reconciler running, so tests exercise the real loop."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from portico import bootstrap
from portico.settings import Settings
from tests.support.processes import free_port
from tests.support.waiting import wait_for

PG_ADMIN_URL = os.environ.get(
    "PORTICO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'portico.sqlite3'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required in CI")
        pytest.skip("needs the local PostgreSQL server at 127.0.0.1:5432")
    name = f"portico_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both backends: tests using this run once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


def make_settings(url: str, tmp_path: Path, **overrides: Any) -> Settings:
    # API tests run on the noop provider; amphora tests pass default_provider_driver.
    overrides.setdefault("default_provider_driver", "noop")
    # Each test its own health service port (parallel workers), and quick heartbeats.
    overrides.setdefault("health_bind_port", free_port(socket.SOCK_DGRAM))
    overrides.setdefault("heartbeat_interval", 0.2)
    return Settings(database_url=url, data_dir=tmp_path, **overrides)


@pytest.fixture
def settings_factory(sqlite_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def build(url: str | None = None, **overrides: Any) -> Settings:
        return make_settings(url or sqlite_url, tmp_path, **overrides)

    return build


@pytest.fixture
def client_factory() -> Iterator[Callable[[Settings], TestClient]]:
    """Start an in-process API (with its reconciler) on migrated settings."""
    clients: list[TestClient] = []

    def start(settings: Settings, *, with_reconciler: bool = True) -> TestClient:
        bootstrap.upgrade_database(settings)
        app = bootstrap.build_app(settings, with_reconciler=with_reconciler)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(
    client_factory: Callable[[Settings], TestClient], settings_factory: Callable[..., Settings]
) -> TestClient:
    """An API on a fresh SQLite database, reconciler running, noauth (admin by default)."""
    return client_factory(settings_factory())


LOCAL_SUBNET = "9f4c6a58-2f6e-4c55-9a35-7d1c0e7b0a01"


def create_lb(client: TestClient, headers: dict[str, str] | None = None, **fields: Any) -> str:
    """Create a load balancer on the default local subnet; returns its id (still pending)."""
    body = {"vip_subnet_id": LOCAL_SUBNET, **fields}
    response = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["loadbalancer"]["id"])


def wait_lb_active(client: TestClient, lb_id: str, headers: dict[str, str] | None = None) -> None:
    """Poll until the load balancer is ACTIVE (reconciler converged)."""

    def active() -> bool:
        body = client.get(f"/v2/lbaas/loadbalancers/{lb_id}", headers=headers).json()
        return bool(body["loadbalancer"]["provisioning_status"] == "ACTIVE")

    wait_for(active)


def converge(client: TestClient) -> None:
    """Run the reconciler in-process until idle (for clients started without it)."""
    import asyncio

    ctx = client.app.state.portico  # type: ignore[attr-defined]
    asyncio.run(bootstrap.build_reconciler(ctx.settings, ctx.db).run_until_idle())


@pytest.fixture
def amphora_settings(settings_factory: Callable[..., Settings], tmp_path: Path) -> Settings:
    """Settings that run real amphorae (local compute driver: agent + haproxy processes)."""
    return settings_factory(default_provider_driver="amphora", compute_driver="local")


@pytest.fixture
def amphora_client(
    client_factory: Callable[..., TestClient], amphora_settings: Settings, tmp_path: Path
) -> Iterator[TestClient]:
    """An API whose load balancers run on real haproxy; every amphora is reaped afterwards."""
    from tests.support.amphorae import reap_amphorae

    try:
        yield client_factory(amphora_settings)
    finally:
        reap_amphorae(tmp_path)


def wait_lb_status(
    client: TestClient, lb_id: str, status: str = "ACTIVE", *, timeout: float = 20.0
) -> dict[str, Any]:
    """Poll until the load balancer reaches ``status``; fails at once on an unexpected ERROR."""

    def reached() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()
        lb = body["loadbalancer"]
        if lb["provisioning_status"] == "ERROR" and status != "ERROR":
            raise AssertionError(f"load balancer {lb_id} went to ERROR")
        return lb if lb["provisioning_status"] == status else None

    result: dict[str, Any] = wait_for(reached, timeout=timeout)
    return result


@pytest.fixture(autouse=True)
def _netns_tests_one_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests of the netns group hold one host-wide lock: they compare the host's namespaces
    and links before and after, which a concurrent netns test on another worker would change
    (the loadgroup distribution was seen placing them on both workers)."""
    marker = request.node.get_closest_marker("xdist_group")
    if marker is None or marker.args[:1] != ("netns",):
        yield
        return
    import fcntl

    with open("/tmp/portico-netns-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
