"""Rotates amphora agent certificates before they expire, without touching traffic.

An agent whose certificate expires can no longer be reached by the controller (the TLS
handshake fails), so it could no longer be configured or healed. Each pass finds the
amphorae whose certificate ends within ``threshold`` (a third of the validity by default),
issues a new one from the controller's CA and uploads it (``PUT /1.0/certificate``): the
agent uses it for new handshakes at once, and haproxy is not involved at all.

Two controllers may rotate the same amphora at once; both certificates are valid and the
last upload wins, so no lock is taken (a lock left by a dead controller would stop rotation
and let the certificate expire, which is worse).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from portico.db.base import utcnow
from portico.db.engine import Database
from portico.domain.errors import PermanentError, TransientError
from portico.drivers.agent_client import AgentClient
from portico.drivers.certs.pki import CertificateAuthority
from portico.services import amphora_records as records
from portico.services import events
from portico.services.amphora_records import AmphoraRecord
from portico.services.events import EventKind
from portico.settings import Settings
from portico.wire.agent_api import CertificateUpdate

LOG = logging.getLogger(__name__)


def default_threshold(ca: CertificateAuthority) -> dt.timedelta:
    return ca.validity / 3


async def rotate_due_certificates(
    db: Database,
    ca: CertificateAuthority,
    client: AgentClient,
    *,
    now: dt.datetime,
    threshold: dt.timedelta,
) -> list[str]:
    """Rotate every certificate that expires before ``now + threshold``; returns the ids.

    ``now`` is naive UTC, as the database stores it. One amphora that cannot be reached
    does not stop the others; it is tried again on the next pass.
    """

    def due() -> list[AmphoraRecord]:
        with db.reading() as session:
            return records.certificates_due(session, before=now + threshold)

    rotated: list[str] = []
    for amphora in await asyncio.to_thread(due):
        expiring = f"agent certificate expires {amphora.cert_expiration:%Y-%m-%dT%H:%M:%SZ}"
        try:
            expires = await _rotate(db, ca, client, amphora)
        except (TransientError, PermanentError) as exc:
            LOG.warning("%s certificate rotation failed: %s", amphora.id, exc)
            await asyncio.to_thread(_expiring, db, amphora, f"{expiring}; rotation failed: {exc}")
            continue
        await asyncio.to_thread(
            _expiring, db, amphora, f"{expiring}; rotated, expires {expires:%Y-%m-%dT%H:%M:%SZ}"
        )
        rotated.append(amphora.id)
    return rotated


def _expiring(db: Database, amphora: AmphoraRecord, detail: str) -> None:
    """The event of a certificate found within the threshold, with what came of rotating it
    (one per amphora and pass: one that cannot be rotated raises it again next pass)."""
    with db.writing() as session:
        events.record(
            session,
            EventKind.CERTIFICATE_EXPIRING,
            detail,
            amphora_id=amphora.id,
            load_balancer_id=amphora.load_balancer_id,
        )


async def _rotate(
    db: Database, ca: CertificateAuthority, client: AgentClient, amphora: AmphoraRecord
) -> dt.datetime:
    """Issue and upload a new certificate; returns its expiry."""
    assert amphora.agent_endpoint is not None
    issued = await asyncio.to_thread(ca.issue, amphora.id, server=True)
    update = CertificateUpdate(
        certificate=issued.certificate_pem.decode(), private_key=issued.private_key_pem.decode()
    )
    await client.rotate_certificate(amphora.agent_endpoint, amphora.id, update)

    def record() -> None:
        with db.writing() as session:
            records.record_certificate(session, amphora.id, expiration=issued.not_after)

    await asyncio.to_thread(record)
    LOG.info("%s agent certificate rotated; expires %s", amphora.id, issued.not_after)
    return issued.not_after


async def run_rotation(settings: Settings, db: Database) -> None:
    """Rotate due certificates every ``cert_rotation_interval`` seconds until cancelled.

    Cancelling mid-pass is safe: an upload that did not finish is redone next time. The
    agent client is made afresh for each pass that has work, so it always presents the
    controller's current client certificate (which the CA renews near its own expiry), and
    a deployment without amphorae never creates a PKI.
    """
    ca = CertificateAuthority(
        settings.data_dir / "pki", validity_days=settings.amphora_cert_validity_days
    )
    while True:
        try:
            await rotation_pass(db, ca)
        except Exception:
            LOG.exception("certificate rotation pass failed; retrying next interval")
        await asyncio.sleep(settings.cert_rotation_interval)


async def rotation_pass(db: Database, ca: CertificateAuthority) -> list[str]:
    """One pass at the current time with the default threshold; returns the rotated ids."""
    threshold = default_threshold(ca)

    def any_due() -> bool:
        with db.reading() as session:
            return bool(records.certificates_due(session, before=utcnow() + threshold))

    if not await asyncio.to_thread(any_due):
        return []
    client = AgentClient(await asyncio.to_thread(ca.controller_client))
    try:
        return await rotate_due_certificates(db, ca, client, now=utcnow(), threshold=threshold)
    finally:
        await client.aclose()
