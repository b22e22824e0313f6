"""/healthcheck tells a front-end load balancer whether this API process can serve."""

from __future__ import annotations

from fastapi.testclient import TestClient

from portico.db.engine import Database, make_engine


def test_healthcheck_is_ok_while_the_database_answers(client: TestClient) -> None:
    response = client.get("/healthcheck")
    assert (response.status_code, response.text) == (200, "OK")
    assert client.head("/healthcheck").status_code == 200


def test_healthcheck_is_503_when_the_database_is_unreachable(client: TestClient) -> None:
    ctx = client.app.state.portico  # type: ignore[attr-defined]
    # Nothing listens on port 1 of the loopback: the connection is refused at once.
    ctx.db = Database(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/portico"))
    response = client.get("/healthcheck")
    assert (response.status_code, response.text) == (503, "Database unavailable")
