"""TLS through real haproxy: SNI, client authentication (CA and CRL), re-encryption, passthrough.

All certificates are made by the test and loaded through the certificate store, so these
show that what an operator loads is what haproxy serves.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from tests.conftest import LOCAL_SUBNET, wait_lb_status
from tests.support.backends import backends
from tests.support.tls import Issued, TestCA, pem_files, tls_backend

CERTS = "/v2/portico/certificates"


def store(client: TestClient, certificate: str, private_key: str | None = None) -> str:
    body = {"certificate": certificate, "private_key": private_key}
    response = client.post(CERTS, json={"certificate": body})
    assert response.status_code == 201, response.text
    return str(response.json()["certificate"]["ref"])


def store_pair(client: TestClient, issued: Issued) -> str:
    return store(client, issued.certificate, issued.private_key)


def create(client: TestClient, listeners: list[dict[str, Any]]) -> dict[str, Any]:
    body = {"vip_subnet_id": LOCAL_SUBNET, "listeners": listeners}
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert created.status_code == 201, created.text
    return wait_lb_status(client, created.json()["loadbalancer"]["id"], timeout=30)


def http_pool(servers: list[Any]) -> dict[str, Any]:
    return {
        "name": "web",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": s.address, "protocol_port": s.port} for s in servers],
    }


def client_context(ca: TestCA, *, check_hostname: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca.pem)
    context.check_hostname = check_hostname
    return context


def https_get(
    context: ssl.SSLContext, address: str, port: int, server_name: str
) -> tuple[x509.Certificate, str]:
    """One HTTPS request with SNI ``server_name``: the served certificate and the body."""
    with (
        socket.create_connection((address, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    return x509.load_der_x509_certificate(der), body


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def refused(context: ssl.SSLContext, address: str, port: int, server_name: str) -> bool:
    """Whether the listener refuses this client (at the handshake or at the first read)."""
    try:
        https_get(context, address, port, server_name)
    except (ssl.SSLError, ConnectionError, AssertionError):
        return True
    return False


def test_each_sni_hostname_gets_its_own_certificate(amphora_client: TestClient) -> None:
    ca = TestCA()
    default, first, second = (ca.issue(n) for n in ("default.test", "a.test", "b.test"))
    refs = [store_pair(amphora_client, issued) for issued in (default, first, second)]
    with backends(2) as servers:
        listener = {
            "protocol": "TERMINATED_HTTPS",
            "protocol_port": 8443,
            "default_tls_container_ref": refs[0],
            "sni_container_refs": refs[1:],
            "default_pool": http_pool(servers),
        }
        lb = create(amphora_client, [listener])
        vip = lb["vip_address"]
        context = client_context(ca)
        for name in ("a.test", "b.test", "default.test"):
            cert, body = https_get(context, vip, 8443, name)
            assert common_name(cert) == name
            assert body in {"b0", "b1"}
        unknown = client_context(ca, check_hostname=False)
        cert, _ = https_get(unknown, vip, 8443, "unknown.test")
        assert common_name(cert) == "default.test"
        assert sum(s.hits for s in servers) == 4


def test_mandatory_client_authentication_with_ca_and_crl(amphora_client: TestClient) -> None:
    ca, stranger_ca = TestCA(), TestCA("another CA")
    server = ca.issue("secure.test")
    good = ca.issue("good client", client=True)
    revoked = ca.issue("revoked client", client=True)
    stranger = stranger_ca.issue("stranger", client=True)
    with backends(1) as servers:
        listener = {
            "protocol": "TERMINATED_HTTPS",
            "protocol_port": 9443,
            "default_tls_container_ref": store_pair(amphora_client, server),
            "client_authentication": "MANDATORY",
            "client_ca_tls_container_ref": store(amphora_client, ca.pem),
            "client_crl_container_ref": store(amphora_client, ca.crl(revoked.serial)),
            "default_pool": http_pool(servers),
        }
        vip = create(amphora_client, [listener])["vip_address"]
        anonymous = client_context(ca)
        assert refused(anonymous, vip, 9443, "secure.test")
        for issued, expect_refused in ((good, False), (revoked, True), (stranger, True)):
            context = client_context(ca)
            with pem_files(issued.certificate, issued.private_key) as (cert, key):
                context.load_cert_chain(str(cert), str(key))
            assert refused(context, vip, 9443, "secure.test") is expect_refused
        assert servers[0].hits == 1


def test_backend_reencryption_and_https_passthrough(amphora_client: TestClient) -> None:
    ca = TestCA()
    with tls_backend("tls-backend", ca.issue("backend.test")) as backend:
        member = {"address": "127.0.0.1", "protocol_port": backend.port}
        reencrypt = {
            "protocol": "HTTP",
            "protocol_port": 8080,
            "default_pool": {
                "name": "reencrypt",
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "tls_enabled": True,
                "ca_tls_container_ref": store(amphora_client, ca.pem),
                "members": [member],
            },
        }
        passthrough = {
            "protocol": "HTTPS",
            "protocol_port": 8444,
            "default_pool": {
                "name": "passthrough",
                "protocol": "HTTPS",
                "lb_algorithm": "ROUND_ROBIN",
                "members": [member],
            },
        }
        vip = create(amphora_client, [reencrypt, passthrough])["vip_address"]
        with socket.create_connection((vip, 8080), timeout=5) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := plain.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"tls-backend"), data
        # Passthrough: the client sees the backend's own certificate, end to end.
        cert, body = https_get(client_context(ca), vip, 8444, "backend.test")
        assert common_name(cert) == "backend.test" and body == "tls-backend"
