"""An agent certificate found close to expiry is an event, also when it cannot be rotated
(the agent does not answer): the event says so, and the expiry stays as it was."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy import select

from portico.db import migrate
from portico.db.base import utcnow
from portico.db.engine import Database, make_engine
from portico.db.models import Amphora, Event
from portico.drivers.certs.pki import CertificateAuthority
from portico.orchestrator.cert_rotation import rotation_pass
from tests.support.processes import free_port


def test_an_unreachable_amphora_s_expiring_certificate_is_an_event(
    database_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    db = Database(make_engine(database_url))
    expires = (utcnow() + dt.timedelta(minutes=5)).replace(microsecond=0)
    amphora_id, lb_id = str(uuid.uuid4()), str(uuid.uuid4())
    with db.writing() as session:
        session.add(
            Amphora(
                id=amphora_id,
                load_balancer_id=lb_id,
                status="ALLOCATED",
                # Nothing listens there: the upload fails as it would to a dead agent.
                agent_endpoint=f"127.0.0.1:{free_port()}",
                cert_expiration=expires,
                capabilities=[],
                network_legs={},
            )
        )
    ca = CertificateAuthority(tmp_path / "pki", validity_days=30)

    assert asyncio.run(rotation_pass(db, ca)) == []

    with db.reading() as session:
        (event,) = session.scalars(select(Event).where(Event.kind == "certificate_expiring"))
        assert (event.amphora_id, event.load_balancer_id) == (amphora_id, lb_id)
        assert event.detail.startswith(f"agent certificate expires {expires:%Y-%m-%dT%H:%M:%S}Z")
        assert "; rotation failed: " in event.detail
        row = session.get(Amphora, amphora_id)
        assert row is not None and row.cert_expiration == expires
    db.dispose()
