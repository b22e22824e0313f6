"""The local certificate store: PEM bundles an operator loads, which listeners and pools name.

Octavia keeps TLS material in Barbican and listeners carry Barbican container refs; portico
keeps it in its own table and hands out refs of its own (the certificate's URL, or any ref
the operator chose). A ref resolves by exact ``ref``, by a trailing ``/<id>`` or by the bare
id, so a ref copied from another deployment's URL still finds the row.

Material is checked with ``cryptography`` when it is loaded (certificate parses, key matches,
chain parses), so a bad upload answers 400 at once instead of failing a reload later. A CA
bundle or a CRL is a certificate row without a key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portico.db.models import Certificate, Listener, LoadBalancer, Pool
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.desired import CertificateBundle
from portico.domain.errors import Conflict, InvalidInput, NotFound
from portico.domain.policy import Access, Caller, require
from portico.services.listing import ListQuery, Page, apply_filters, run_listing
from portico.settings import Settings

LABEL = "Certificate"
COLUMNS = {n: n for n in ("id", "name", "project_id", "ref", "expires_at", "created_at")}
LISTENER_REF_FIELDS = (
    "default_tls_container_ref",
    "client_ca_tls_container_ref",
    "client_crl_container_ref",
)
POOL_REF_FIELDS = ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref")
# Providers whose amphorae need the material itself; others (noop) accept any string.
RESOLVING_PROVIDERS = frozenset({"amphora"})
CRL_MARKER = "-----BEGIN X509 CRL-----"


class CertificateRetrievalException(InvalidInput):
    """Octavia's answer when a listener or pool names TLS material it cannot read (400)."""

    def __init__(self, refs: list[str]) -> None:
        super().__init__(f"Could not retrieve certificate: {refs}")


@dataclass(frozen=True)
class CheckedBundle:
    """What validation learnt about an upload: when it stops being valid."""

    expires_at: dt.datetime | None


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _certificates(pem: str, what: str) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise InvalidInput(f"Could not read X509 from PEM ({what})") from exc
    return found


def _check_crl(pem: str, private_key: str | None) -> CheckedBundle:
    if private_key:
        raise InvalidInput("A certificate revocation list takes no private key")
    try:
        crl = x509.load_pem_x509_crl(pem.encode())
    except ValueError as exc:
        raise InvalidInput("Could not read the certificate revocation list from PEM") from exc
    after = crl.next_update_utc
    return CheckedBundle(expires_at=_naive_utc(after) if after else None)


def _spki(public_key: Any) -> bytes:
    return bytes(
        public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def check_bundle(
    certificate: str, *, private_key: str | None = None, intermediates: str | None = None
) -> CheckedBundle:
    """Parse and cross-check a PEM bundle; ``InvalidInput`` (400) on anything wrong."""
    if CRL_MARKER in certificate:
        return _check_crl(certificate, private_key)
    certs = _certificates(certificate, "certificate")
    if intermediates:
        _certificates(intermediates, "intermediates")
    if private_key:
        try:
            key = serialization.load_pem_private_key(private_key.encode(), password=None)
            matches = _spki(key.public_key()) == _spki(certs[0].public_key())
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InvalidInput("Could not read the private key from PEM (unencrypted)") from exc
        if not matches:
            raise InvalidInput("Key and x509 certificate do not match")
    # A CA bundle is as good as its first certificate to expire.
    return CheckedBundle(expires_at=min(_naive_utc(c.not_valid_after_utc) for c in certs))


def create_certificate(
    session: Session, caller: Caller, data: Mapping[str, Any], *, base_url: str
) -> Certificate:
    """Store a checked bundle; without ``ref`` its ref is ``<base_url>/<id>``."""
    require(caller, Access.ADMIN, None)
    checked = check_bundle(
        data["certificate"],
        private_key=data.get("private_key"),
        intermediates=data.get("intermediates"),
    )
    cert_id = str(uuid.uuid4())
    ref = data.get("ref") or f"{base_url.rstrip('/')}/{cert_id}"
    if session.scalar(select(Certificate.id).where(Certificate.ref == ref)) is not None:
        raise Conflict(f"A certificate with ref {ref} already exists")
    row = Certificate(
        id=cert_id,
        project_id=data.get("project_id"),
        name=data.get("name"),
        ref=ref,
        certificate=data["certificate"],
        private_key=data.get("private_key") or None,
        intermediates=data.get("intermediates") or None,
        expires_at=checked.expires_at,
    )
    session.add(row)
    session.flush()
    return row


def list_certificates(
    session: Session, caller: Caller, query: ListQuery, settings: Settings
) -> Page:
    require(caller, Access.ADMIN, None)
    stmt = apply_filters(select(Certificate), Certificate, query, filterable=COLUMNS)
    return run_listing(
        session, stmt, Certificate, query, sortable=COLUMNS, max_limit=settings.pagination_max_limit
    )


def get_certificate(session: Session, caller: Caller, cert_id: str) -> Certificate:
    require(caller, Access.ADMIN, None)
    row = session.get(Certificate, cert_id)
    if row is None:
        raise NotFound(LABEL, cert_id)
    return row


def delete_certificate(session: Session, caller: Caller, cert_id: str) -> None:
    """Remove a bundle no live listener or pool names (409 otherwise)."""
    row = get_certificate(session, caller, cert_id)
    users = _users(session, row)
    if users:
        raise Conflict(f"Certificate {row.id} is in use by {', '.join(users)}")
    session.delete(row)
    session.flush()


def _names(ref: str | None, row: Certificate) -> bool:
    return bool(ref) and (ref == row.ref or ref == row.id or str(ref).endswith(f"/{row.id}"))


def _users(session: Session, row: Certificate) -> list[str]:
    gone = (PS.PENDING_DELETE, PS.DELETED)
    users: list[str] = []
    for listener in session.scalars(
        select(Listener).where(Listener.provisioning_status.not_in(gone))
    ):
        refs = [getattr(listener, f) for f in LISTENER_REF_FIELDS]
        if any(_names(r, row) for r in [*refs, *(listener.sni_container_refs or [])]):
            users.append(f"listener {listener.id}")
    for pool in session.scalars(select(Pool).where(Pool.provisioning_status.not_in(gone))):
        if any(_names(getattr(pool, f), row) for f in POOL_REF_FIELDS):
            users.append(f"pool {pool.id}")
    return users


def _candidates(refs: Iterable[str]) -> set[str]:
    """Ids a ref may end with (``.../<id>`` or the bare id)."""
    return {ref.rstrip("/").rsplit("/", 1)[-1] for ref in refs}


def _match(session: Session, refs: set[str]) -> dict[str, Certificate]:
    rows = session.scalars(
        select(Certificate).where(
            or_(Certificate.ref.in_(refs), Certificate.id.in_(_candidates(refs)))
        )
    ).all()
    found: dict[str, Certificate] = {}
    for ref in refs:
        # An exact ref wins over an id match (a chosen ref may end in another row's id).
        row = next((r for r in rows if r.ref == ref), None) or next(
            (r for r in rows if _names(ref, r)), None
        )
        if row is not None:
            found[ref] = row
    return found


def resolve_certificates(session: Session, refs: set[str]) -> Mapping[str, CertificateBundle]:
    """TLS material for each ref that resolves (the others are simply absent)."""
    if not refs:
        return {}
    return {
        ref: CertificateBundle(
            ref=ref,
            certificate=row.certificate,
            private_key=row.private_key,
            intermediates=row.intermediates,
        )
        for ref, row in _match(session, refs).items()
    }


def _refs_in(values: Mapping[str, Any]) -> set[str]:
    refs = {values[f] for f in (*LISTENER_REF_FIELDS, *POOL_REF_FIELDS) if values.get(f)}
    refs.update(values.get("sni_container_refs") or ())
    return {str(r) for r in refs}


def check_container_refs(session: Session, lb: LoadBalancer, values: Mapping[str, Any]) -> None:
    """400 as Octavia answers when a listener's or pool's refs do not resolve.

    Only for providers that need the material; a bundle owned by a project serves only that
    project's load balancers (one without a project serves every project).
    """
    if lb.provider not in RESOLVING_PROVIDERS:
        return
    refs = _refs_in(values)
    if not refs:
        return
    rows = _match(session, refs)
    bad = [
        ref
        for ref in sorted(refs)
        if ref not in rows or rows[ref].project_id not in (None, lb.project_id)
    ]
    if bad:
        raise CertificateRetrievalException(bad)
