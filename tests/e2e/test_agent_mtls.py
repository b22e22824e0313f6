"""Mutual TLS between controller and agents, and agent certificate rotation under traffic.

The agent must refuse clients without a certificate from the controller's CA; the
controller must refuse an agent whose certificate names another amphora; and certificates
are replaced before they expire while traffic through the VIP sees no failure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from portico.domain.errors import PermanentError
from portico.drivers.agent_client import AgentClient
from portico.drivers.certs.pki import CertificateAuthority
from portico.services import amphora_records as records
from portico.settings import Settings
from tests.conftest import wait_for
from tests.support.amphorae import reap_amphorae
from tests.support.backends import backends
from tests.support.dataplane import build_lb, http_listener
from tests.support.tls import TestCA, pem_files


def the_amphora(client: TestClient, lb_id: str) -> records.AmphoraRecord:
    db = client.app.state.portico.db  # type: ignore[attr-defined]
    with db.reading() as session:
        (amphora,) = records.for_load_balancer(session, lb_id)
    assert amphora.agent_endpoint is not None
    return amphora


def agent_context(ca_pem: Path, client_cert: tuple[str, str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_pem))
    if client_cert is not None:
        with pem_files(*client_cert) as (cert, key):
            context.load_cert_chain(str(cert), str(key))
    return context


def agent_get(
    context: ssl.SSLContext, endpoint: str, amphora_id: str
) -> tuple[str, x509.Certificate]:
    """``GET /`` on the agent: the status line and the certificate the agent served."""
    host, port = endpoint.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=amphora_id) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {amphora_id}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    return data.decode().split("\r\n", 1)[0], x509.load_der_x509_certificate(der)


def refused(context: ssl.SSLContext, endpoint: str, amphora_id: str) -> bool:
    try:
        status, _ = agent_get(context, endpoint, amphora_id)
    except (ssl.SSLError, ConnectionError):
        return True
    # TLS 1.3: the server may refuse after the client finished its side; nothing comes back.
    return status == ""


def portico_client_cert(data_dir: Path) -> tuple[str, str]:
    """A client certificate from the controller's own CA, as a controller would present."""
    issued = CertificateAuthority(data_dir / "pki").issue(
        "test-controller", server=False, validity=dt.timedelta(minutes=10)
    )
    return issued.certificate_pem.decode(), issued.private_key_pem.decode()


def test_agent_refuses_clients_without_a_certificate_from_the_controller_ca(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(1) as servers:
        lb = build_lb(amphora_client, [http_listener(8080, servers)])
        amphora = the_amphora(amphora_client, lb["id"])
        endpoint = str(amphora.agent_endpoint)
        ca_pem = tmp_path / "pki" / "ca.pem"
        stranger = TestCA("another CA").issue("intruder", client=True)
        assert refused(agent_context(ca_pem, None), endpoint, amphora.id)
        stranger_pair = (stranger.certificate, stranger.private_key)
        assert refused(agent_context(ca_pem, stranger_pair), endpoint, amphora.id)
        ours = agent_context(ca_pem, portico_client_cert(tmp_path))
        status, cert = agent_get(ours, endpoint, amphora.id)
        assert status == "HTTP/1.1 200 OK"
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == [amphora.id]


def test_controller_refuses_an_agent_that_is_not_the_amphora_it_meant(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(1) as servers:
        lb = build_lb(amphora_client, [http_listener(8080, servers)])
        amphora = the_amphora(amphora_client, lb["id"])
        files = CertificateAuthority(tmp_path / "pki").controller_client()

        async def call(amphora_id: str) -> list[str]:
            client = AgentClient(files)
            try:
                return await client.versions(str(amphora.agent_endpoint), amphora_id)
            finally:
                await client.aclose()

        assert asyncio.run(call(amphora.id))
        with pytest.raises(PermanentError, match="certificate"):
            asyncio.run(call("6a1c0e0e-0000-4000-8000-000000000000"))


class TrafficLoop:
    """Requests through the VIP on a background thread, bounded in count and time."""

    def __init__(self, url: str, *, max_requests: int = 20_000, max_seconds: float = 60.0):
        self.url, self.max_requests, self.max_seconds = url, max_requests, max_seconds
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=5) as http:
            while not self._stop.is_set() and time.monotonic() < deadline:
                if self.ok + len(self.failures) >= self.max_requests:
                    return
                try:
                    response = http.get(self.url)
                    if response.status_code == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                time.sleep(0.005)  # pacing a load bounded by max_requests and its deadline

    def __enter__(self) -> TrafficLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def rotating_client(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> Iterator[TestClient]:
    """Real amphorae whose agent certificates last about 9 s, checked every 0.2 s."""
    settings = settings_factory(
        default_provider_driver="amphora",
        compute_driver="local",
        amphora_cert_validity_days=0.0001,
        cert_rotation_interval=0.2,
    )
    try:
        yield client_factory(settings)
    finally:
        reap_amphorae(tmp_path)


def test_agent_certificate_is_rotated_before_expiry_without_failed_requests(
    rotating_client: TestClient, tmp_path: Path
) -> None:
    with backends(2) as servers:
        lb = build_lb(rotating_client, [http_listener(8080, servers)])
        amphora = the_amphora(rotating_client, lb["id"])
        endpoint = str(amphora.agent_endpoint)
        ca_pem = tmp_path / "pki" / "ca.pem"
        context = agent_context(ca_pem, portico_client_cert(tmp_path))
        _, first = agent_get(context, endpoint, amphora.id)
        assert amphora.cert_expiration is not None
        with TrafficLoop(f"http://{lb['vip_address']}:8080/") as traffic:

            def rotated() -> x509.Certificate | None:
                _, served = agent_get(context, endpoint, amphora.id)
                return served if served.serial_number != first.serial_number else None

            second = wait_for(rotated, timeout=30, interval=0.2)
            wait_for(lambda: traffic.ok >= 50, timeout=10)
        assert traffic.failures == []
        assert second.not_valid_after_utc > first.not_valid_after_utc
        now = the_amphora(rotating_client, lb["id"])
        assert now.cert_expiration is not None
        assert now.cert_expiration > amphora.cert_expiration
        names = second.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == [amphora.id]
        # Every certificate found within the threshold is an event, with what came of it.
        query = {"kind": "certificate_expiring", "amphora_id": amphora.id}
        expiring = rotating_client.get("/v2/portico/events", params=query).json()["events"]
        assert expiring and expiring[-1]["loadbalancer_id"] == lb["id"]
        assert all("; rotated, expires " in event["detail"] for event in expiring)
