"""Bodies and view of the certificate store (a portico extension, not in Octavia's API).

The view never carries the private key: once loaded, a key leaves only towards amphorae.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

from portico.api.schemas.common import ContainerRef, Envelope, Strict, Text255, timestamp
from portico.db.models import Certificate


def no_nul(value: str) -> str:
    # PEM is text with newlines; a NUL would parse (trailing bytes are ignored) and then be
    # refused by PostgreSQL's text type with a 500.
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


# Room for a long chain; the body guard bounds the request as a whole.
Pem = Annotated[str, StringConstraints(min_length=1, max_length=1_000_000), AfterValidator(no_nul)]


class CertificateCreate(Strict):
    certificate: Pem
    private_key: Pem | None = None
    intermediates: Pem | None = None
    name: Text255 | None = None
    project_id: Text255 | None = None
    ref: ContainerRef | None = None


class CertificateCreateBody(Envelope):
    certificate: CertificateCreate


def certificate_view(row: Certificate) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name or "",
        "project_id": row.project_id,
        "ref": row.ref,
        "certificate": row.certificate,
        "intermediates": row.intermediates,
        "has_private_key": row.private_key is not None,
        "expires_at": timestamp(row.expires_at),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }
