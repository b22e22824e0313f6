"""The operators' event listing, /v2/portico/events, on SQLite and PostgreSQL: order, filters,
time windows, paging, admin only, refusals; and the reconciler's config_push_failed event."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.db.engine import Database
from portico.db.models import Event
from portico.domain.errors import PermanentError, TransientError
from portico.drivers.providers.base import ApplyResult, LoadBalancerSnapshot
from portico.reconciler.loop import Reconciler
from portico.services import reconcile
from portico.settings import Settings
from tests.conftest import create_lb

EVENTS = "/v2/portico/events"
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin"}
LB_ADMIN = {"X-Project-Id": "ops", "X-Roles": "load-balancer_admin"}
MEMBER = {"X-Project-Id": "project-a", "X-Roles": "member"}
OBSERVER = {"X-Project-Id": "project-a", "X-Roles": "load-balancer_global_observer"}
T0 = dt.datetime(2030, 1, 2, 3, 4, 5)
AMP_A, AMP_B = str(uuid.uuid4()), str(uuid.uuid4())
LB_A = str(uuid.uuid4())


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.portico.db  # type: ignore[attr-defined]
    return db


def _seed(client: TestClient) -> list[str]:
    """Five events a minute apart (oldest first); returns their ids newest first."""
    rows = [
        ("amphora_stale", "WARNING", AMP_A, LB_A),
        ("failover_started", "WARNING", AMP_A, LB_A),
        ("failover_finished", "INFO", AMP_A, LB_A),
        ("circuit_breaker_tripped", "CRITICAL", None, None),
        ("failover_stopped", "ERROR", AMP_B, None),
    ]
    ids = []
    with _db(client).writing() as session:
        for minute, (kind, severity, amphora, lb) in enumerate(rows):
            event_id = str(uuid.uuid4())
            ids.append(event_id)
            session.add(
                Event(
                    id=event_id,
                    created_at=T0 + dt.timedelta(minutes=minute),
                    kind=kind,
                    severity=severity,
                    amphora_id=amphora,
                    load_balancer_id=lb,
                    detail=f"{kind} detail",
                )
            )
    return ids[::-1]


@pytest.fixture
def events_client(
    database_url: str,
    settings_factory: Callable[..., Settings],
    client_factory: Callable[..., TestClient],
) -> TestClient:
    return client_factory(settings_factory(database_url), with_reconciler=False)


def _ids(client: TestClient, query: str = "", headers: dict[str, str] = ADMIN) -> list[str]:
    response = client.get(f"{EVENTS}{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()["events"]]


def test_events_are_listed_newest_first_in_the_documented_shape(events_client: TestClient) -> None:
    newest_first = _seed(events_client)
    assert _ids(events_client) == newest_first
    assert _ids(events_client, "?sort=created_at:asc") == newest_first[::-1]
    first = events_client.get(EVENTS, headers=ADMIN).json()["events"][-1]
    assert first == {
        "id": newest_first[-1],
        "kind": "amphora_stale",
        "severity": "WARNING",
        "created_at": "2030-01-02T03:04:05.000000",
        "amphora_id": AMP_A,
        "loadbalancer_id": LB_A,
        "detail": "amphora_stale detail",
    }


def test_events_filter_by_kind_severity_amphora_and_load_balancer(
    events_client: TestClient,
) -> None:
    stopped, _tripped, finished, started, stale = _seed(events_client)
    assert _ids(events_client, "?kind=failover_started") == [started]
    assert _ids(events_client, "?severity=WARNING") == [started, stale]
    assert _ids(events_client, f"?amphora_id={AMP_B}") == [stopped]
    by_lb = [finished, started, stale]
    assert _ids(events_client, f"?loadbalancer_id={LB_A}") == by_lb
    assert _ids(events_client, f"?load_balancer_id={LB_A}") == by_lb
    assert _ids(events_client, f"?amphora_id={AMP_A}&severity=INFO") == [finished]
    assert _ids(events_client, "?kind=config_push_failed") == []


def test_events_in_a_time_window_since_inclusive_until_exclusive(
    events_client: TestClient,
) -> None:
    stopped, tripped, finished, started, _stale = _seed(events_client)
    assert _ids(events_client, "?since=2030-01-02T03:05:05") == [
        stopped,
        tripped,
        finished,
        started,
    ]
    assert _ids(events_client, "?until=2030-01-02T03:05:05") == [_stale]
    window = "?since=2030-01-02T03:05:05&until=2030-01-02T03:07:05"
    assert _ids(events_client, window) == [finished, started]
    # With a zone: 05:06:05+02:00 is 03:06:05 UTC; Z is UTC.
    assert _ids(events_client, "?since=2030-01-02T05:06:05%2B02:00") == [stopped, tripped, finished]
    assert _ids(events_client, "?since=2030-01-02T03:08:05Z") == [stopped]


def test_events_page_with_markers_and_fields(events_client: TestClient) -> None:
    newest_first = _seed(events_client)
    seen: list[str] = []
    url: str | None = f"{EVENTS}?limit=2"
    while url is not None:
        body = events_client.get(url, headers=ADMIN).json()
        seen += [event["id"] for event in body["events"]]
        nxt = [link["href"] for link in body["events_links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert seen == newest_first
    back = events_client.get(
        f"{EVENTS}?limit=2&marker={newest_first[2]}&page_reverse=True", headers=ADMIN
    ).json()
    assert [event["id"] for event in back["events"]] == newest_first[:2]
    some = events_client.get(f"{EVENTS}?limit=1&fields=id&fields=kind", headers=ADMIN).json()
    assert some["events"] == [{"id": newest_first[0], "kind": "failover_stopped"}]


def test_events_are_admin_only_and_in_openapi(events_client: TestClient) -> None:
    event_id = _seed(events_client)[0]
    for headers in (MEMBER, OBSERVER):
        assert events_client.get(EVENTS, headers=headers).status_code == 403
        denied = events_client.get(f"{EVENTS}/{event_id}", headers=headers)
        assert denied.status_code == 403
        assert denied.json()["faultcode"] == "Client"
    assert len(_ids(events_client, headers=LB_ADMIN)) == 5
    paths = events_client.get("/openapi.json").json()["paths"]
    assert EVENTS in paths and f"{EVENTS}/{{event_id}}" in paths


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        "until=2030-13-01T00:00:00",
        "since=2030-01-03&until=2030-01-02",
        "kind=amphora_exploded",
        "severity=LOUD",
        "detail=x",
        "limit=many",
        "marker=not-a-uuid",
        "sort=detail:asc",
        "sort=created_at:sideways",
    ],
)
def test_bad_event_queries_answer_400_with_a_fault(events_client: TestClient, query: str) -> None:
    _seed(events_client)
    response = events_client.get(f"{EVENTS}?{query}", headers=ADMIN)
    assert response.status_code == 400, response.text
    fault = response.json()
    assert fault["faultcode"] == "Client" and fault["faultstring"]


def test_show_event_and_404_for_an_unknown_one(events_client: TestClient) -> None:
    newest = _seed(events_client)[0]
    shown = events_client.get(f"{EVENTS}/{newest}", headers=ADMIN)
    assert shown.status_code == 200
    event = shown.json()["event"]
    assert (event["id"], event["kind"], event["deliveries"]) == (newest, "failover_stopped", [])
    missing = str(uuid.uuid4())
    response = events_client.get(f"{EVENTS}/{missing}", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["faultstring"] == f"Event {missing} not found."


class FailingProvider:
    """A provider whose every apply fails with the exception it was given."""

    name = "noop"
    description = "test double"

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def apply(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        raise self.error

    async def delete(self, snapshot: LoadBalancerSnapshot) -> None:
        raise self.error

    def unsupported(self, feature: str) -> bool:
        return False


def _converge_with(client: TestClient, provider: Any) -> None:
    ctx = client.app.state.portico  # type: ignore[attr-defined]
    asyncio.run(Reconciler(ctx.db, {"noop": provider}, ctx.settings).run_until_idle())


def _lb_status(client: TestClient, lb_id: str) -> str:
    body = client.get(f"/v2/lbaas/loadbalancers/{lb_id}", headers=ADMIN).json()
    return str(body["loadbalancer"]["provisioning_status"])


def test_a_load_balancer_given_up_on_records_config_push_failed(
    events_client: TestClient,
) -> None:
    retried = create_lb(events_client)
    _converge_with(events_client, FailingProvider(TransientError("agent unreachable")))
    # A failure that will be retried is no event yet.
    assert _lb_status(events_client, retried) == "PENDING_CREATE"
    assert _ids(events_client, "?kind=config_push_failed") == []

    failed = create_lb(events_client)
    _converge_with(events_client, FailingProvider(PermanentError("image not found")))
    assert _lb_status(events_client, failed) == "ERROR"
    body = events_client.get(f"{EVENTS}?loadbalancer_id={failed}", headers=ADMIN).json()
    (event,) = body["events"]
    assert (event["kind"], event["severity"]) == ("config_push_failed", "ERROR")
    assert "image not found" in event["detail"]


def test_retries_running_out_record_config_push_failed_with_the_error(
    events_client: TestClient,
) -> None:
    lb_id = create_lb(events_client)
    db = _db(events_client)
    with db.writing() as session:
        (claimed,) = reconcile.claim(session, owner="w", lease_seconds=30, limit=1)
    with db.writing() as session:
        reconcile.record_failure(
            session,
            claimed,
            owner="w",
            generation=1,
            reason="agent unreachable",
            permanent=False,
            max_retries=0,
        )
    assert _lb_status(events_client, lb_id) == "ERROR"
    (event,) = events_client.get(f"{EVENTS}?kind=config_push_failed", headers=ADMIN).json()[
        "events"
    ]
    assert event["loadbalancer_id"] == lb_id and "agent unreachable" in event["detail"]
