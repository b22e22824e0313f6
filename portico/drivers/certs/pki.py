"""The controller's local certificate authority for mutual TLS with amphora agents.

Made on first run in ``<data_dir>/pki``: a CA, the controller's client certificate, and one
server certificate per amphora whose subject and DNS name are the amphora id, so the
controller can check that it reached the amphora it meant to. Keys are ECDSA P-256 (fast to
make, which matters when amphorae are booted in under a second). Files are written with
mode 0600 and replaced atomically.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "portico amphora CA"
CONTROLLER_NAME = "portico-controller"


@dataclass(frozen=True)
class IssuedCertificate:
    """A PEM certificate and its private key, and when it stops being valid."""

    certificate_pem: bytes
    private_key_pem: bytes
    not_after: dt.datetime


@dataclass(frozen=True)
class ClientFiles:
    """Paths the controller's HTTPS client needs, and when its certificate expires."""

    ca_path: Path
    cert_path: Path
    key_path: Path
    not_after: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertificateAuthority:
    """Loads or creates the CA in ``directory``; issues server and client certificates."""

    def __init__(self, directory: Path, *, validity_days: float = 30.0) -> None:
        self.directory = directory
        self.validity = dt.timedelta(days=validity_days)
        self._lock = threading.RLock()
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._cert: x509.Certificate | None = None

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.pem"

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This thread alone, and this process alone among those sharing the directory.

        Several controllers share one data directory: started together, each would create
        its own CA, or write its own client key beside another's certificate. Under the lock
        the first creates and the rest load what it wrote.
        """
        with self._lock:
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.directory.parent / f"{self.directory.name}.lock"
            with lock_path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def ensure(self) -> None:
        """Create the CA on first use (idempotent, safe across threads and processes)."""
        if self._cert is not None:
            return
        with self._exclusive():
            if self._cert is not None:
                return
            key_path = self.directory / "ca.key"
            if key_path.exists() and self.ca_path.exists():
                key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                assert isinstance(key, ec.EllipticCurvePrivateKey)
                self._key = key
                self._cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
            now = _now()
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .sign(key, hashes.SHA256())
            )
            _write_private(key_path, _key_pem(key))
            self.ca_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            self._key, self._cert = key, cert

    @property
    def ca_pem(self) -> bytes:
        self.ensure()
        assert self._cert is not None
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self, name: str, *, server: bool, validity: dt.timedelta | None = None
    ) -> IssuedCertificate:
        """A certificate for ``name`` (an amphora id, or the controller) signed by the CA."""
        self.ensure()
        assert self._key is not None and self._cert is not None
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        # Certificates keep whole seconds; so does what we record of them.
        not_after = (now + (validity or self.validity)).replace(microsecond=0)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return IssuedCertificate(
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM),
            private_key_pem=_key_pem(key),
            not_after=not_after.replace(tzinfo=None),
        )

    def controller_client(self) -> ClientFiles:
        """The controller's client certificate, issued once and renewed when near expiry.

        Certificate and key are one file, replaced atomically, so a reader never sees a new
        certificate beside an old key.
        """
        self.ensure()
        path = self.directory / "controller.pem"
        with self._exclusive():
            if path.exists():
                cert = x509.load_pem_x509_certificate(path.read_bytes())
                if cert.not_valid_after_utc - _now() > self.validity / 3:
                    return self._client_files(path, cert.not_valid_after_utc)
            issued = self.issue(CONTROLLER_NAME, server=False)
            _write_private(path, issued.certificate_pem + issued.private_key_pem)
            return self._client_files(path, issued.not_after.replace(tzinfo=dt.UTC))

    def _client_files(self, path: Path, not_after: dt.datetime) -> ClientFiles:
        return ClientFiles(ca_path=self.ca_path, cert_path=path, key_path=path, not_after=not_after)

    def client_needs_renewal(self, files: ClientFiles) -> bool:
        """Whether a client built from ``files`` should be rebuilt with a renewed certificate."""
        return files.not_after - _now() <= self.validity / 3
