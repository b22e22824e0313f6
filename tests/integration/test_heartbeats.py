"""Real amphorae send signed heartbeats; the health service records them and nothing else."""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from portico.db.health_models import AmphoraHealth
from portico.db.models import Amphora, LoadBalancer
from portico.health.receiver import HeartbeatReceiver
from portico.services.heartbeats import load_secret
from portico.settings import Settings
from portico.wire.heartbeat import Heartbeat, derive_key, encode
from tests.conftest import create_lb, wait_for, wait_lb_status


def _rows(settings: Settings, lb_id: str) -> tuple[Any, int]:
    engine = create_engine(settings.effective_database_url)
    try:
        with engine.connect() as conn:
            amphora = conn.execute(
                select(
                    Amphora.id,
                    AmphoraHealth.last_heartbeat_at,
                    AmphoraHealth.sequence.label("heartbeat_sequence"),
                    AmphoraHealth.generation.label("heartbeat_generation"),
                )
                .outerjoin(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
                .where(Amphora.load_balancer_id == lb_id)
            ).one()
            generation = conn.execute(
                select(LoadBalancer.generation).where(LoadBalancer.id == lb_id)
            ).scalar_one()
    finally:
        engine.dispose()
    return amphora, int(generation)


def _send(settings: Settings, datagram: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(datagram, ("127.0.0.1", settings.health_bind_port))


def test_amphora_heartbeats_advance_and_report_the_applied_generation(
    amphora_client: TestClient, amphora_settings: Settings
) -> None:
    lb_id = create_lb(amphora_client)
    wait_lb_status(amphora_client, lb_id)

    def reported() -> Any:
        amphora, generation = _rows(amphora_settings, lb_id)
        ok = amphora.last_heartbeat_at is not None and amphora.heartbeat_generation == generation
        return amphora if ok else None

    first = wait_for(reported, timeout=15.0)
    later = wait_for(
        lambda: (row := reported()) and row.heartbeat_sequence > first.heartbeat_sequence and row,
        timeout=10.0,
    )
    assert later.last_heartbeat_at >= first.last_heartbeat_at


def test_forged_replayed_and_garbage_datagrams_are_counted_and_change_nothing(
    amphora_client: TestClient, amphora_settings: Settings
) -> None:
    receiver = amphora_client.app.state.heartbeats  # type: ignore[attr-defined]
    assert isinstance(receiver, HeartbeatReceiver)
    lb_id = create_lb(amphora_client)
    wait_lb_status(amphora_client, lb_id)

    def current() -> Any:
        # A heartbeat sent before the push still reports the previous generation.
        row, generation = _rows(amphora_settings, lb_id)
        return row if row.last_heartbeat_at and row.heartbeat_generation == generation else None

    amphora = wait_for(current, timeout=15.0)
    amphora_id = uuid.UUID(amphora.id)
    secret = load_secret(amphora_settings)
    lie = Heartbeat(amphora_id=amphora.id, generation=999)
    future = time.time_ns() + 10**15  # far ahead: would win over the agent's own if accepted

    forged = encode(lie, key=derive_key(b"not the secret", amphora_id), sequence=future)[0]
    stale = encode(lie, key=derive_key(secret, amphora_id), sequence=1)[0]
    # A stranger amphora (no row) with a valid key: accepted once, then its copy is a replay.
    stranger = uuid.uuid4()
    copied = encode(
        Heartbeat(amphora_id=str(stranger), generation=1),
        key=derive_key(secret, stranger),
        sequence=5,
    )[0]
    before = dict(receiver.rejected)
    for datagram in (forged, stale, copied, copied, b"garbage" * 10, b"\x01" + b"\0" * 70):
        _send(amphora_settings, datagram)

    def counted(reason: str, n: int) -> bool:
        return receiver.rejected[reason] - before.get(reason, 0) >= n

    wait_for(lambda: counted("signature", 2) and counted("replay", 2) and counted("version", 1))
    assert receiver.latest[stranger.bytes].sequence == 5
    # The real amphora's record still comes from the agent alone.
    assert receiver.latest[amphora_id.bytes].generation != 999
    row, generation = _rows(amphora_settings, lb_id)
    assert row.heartbeat_generation == generation
    assert row.heartbeat_sequence < future
