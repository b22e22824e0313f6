"""Admin amphora API: every Octavia field, filters, paging, deleted rows hidden, statistics.

The noop provider boots no amphorae, so tests insert rows with the ORM as the controller
would, on both backends where the query differs (the project join, statistics).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from portico.api.schemas.amphorae import EXTENSION_FIELDS
from portico.db.engine import Database
from portico.db.models import Amphora, ListenerStatistics
from portico.settings import Settings
from tests.conftest import create_lb

AMPS = "/v2/octavia/amphorae"
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin"}
MEMBER = {"X-Project-Id": "project-a", "X-Roles": "member"}
GLOBAL_OBSERVER = {"X-Project-Id": "audit", "X-Roles": "load-balancer_global_observer"}
FIELDS = {
    "id",
    "loadbalancer_id",
    "compute_id",
    "lb_network_ip",
    "vrrp_ip",
    "ha_ip",
    "vrrp_port_id",
    "ha_port_id",
    "cert_expiration",
    "cert_busy",
    "role",
    "status",
    "vrrp_interface",
    "vrrp_id",
    "vrrp_priority",
    "cached_zone",
    "created_at",
    "updated_at",
    "image_id",
    "compute_flavor",
}


def db_of(client: TestClient) -> Database:
    database: Database = client.app.state.portico.db  # type: ignore[attr-defined]
    return database


def add_amphora(client: TestClient, lb_id: str | None, **fields: Any) -> str:
    amp_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "compute_id": str(uuid.uuid4()),
        "status": "ALLOCATED",
        "role": "STANDALONE",
        "lb_network_ip": "127.0.0.10",
        "vrrp_ip": "127.64.0.5",
        "ha_ip": "127.64.0.100",
        "vrrp_port_id": str(uuid.uuid4()),
        "ha_port_id": str(uuid.uuid4()),
        "vrrp_interface": "eth1",
        "vrrp_id": 1,
        "vrrp_priority": 100,
        "cert_expiration": dt.datetime(2030, 1, 2, 3, 4, 5),
        "cert_busy": False,
        "cached_zone": "zone-1",
        "image_id": str(uuid.uuid4()),
        "compute_flavor": "m1.amphora",
    } | fields
    with db_of(client).writing() as session:
        session.add(Amphora(id=amp_id, load_balancer_id=lb_id, **values))
    return amp_id


def test_show_returns_every_octavia_field(client: TestClient) -> None:
    lb_id = create_lb(client, headers=MEMBER)
    amp_id = add_amphora(client, lb_id)
    response = client.get(f"{AMPS}/{amp_id}", headers=ADMIN)
    assert response.status_code == 200
    amp = response.json()["amphora"]
    assert set(amp) == FIELDS | set(EXTENSION_FIELDS)
    assert list(amp)[: len(FIELDS)] == [k for k in amp if k in FIELDS]  # Octavia's first
    assert amp["id"] == amp_id and amp["loadbalancer_id"] == lb_id
    assert amp["cert_expiration"] == "2030-01-02T03:04:05"
    assert (amp["role"], amp["status"], amp["vrrp_priority"]) == ("STANDALONE", "ALLOCATED", 100)
    assert amp["compute_flavor"] == "m1.amphora" and amp["cert_busy"] is False
    assert amp["created_at"] is not None and amp["updated_at"] is None
    v20 = client.get(
        f"/v2.0/octavia/amphorae/{amp_id}", params={"fields": "id,role"}, headers=ADMIN
    )
    assert v20.json() == {"amphora": {"id": amp_id, "role": "STANDALONE"}}


def test_list_filters_by_load_balancer_project_and_columns(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = client_factory(settings_factory(database_url))
    lb_a = create_lb(client, headers=MEMBER)
    lb_b = create_lb(client, headers={"X-Project-Id": "project-b", "X-Roles": "member"})
    master = add_amphora(client, lb_a, role="MASTER")
    backup = add_amphora(client, lb_a, role="BACKUP")
    other = add_amphora(client, lb_b)
    spare = add_amphora(client, None, status="READY", role=None)

    def ids(**params: str) -> set[str]:
        body = client.get(AMPS, params=params, headers=ADMIN).json()
        return {amp["id"] for amp in body["amphorae"]}

    assert ids() == {master, backup, other, spare}
    assert ids(loadbalancer_id=lb_a) == {master, backup}
    assert ids(loadbalancer_id=str(uuid.uuid4())) == set()
    assert ids(project_id="project-b") == {other}
    assert ids(role="MASTER") == {master}
    assert ids(status="READY") == {spare}
    assert ids(id=backup) == {backup}
    # The CLI asks ?name= when an id is not found: Octavia refuses it the same way.
    for field in ("no_such_field", "name"):
        bad = client.get(AMPS, params={field: "x"}, headers=ADMIN)
        assert bad.status_code == 400
        assert bad.json()["faultstring"] == "One or more arguments are either duplicate or invalid"


def test_list_sorts_and_pages(client: TestClient) -> None:
    lb_id = create_lb(client, headers=MEMBER)
    for role in ("BACKUP", "MASTER", "STANDALONE"):
        add_amphora(client, lb_id, role=role)
    desc = client.get(AMPS, params={"sort": "role:desc"}, headers=ADMIN).json()["amphorae"]
    asc = client.get(AMPS, params={"sort": "role:asc"}, headers=ADMIN).json()["amphorae"]
    assert [a["role"] for a in desc] == ["STANDALONE", "MASTER", "BACKUP"]
    assert [a["id"] for a in asc] == [a["id"] for a in reversed(desc)]
    first = client.get(AMPS, params={"sort": "role", "limit": 2}, headers=ADMIN).json()
    assert len(first["amphorae"]) == 2
    assert [link["rel"] for link in first["amphorae_links"]] == ["next"]
    params = {"sort": "role", "limit": 2, "marker": first["amphorae"][1]["id"]}
    rest = client.get(AMPS, params=params, headers=ADMIN).json()
    assert [a["role"] for a in rest["amphorae"]] == ["STANDALONE"]
    assert [link["rel"] for link in rest["amphorae_links"]] == ["previous"]


def test_deleted_amphorae_are_hidden(client: TestClient) -> None:
    live = add_amphora(client, None)
    dead = add_amphora(client, None, status="DELETED")
    listed = client.get(AMPS, headers=ADMIN).json()["amphorae"]
    assert [a["id"] for a in listed] == [live]
    gone = client.get(f"{AMPS}/{dead}", headers=ADMIN)
    assert gone.status_code == 404
    assert gone.json()["faultstring"] == f"Amphora {dead} not found."
    assert client.get(f"{AMPS}/{uuid.uuid4()}", headers=ADMIN).status_code == 404


def test_stats_list_one_entry_per_listener(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = client_factory(settings_factory(database_url))
    lb_id = create_lb(client, headers=MEMBER)
    amp_id = add_amphora(client, lb_id)
    listeners = sorted(str(uuid.uuid4()) for _ in range(2))
    with db_of(client).writing() as session:
        for n, listener_id in enumerate(listeners, start=1):
            session.add(
                ListenerStatistics(
                    listener_id=listener_id,
                    amphora_id=amp_id,
                    bytes_in=100 * n,
                    bytes_out=1000 * n,
                    active_connections=n,
                    total_connections=10 * n,
                    request_errors=0,
                )
            )
    response = client.get(f"{AMPS}/{amp_id}/stats", headers=ADMIN)
    assert response.status_code == 200
    assert response.json() == {
        "amphora_stats": [
            {
                "id": amp_id,
                "listener_id": listener_id,
                "loadbalancer_id": lb_id,
                "active_connections": n,
                "bytes_in": 100 * n,
                "bytes_out": 1000 * n,
                "request_errors": 0,
                "total_connections": 10 * n,
            }
            for n, listener_id in enumerate(listeners, start=1)
        ]
    }


def test_stats_of_an_amphora_that_reported_nothing_are_404(client: TestClient) -> None:
    amp_id = add_amphora(client, None)
    response = client.get(f"{AMPS}/{amp_id}/stats", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["faultstring"] == f"Amphora stats for {amp_id} not found."
    assert client.get(f"{AMPS}/bogus_id/stats", headers=ADMIN).status_code == 404


def test_amphora_api_is_admin_only(client: TestClient) -> None:
    amp_id = add_amphora(client, None)
    for headers in (MEMBER, GLOBAL_OBSERVER):
        for path in (AMPS, f"{AMPS}/{amp_id}", f"{AMPS}/{amp_id}/stats"):
            response = client.get(path, headers=headers)
            assert response.status_code == 403, path
            assert response.json()["faultstring"] == (
                "Policy does not allow this request to be performed."
            )
