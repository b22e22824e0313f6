"""A throwaway certificate authority for TLS tests: server, client and CA certificates, CRLs.

Tests make their own PEM material (nothing from the controller's PKI), so a TLS test shows
that the certificates a user loads are the ones haproxy serves. Also a TLS HTTP backend on
loopback for re-encryption and passthrough tests.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class Issued:
    """A leaf certificate (PEM), its key (PEM) and its serial number."""

    certificate: str
    private_key: str
    serial: int
    cert: x509.Certificate


class TestCA:
    """A CA that signs server and client certificates and revocation lists."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "portico test CA", *, intermediate_of: TestCA | None = None):
        self.key = ec.generate_private_key(ec.SECP256R1())
        issuer_key = intermediate_of.key if intermediate_of else self.key
        issuer = intermediate_of.cert.subject if intermediate_of else _name(name)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(issuer)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(issuer_key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, common_name: str, *, client: bool = False, dns: tuple[str, ...] = ()) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        names = [x509.DNSName(n) for n in (dns or (common_name,))]
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(
            certificate=cert.public_bytes(serialization.Encoding.PEM).decode(),
            private_key=_key_pem(key),
            serial=cert.serial_number,
            cert=cert,
        )

    def crl(self, *revoked: int) -> str:
        """A CRL (PEM) revoking the given serial numbers."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(_now() - dt.timedelta(minutes=5))
            .next_update(_now() + dt.timedelta(days=7))
        )
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(_now() - dt.timedelta(minutes=1))
                .build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.PEM).decode()


@contextmanager
def pem_files(*contents: str) -> Iterator[list[Path]]:
    """PEM strings written to temporary files (``ssl`` loads chains from files only)."""
    with tempfile.TemporaryDirectory(prefix="portico-tls-") as tmp:
        paths = []
        for index, content in enumerate(contents):
            path = Path(tmp) / f"{index}.pem"
            path.write_text(content)
            paths.append(path)
        yield paths


def peer_certificate(
    context: ssl.SSLContext, host: str, port: int, server_name: str
) -> x509.Certificate:
    """The certificate a TLS server presents for ``server_name`` (SNI)."""
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


@dataclass
class TlsBackend:
    """An HTTPS backend on loopback that answers its name."""

    name: str
    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _handler(name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def tls_backend(name: str, issued: Issued) -> Iterator[TlsBackend]:
    """An HTTPS server on 127.0.0.1 (a free port) serving ``issued``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pem_files(issued.certificate, issued.private_key) as (cert, key):
        context.load_cert_chain(str(cert), str(key))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(name))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name=f"tls-{name}", daemon=True)
    thread.start()
    backend = TlsBackend(name=name, server=server, thread=thread)
    try:
        yield backend
    finally:
        backend.stop()
