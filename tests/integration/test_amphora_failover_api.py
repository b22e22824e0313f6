"""Octavia's amphora failover and delete, and the load balancer failover, through the API.

The noop provider boots no amphorae, so rows are inserted as the controller writes them.
What is asserted is what an operator sees: codes, Octavia's error bodies, the amphora's and
the load balancer's statuses, and the events stored with each failover. With noop nothing
replaces or removes the marked amphorae: they stay listed, PENDING_DELETE.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from portico.db.engine import Database, make_engine
from portico.db.models import Amphora, Event, LoadBalancer
from portico.settings import Settings
from tests.compat.conftest import Osc
from tests.conftest import converge, create_lb, wait_for
from tests.support.processes import PorticoProcess, start_portico

AMPS = "/v2/octavia/amphorae"
LBS = "/v2/lbaas/loadbalancers"
MEMBER = {"X-Roles": "member"}
POLICY = "Policy does not allow this request to be performed."


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.portico.db  # type: ignore[attr-defined]
    return db


def _add(client: TestClient, lb_id: str | None, status: str = "ALLOCATED", **fields: Any) -> str:
    """An amphora row; never heard from, so a running health service leaves it alone."""
    amphora_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "compute_id": str(uuid.uuid4()),
        "role": "STANDALONE" if lb_id else None,
        "lb_network_ip": "127.0.0.10",
    } | fields
    with _db(client).writing() as session:
        session.add(Amphora(id=amphora_id, load_balancer_id=lb_id, status=status, **values))
    return amphora_id


def _active_lb(client: TestClient, *, reconciler_runs: bool = False) -> str:
    """A load balancer the noop provider converged (in-process here when no reconciler runs)."""
    lb_id = create_lb(client)
    if not reconciler_runs:
        converge(client)
    wait_for(lambda: _lb(client, lb_id)["provisioning_status"] == "ACTIVE")
    return lb_id


def _lb(client: TestClient, lb_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]
    return body


def _generation(client: TestClient, lb_id: str) -> int:
    with _db(client).reading() as session:
        generation = session.scalar(select(LoadBalancer.generation).where(LoadBalancer.id == lb_id))
        assert generation is not None
        return generation


def _amphora(client: TestClient, amphora_id: str) -> dict[str, Any]:
    response = client.get(f"{AMPS}/{amphora_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["amphora"]
    return body


def _status(client: TestClient, amphora_id: str) -> str:
    with _db(client).reading() as session:
        status = session.scalar(select(Amphora.status).where(Amphora.id == amphora_id))
        assert status is not None
        return status


def _events(client: TestClient, amphora_id: str) -> list[tuple[str, str | None]]:
    with _db(client).reading() as session:
        rows = session.execute(
            select(Event.kind, Event.load_balancer_id)
            .where(Event.amphora_id == amphora_id)
            .order_by(Event.created_at, Event.id)
        )
        return [(row[0], row[1]) for row in rows]


def _set_lb_status(client: TestClient, lb_id: str, status: str) -> None:
    with _db(client).writing() as session:
        session.execute(
            update(LoadBalancer).where(LoadBalancer.id == lb_id).values(provisioning_status=status)
        )


def _assert_fault(response: httpx.Response, code: int, faultstring: str) -> None:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["faultcode"] == "Client"
    assert body["faultstring"] == faultstring


@pytest.fixture
def quiet(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> TestClient:
    """An API whose reconciler does not run: pending statuses stay until ``converge``."""
    return client_factory(settings_factory(), with_reconciler=False)


# -- PUT /v2/octavia/amphorae/{id}/failover ------------------------------------------------


def test_amphora_failover_retires_it_and_reconciles_its_load_balancer(quiet: TestClient) -> None:
    lb_id = _active_lb(quiet)
    amphora_id = _add(quiet, lb_id)
    generation = _generation(quiet, lb_id)

    response = quiet.put(f"{AMPS}/{amphora_id}/failover")

    assert response.status_code == 202
    assert response.content == b""
    # It keeps serving until its replacement does: still listed, on its way out.
    assert _amphora(quiet, amphora_id)["status"] == "PENDING_DELETE"
    listed = quiet.get(AMPS, params={"loadbalancer_id": lb_id}).json()["amphorae"]
    assert [(a["id"], a["status"]) for a in listed] == [(amphora_id, "PENDING_DELETE")]
    assert _lb(quiet, lb_id)["provisioning_status"] == "PENDING_UPDATE"
    assert _generation(quiet, lb_id) == generation + 1
    assert _events(quiet, amphora_id) == [("failover_started", lb_id)]

    converge(quiet)
    assert _lb(quiet, lb_id)["provisioning_status"] == "ACTIVE"


def test_amphora_failover_wakes_the_running_reconciler(client: TestClient) -> None:
    lb_id = _active_lb(client, reconciler_runs=True)
    amphora_id = _add(client, lb_id)
    generation = _generation(client, lb_id)

    assert client.put(f"{AMPS}/{amphora_id}/failover").status_code == 202

    wait_for(lambda: _lb(client, lb_id)["provisioning_status"] == "ACTIVE")
    assert _generation(client, lb_id) == generation + 1
    assert _amphora(client, amphora_id)["status"] == "PENDING_DELETE"


def test_amphora_failover_of_an_error_amphora_keeps_it_error(quiet: TestClient) -> None:
    lb_id = _active_lb(quiet)
    amphora_id = _add(quiet, lb_id, status="ERROR")
    generation = _generation(quiet, lb_id)

    assert quiet.put(f"{AMPS}/{amphora_id}/failover").status_code == 202

    # Failed already: it is replaced and stopped at once, not retired gracefully.
    assert _amphora(quiet, amphora_id)["status"] == "ERROR"
    assert _lb(quiet, lb_id)["provisioning_status"] == "PENDING_UPDATE"
    assert _generation(quiet, lb_id) == generation + 1
    converge(quiet)
    assert _lb(quiet, lb_id)["provisioning_status"] == "ACTIVE"


def test_amphora_failover_overrides_the_circuit_breaker(quiet: TestClient) -> None:
    lb_id = _active_lb(quiet)
    amphora_id = _add(quiet, lb_id, status="FAILOVER_STOPPED")

    assert quiet.put(f"{AMPS}/{amphora_id}/failover").status_code == 202

    assert _amphora(quiet, amphora_id)["status"] == "PENDING_DELETE"
    assert _events(quiet, amphora_id) == [("failover_started", lb_id)]
    assert _lb(quiet, lb_id)["provisioning_status"] == "PENDING_UPDATE"


def test_amphora_failover_of_a_spare_retires_it_without_a_load_balancer(
    quiet: TestClient,
) -> None:
    lb_id = _active_lb(quiet)
    generation = _generation(quiet, lb_id)
    spare = _add(quiet, None, status="READY")

    assert quiet.put(f"{AMPS}/{spare}/failover").status_code == 202

    assert _amphora(quiet, spare)["status"] == "PENDING_DELETE"
    assert _events(quiet, spare) == [("failover_started", None)]
    assert _lb(quiet, lb_id)["provisioning_status"] == "ACTIVE"
    assert _generation(quiet, lb_id) == generation


def test_amphora_failover_while_the_load_balancer_is_being_created_is_409(
    quiet: TestClient,
) -> None:
    lb_id = create_lb(quiet)  # PENDING_CREATE: the reconciler is not running
    amphora_id = _add(quiet, lb_id)
    generation = _generation(quiet, lb_id)

    response = quiet.put(f"{AMPS}/{amphora_id}/failover")

    _assert_fault(response, 409, f"Load Balancer {lb_id} is immutable and cannot be updated.")
    assert _status(quiet, amphora_id) == "ALLOCATED"
    assert _lb(quiet, lb_id)["provisioning_status"] == "PENDING_CREATE"
    assert _generation(quiet, lb_id) == generation
    assert _events(quiet, amphora_id) == []


@pytest.mark.parametrize("lb_status", ["PENDING_UPDATE", "PENDING_DELETE", "ERROR"])
def test_amphora_failover_of_a_load_balancer_not_active_is_409_under_strict_mode(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    lb_status: str,
) -> None:
    strict = client_factory(settings_factory(strict_pending_lock=True), with_reconciler=False)
    lb_id = _active_lb(strict)
    amphora_id = _add(strict, lb_id)
    _set_lb_status(strict, lb_id, lb_status)
    generation = _generation(strict, lb_id)

    response = strict.put(f"{AMPS}/{amphora_id}/failover")

    _assert_fault(response, 409, f"Load Balancer {lb_id} is immutable and cannot be updated.")
    assert _status(strict, amphora_id) == "ALLOCATED"
    assert _lb(strict, lb_id)["provisioning_status"] == lb_status
    assert _generation(strict, lb_id) == generation


def test_amphora_failover_of_an_unknown_or_deleted_amphora_is_404(client: TestClient) -> None:
    lb_id = _active_lb(client, reconciler_runs=True)
    deleted = _add(client, lb_id, status="DELETED")
    unknown = str(uuid.uuid4())
    for amphora_id in (unknown, deleted):
        response = client.put(f"{AMPS}/{amphora_id}/failover")
        _assert_fault(response, 404, f"Amphora {amphora_id} not found.")
    assert _status(client, deleted) == "DELETED"
    assert _events(client, deleted) == []


def test_amphora_failover_is_admin_only(quiet: TestClient) -> None:
    lb_id = _active_lb(quiet)
    amphora_id = _add(quiet, lb_id)
    generation = _generation(quiet, lb_id)

    response = quiet.put(f"{AMPS}/{amphora_id}/failover", headers=MEMBER)

    _assert_fault(response, 403, POLICY)
    assert _status(quiet, amphora_id) == "ALLOCATED"
    assert _lb(quiet, lb_id)["provisioning_status"] == "ACTIVE"
    assert _generation(quiet, lb_id) == generation


# -- DELETE /v2/octavia/amphorae/{id} ------------------------------------------------------


def test_delete_of_an_error_amphora_marks_it_for_removal(quiet: TestClient) -> None:
    lb_id = _active_lb(quiet)
    amphora_id = _add(quiet, lb_id, status="ERROR")
    generation = _generation(quiet, lb_id)

    response = quiet.delete(f"{AMPS}/{amphora_id}")

    assert response.status_code == 204
    assert response.content == b""
    assert _amphora(quiet, amphora_id)["status"] == "PENDING_DELETE"
    assert _generation(quiet, lb_id) == generation + 1
    converge(quiet)
    assert _lb(quiet, lb_id)["provisioning_status"] == "ACTIVE"


def test_delete_of_an_error_spare_marks_it_for_removal(client: TestClient) -> None:
    spare = _add(client, None, status="ERROR")
    assert client.delete(f"{AMPS}/{spare}").status_code == 204
    assert _amphora(client, spare)["status"] == "PENDING_DELETE"


@pytest.mark.parametrize("status", ["ALLOCATED", "FAILOVER_STOPPED", "BOOTING"])
def test_delete_of_an_amphora_not_in_error_is_409(quiet: TestClient, status: str) -> None:
    lb_id = _active_lb(quiet)
    amphora_id = _add(quiet, lb_id, status=status)
    generation = _generation(quiet, lb_id)

    response = quiet.delete(f"{AMPS}/{amphora_id}")

    _assert_fault(response, 409, f"Amphora {amphora_id} is immutable and cannot be updated.")
    assert _status(quiet, amphora_id) == status
    assert _generation(quiet, lb_id) == generation
    assert _lb(quiet, lb_id)["provisioning_status"] == "ACTIVE"


def test_delete_of_an_unknown_or_deleted_amphora_is_404(client: TestClient) -> None:
    deleted = _add(client, None, status="DELETED")
    for amphora_id in (str(uuid.uuid4()), deleted):
        _assert_fault(
            client.delete(f"{AMPS}/{amphora_id}"), 404, f"Amphora {amphora_id} not found."
        )
    assert _status(client, deleted) == "DELETED"


def test_delete_is_admin_only(client: TestClient) -> None:
    amphora_id = _add(client, None, status="ERROR")
    _assert_fault(client.delete(f"{AMPS}/{amphora_id}", headers=MEMBER), 403, POLICY)
    assert _status(client, amphora_id) == "ERROR"


# -- PUT /v2/lbaas/loadbalancers/{id}/failover ---------------------------------------------


def test_load_balancer_failover_retires_its_working_amphorae(quiet: TestClient) -> None:
    lb_id = _active_lb(quiet)
    other_lb = _active_lb(quiet)
    allocated = _add(quiet, lb_id)
    stopped = _add(quiet, lb_id, status="FAILOVER_STOPPED")
    failed = _add(quiet, lb_id, status="ERROR")
    gone = _add(quiet, lb_id, status="DELETED")
    elsewhere = _add(quiet, other_lb)
    spare = _add(quiet, None, status="READY")
    generation = _generation(quiet, lb_id)

    assert quiet.put(f"{LBS}/{lb_id}/failover").status_code == 202

    assert _status(quiet, allocated) == "PENDING_DELETE"
    assert _status(quiet, stopped) == "PENDING_DELETE"
    assert _events(quiet, allocated) == [("failover_started", lb_id)]
    assert _events(quiet, stopped) == [("failover_started", lb_id)]
    # Failed ones are replaced as they are; others' amphorae and spares are untouched.
    assert _status(quiet, failed) == "ERROR" and _events(quiet, failed) == []
    assert _status(quiet, gone) == "DELETED"
    assert _status(quiet, elsewhere) == "ALLOCATED" and _events(quiet, elsewhere) == []
    assert _status(quiet, spare) == "READY"
    assert _lb(quiet, lb_id)["provisioning_status"] == "PENDING_UPDATE"
    assert _generation(quiet, lb_id) == generation + 1
    assert _lb(quiet, other_lb)["provisioning_status"] == "ACTIVE"
    converge(quiet)
    assert _lb(quiet, lb_id)["provisioning_status"] == "ACTIVE"


def test_load_balancer_failover_refused_retires_nothing(quiet: TestClient) -> None:
    lb_id = create_lb(quiet)  # PENDING_CREATE
    amphora_id = _add(quiet, lb_id)

    response = quiet.put(f"{LBS}/{lb_id}/failover")

    _assert_fault(response, 409, f"Load Balancer {lb_id} is immutable and cannot be updated.")
    assert _status(quiet, amphora_id) == "ALLOCATED"
    assert _events(quiet, amphora_id) == []
    member = quiet.put(f"{LBS}/{lb_id}/failover", headers=MEMBER)
    assert member.status_code == 403
    assert _status(quiet, amphora_id) == "ALLOCATED"


# -- the openstack CLI ---------------------------------------------------------------------


@pytest.fixture
def noop_server(tmp_path: Path) -> Iterator[tuple[PorticoProcess, Database]]:
    """A ``portico serve`` of its own (noop provider), and its SQLite database to seed rows."""
    data_dir = tmp_path / "data"
    server = start_portico("serve", data_dir=data_dir, startup_timeout=90.0)
    db = Database(make_engine(f"sqlite:///{data_dir / 'portico.sqlite3'}"))
    try:
        yield server, db
    finally:
        db.dispose()
        server.stop()


@pytest.mark.compat
def test_cli_amphora_failover_and_delete(
    noop_server: tuple[PorticoProcess, Database], tmp_path: Path
) -> None:
    server, db = noop_server
    home = tmp_path / "home"
    home.mkdir()
    osc = Osc(server.url, home)
    lb = osc("create", "--name", "cli-failover", "--vip-subnet-id", "local", "--wait")
    ids = {status: str(uuid.uuid4()) for status in ("ALLOCATED", "ERROR", "FAILOVER_STOPPED")}
    with db.writing() as session:
        for status, amphora_id in ids.items():
            session.add(
                Amphora(
                    id=amphora_id,
                    load_balancer_id=lb["id"],
                    status=status,
                    # No health row: never heard, so the server's health service waits.
                    compute_id=str(uuid.uuid4()),
                )
            )

    # --wait follows the load balancer back to ACTIVE.
    osc("amphora", "failover", "--wait", ids["ALLOCATED"], json=False)
    osc("amphora", "delete", ids["ERROR"], json=False)
    refused = osc.fails("amphora", "delete", ids["FAILOVER_STOPPED"], json=False)
    assert f"Amphora {ids['FAILOVER_STOPPED']} is immutable" in refused
    shown = osc.many(*(("amphora", "show", amphora_id) for amphora_id in ids.values()))
    assert [amphora["status"] for amphora in shown] == [
        "PENDING_DELETE",
        "PENDING_DELETE",
        "FAILOVER_STOPPED",
    ]
    assert osc("show", lb["id"])["provisioning_status"] == "ACTIVE"
