"""The controller's CA: client certificate renewal and the one-file certificate and key."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest

from portico.drivers.certs import pki
from portico.drivers.certs.pki import CertificateAuthority


def test_client_certificate_is_renewed_when_a_third_of_its_validity_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = CertificateAuthority(tmp_path / "pki", validity_days=30)
    first = ca.controller_client()
    assert not ca.client_needs_renewal(first)
    assert ca.controller_client().not_after == first.not_after  # kept while young

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=21)
    monkeypatch.setattr(pki, "_now", lambda: later)
    assert ca.client_needs_renewal(first)
    renewed = ca.controller_client()
    assert renewed.not_after > first.not_after
    assert not ca.client_needs_renewal(renewed)


def test_client_certificate_and_key_load_from_one_file(tmp_path: Path) -> None:
    files = CertificateAuthority(tmp_path / "pki").controller_client()
    assert files.cert_path == files.key_path
    assert files.cert_path.stat().st_mode & 0o777 == 0o600
    context = ssl.create_default_context(cafile=str(files.ca_path))
    context.load_cert_chain(str(files.cert_path), str(files.key_path))


def test_an_amphora_certificate_names_the_amphora(tmp_path: Path) -> None:
    from cryptography import x509

    issued = CertificateAuthority(tmp_path / "pki").issue("amphora-1", server=True)
    cert = x509.load_pem_x509_certificate(issued.certificate_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["amphora-1"]
