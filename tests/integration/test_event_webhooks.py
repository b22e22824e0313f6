"""Events delivered to webhooks from the outbox, against a real HTTP receiver on 127.0.0.1:
once by the controller's housekeeping, retried after a 500, given up after the last attempt,
taken over from a controller that died mid-POST, and once each with two controllers racing
on one PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico import bootstrap
from portico.db.base import utcnow
from portico.db.engine import Database
from portico.drivers.webhooks import WebhookSender
from portico.services import event_outbox, events
from portico.services.event_delivery import DeliveryConfig, deliver_pass
from portico.services.events import EventKind
from portico.settings import Settings
from tests.conftest import wait_for
from tests.support.webhooks import Receiver, webhook_receiver

EVENTS = "/v2/portico/events"
QUICK = {
    "event_webhook_backoff": 0.05,
    "event_webhook_interval": 0.05,
    "event_webhook_max_attempts": 3,
    "event_webhook_timeout": 2.0,
}


def _record(db: Database, count: int = 1) -> None:
    with db.writing() as session:
        for i in range(count):
            events.record(session, EventKind.AMPHORA_STALE, f"silent {i}", amphora_id=None)


def _one_pass(db: Database, settings: Settings, owner: str) -> int:
    async def run() -> int:
        sender = WebhookSender(timeout=settings.event_webhook_timeout)
        try:
            return await deliver_pass(
                db, sender, DeliveryConfig.from_settings(settings), owner=owner
            )
        finally:
            await sender.aclose()

    return asyncio.run(run())


def _deliveries(client: TestClient, event_id: str) -> list[dict[str, Any]]:
    body = client.get(f"{EVENTS}/{event_id}").json()
    return list(body["event"]["deliveries"])


def _start(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    url: str,
    receiver: Receiver,
    *,
    with_reconciler: bool = False,
    **overrides: Any,
) -> tuple[TestClient, Settings]:
    settings = settings_factory(url, event_webhooks=[receiver.url], **{**QUICK, **overrides})
    client = client_factory(settings, with_reconciler=with_reconciler)
    return client, settings


def test_the_controller_delivers_each_event_once_with_its_id(
    database_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    with webhook_receiver(path="/hook?token=secret") as receiver:
        client, _ = _start(
            client_factory, settings_factory, database_url, receiver, with_reconciler=True
        )
        _record(client.app.state.portico.db)  # type: ignore[attr-defined]
        (event,) = client.get(EVENTS).json()["events"]
        wait_for(lambda: receiver.received)
        # Later passes of the running task send nothing more.
        wait_for(lambda: _deliveries(client, event["id"])[0]["state"] == "delivered")
        (got,) = receiver.received
    assert got.path == "/hook?token=secret"
    assert got.body == {"event": event}
    assert got.headers["X-Portico-Event-Id"] == event["id"]
    assert got.headers["X-Portico-Delivery-Attempt"] == "1"
    assert got.headers["Content-Type"] == "application/json"
    (delivery,) = _deliveries(client, event["id"])
    # The webhook's token is not shown back.
    assert delivery["webhook"] == receiver.url.split("?")[0]
    assert (delivery["attempts"], delivery["last_error"]) == (1, None)


def test_a_500_is_retried_after_the_backoff_and_then_delivered(
    database_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    with webhook_receiver(answers=[500]) as receiver:
        client, settings = _start(
            client_factory, settings_factory, database_url, receiver, event_webhook_backoff=0.3
        )
        db = client.app.state.portico.db  # type: ignore[attr-defined]
        _record(db)
        (event,) = client.get(EVENTS).json()["events"]

        def delivered() -> bool:
            _one_pass(db, settings, "controller-a")
            return bool(_deliveries(client, event["id"])[0]["state"] == "delivered")

        wait_for(delivered)
        first, second = receiver.received
    attempts = [item.headers["X-Portico-Delivery-Attempt"] for item in (first, second)]
    assert attempts == ["1", "2"]
    assert first.body == second.body == {"event": event}
    assert second.at - first.at >= 0.3
    (delivery,) = _deliveries(client, event["id"])
    assert (delivery["attempts"], delivery["last_error"]) == (2, "HTTP 500")


def test_a_delivery_is_given_up_after_the_last_attempt(
    database_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with webhook_receiver(answers=[500, 503, 500, 200]) as receiver:
        client, settings = _start(client_factory, settings_factory, database_url, receiver)
        db = client.app.state.portico.db  # type: ignore[attr-defined]
        _record(db)
        (event,) = client.get(EVENTS).json()["events"]

        def given_up() -> bool:
            _one_pass(db, settings, "controller-a")
            return bool(_deliveries(client, event["id"])[0]["state"] == "failed")

        with caplog.at_level(logging.ERROR, logger="portico.services.event_delivery"):
            wait_for(given_up)
        for _ in range(3):  # nothing is due any more, however long it waits
            assert _one_pass(db, settings, "controller-a") == 0
        assert len(receiver.received) == 3
    (delivery,) = _deliveries(client, event["id"])
    assert (delivery["attempts"], delivery["last_error"]) == (3, "HTTP 500")
    assert delivery["finished_at"] is not None
    assert any(
        event["id"] in r.getMessage() and "given up after 3 attempts" in r.getMessage()
        for r in caplog.records
    )


def test_a_controller_dead_mid_post_leaves_the_event_to_the_next(
    database_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    with webhook_receiver() as receiver:
        client, settings = _start(client_factory, settings_factory, database_url, receiver)
        db = client.app.state.portico.db  # type: ignore[attr-defined]
        _record(db)
        (event,) = client.get(EVENTS).json()["events"]
        # The first controller queued and leased it, then died before its POST answered.
        with db.writing() as session:
            event_outbox.enqueue(session, [receiver.url], limit=10)
        with db.writing() as session:
            (due,) = event_outbox.claim(
                session, owner="dead", lease_seconds=0.5, limit=10, now=utcnow()
            )
        assert _one_pass(db, settings, "controller-b") == 0  # leased: not before it expires
        wait_for(lambda: _one_pass(db, settings, "controller-b"))
        assert receiver.event_ids() == [event["id"]]
        # The dead controller's late outcome is not the one that counts.
        with db.writing() as session:
            late = event_outbox.record_outcome(
                session,
                due.delivery_id,
                owner="dead",
                error="HTTP 500",
                policy=DeliveryConfig.from_settings(settings).policy,
                now=utcnow(),
            )
        assert late is None
    assert _deliveries(client, event["id"])[0]["state"] == "delivered"


@pytest.mark.postgres
def test_two_controllers_racing_on_postgres_deliver_each_event_once(
    postgres_url: str, settings_factory: Callable[..., Settings]
) -> None:
    total = 40
    with webhook_receiver(delay=0.01) as receiver:
        settings = settings_factory(postgres_url, event_webhooks=[receiver.url], **QUICK)
        bootstrap.upgrade_database(settings)
        databases = [bootstrap.build_database(settings) for _ in range(2)]
        _record(databases[0], total)
        config = DeliveryConfig(
            targets=(receiver.url,),
            policy=DeliveryConfig.from_settings(settings).policy,
            lease_seconds=30.0,
            batch=5,
        )
        tried: dict[str, int] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def controller(name: str, db: Database) -> None:
            async def drain() -> int:
                sender = WebhookSender(timeout=2.0)
                count = 0
                try:
                    while len(receiver.received) < total:
                        count += await deliver_pass(db, sender, config, owner=name)
                finally:
                    await sender.aclose()
                return count

            try:
                start.wait(timeout=10)
                tried[name] = asyncio.run(asyncio.wait_for(drain(), timeout=60))
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=controller, args=(f"controller-{i}", db))
            for i, db in enumerate(databases)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        for db in databases:
            db.dispose()
        ids = receiver.event_ids()
    assert errors == []
    assert len(ids) == total and set(Counter(ids).values()) == {1}
    # Both took part: the race happened, and neither posted what the other had claimed.
    assert sorted(tried) == ["controller-0", "controller-1"]
    assert all(count > 0 for count in tried.values()) and sum(tried.values()) == total
