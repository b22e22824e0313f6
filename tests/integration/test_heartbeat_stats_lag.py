"""The health service writes listener counters every ``COUNTERS_SECONDS``, not every batch:
the load balancer's /stats must still show what the amphora reported within ``STATS_LAG``.

Real UDP to the app's own health service (SQLite); the test plays the amphora, heartbeating
every 0.2 s so it is never failed over.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.db.engine import Database
from portico.db.models import Amphora
from portico.health.receiver import COUNTERS_SECONDS, STATS_LAG
from portico.services.heartbeats import load_secret
from portico.settings import Settings
from portico.wire.heartbeat import Heartbeat, ListenerReport, derive_key, encode
from tests.conftest import LOCAL_SUBNET, wait_for, wait_lb_status

# On top of STATS_LAG: the flush runs in a thread of a shared, loaded machine.
SCHEDULING = 1.5


class HeartbeatingAmphora:
    """Sends this amphora's heartbeats; each call one more, with the counters given."""

    def __init__(self, client: TestClient, amphora_id: str, listener_id: str) -> None:
        settings: Settings = client.app.state.portico.settings  # type: ignore[attr-defined]
        self._address = ("127.0.0.1", settings.health_bind_port)
        self._id = amphora_id
        self._listener = listener_id
        self._key = derive_key(load_secret(settings), uuid.UUID(amphora_id))
        self._sequence = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sent_at = 0.0

    def beat(self, connections: int) -> None:
        self._sequence += 1
        report = ListenerReport(status="OPEN", total_connections=connections)
        heartbeat = Heartbeat(amphora_id=self._id, generation=0, listeners={self._listener: report})
        for datagram in encode(heartbeat, key=self._key, sequence=self._sequence):
            self._socket.sendto(datagram, self._address)
        self.sent_at = time.monotonic()

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def amphora(client: TestClient) -> Iterator[tuple[HeartbeatingAmphora, str]]:
    listener = {"protocol": "HTTP", "protocol_port": 80}
    body = {"vip_subnet_id": LOCAL_SUBNET, "listeners": [listener]}
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert created.status_code == 201, created.text
    lb = wait_lb_status(client, created.json()["loadbalancer"]["id"])
    amphora_id = str(uuid.uuid4())
    db: Database = client.app.state.portico.db  # type: ignore[attr-defined]
    with db.writing() as session:
        session.add(Amphora(id=amphora_id, load_balancer_id=lb["id"], status="ALLOCATED"))
    sender = HeartbeatingAmphora(client, amphora_id, lb["listeners"][0]["id"])
    try:
        yield sender, lb["id"]
    finally:
        sender.close()


def _connections(client: TestClient, lb_id: str) -> Any:
    stats = client.get(f"/v2/lbaas/loadbalancers/{lb_id}/stats").json()["stats"]
    return stats["total_connections"]


def test_stats_show_the_reported_counters_within_the_stated_lag(
    client: TestClient, amphora: tuple[HeartbeatingAmphora, str]
) -> None:
    sender, lb_id = amphora
    # A counter row the health service does not hold yet is written with the first batch.
    wait_for(lambda: sender.beat(5) or _connections(client, lb_id) == 5, interval=0.2)

    first_sent = time.monotonic()
    wait_for(
        lambda: sender.beat(9) or _connections(client, lb_id) == 9,
        timeout=STATS_LAG + SCHEDULING,
        interval=0.2,
    )
    assert time.monotonic() - first_sent <= STATS_LAG + SCHEDULING
    # And it keeps counting: a restarted haproxy's counters add up, within the same bound.
    wait_for(
        lambda: sender.beat(2) or _connections(client, lb_id) == 11,
        timeout=STATS_LAG + SCHEDULING,
        interval=0.2,
    )
    assert COUNTERS_SECONDS < STATS_LAG
