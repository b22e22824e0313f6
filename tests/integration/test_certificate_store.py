"""The certificate store: operators load PEM bundles, listeners and pools name them by ref."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from portico.services.certificates import resolve_certificates
from portico.settings import Settings
from tests.conftest import create_lb
from tests.support.tls import TestCA

CERTS = "/v2/portico/certificates"
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin"}
MEMBER = {"X-Project-Id": "project-a", "X-Roles": "member"}


def load(client: TestClient, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return client.post(CERTS, json={"certificate": body}, headers=headers or ADMIN)


def test_load_show_list_never_return_the_key_and_ref_is_the_url(client: TestClient) -> None:
    ca = TestCA()
    leaf = ca.issue("www.example.test")
    created = load(
        client,
        certificate=leaf.certificate,
        private_key=leaf.private_key,
        intermediates=ca.pem,
        name="www",
    )
    assert created.status_code == 201, created.text
    cert = created.json()["certificate"]
    assert cert["ref"] == f"http://testserver{CERTS}/{cert['id']}"
    assert cert["has_private_key"] is True
    assert cert["expires_at"] == leaf.cert.not_valid_after_utc.replace(tzinfo=None).isoformat()
    shown = client.get(f"{CERTS}/{cert['id']}", headers=ADMIN)
    listed = client.get(CERTS, headers=ADMIN).json()
    for body in (created.text, shown.text, str(listed)):
        assert "PRIVATE KEY" not in body
    assert [c["id"] for c in listed["certificates"]] == [cert["id"]]
    assert "certificates_links" in listed


def test_certificate_store_is_admin_only_and_in_openapi(client: TestClient) -> None:
    ca = TestCA()
    assert load(client, MEMBER, certificate=ca.pem).status_code == 403
    assert client.get(CERTS, headers=MEMBER).status_code == 403
    paths = client.get("/openapi.json").json()["paths"]
    assert f"{CERTS}" in paths and f"{CERTS}/{{cert_id}}" in paths


def test_bad_pem_mismatched_key_and_bad_chain_answer_400_with_a_fault(client: TestClient) -> None:
    ca = TestCA()
    leaf, other = ca.issue("a.test"), ca.issue("b.test")
    cases = [
        {"certificate": "not a pem"},
        {"certificate": leaf.certificate, "private_key": other.private_key},
        {"certificate": leaf.certificate, "private_key": "-----BEGIN PRIVATE KEY-----\nxx\n"},
        {"certificate": leaf.certificate, "intermediates": "garbage"},
        {"certificate": ca.crl(), "private_key": leaf.private_key},
    ]
    for body in cases:
        response = load(client, **body)
        assert response.status_code == 400, body
        fault = response.json()
        assert fault["faultcode"] == "Client" and fault["faultstring"]
    mismatch = load(client, certificate=leaf.certificate, private_key=other.private_key)
    assert mismatch.json()["faultstring"] == "Key and x509 certificate do not match"


def test_ca_bundle_and_crl_load_without_a_key(client: TestClient) -> None:
    ca = TestCA()
    revoked = ca.issue("revoked", client=True)
    assert load(client, certificate=ca.pem, ref="ca-ref").status_code == 201
    crl = load(client, certificate=ca.crl(revoked.serial), ref="crl-ref")
    assert crl.status_code == 201, crl.text
    assert crl.json()["certificate"]["has_private_key"] is False
    assert load(client, certificate=ca.pem, ref="ca-ref").status_code == 409


def test_refs_resolve_by_ref_trailing_id_and_bare_id(client: TestClient) -> None:
    ca = TestCA()
    made = load(client, certificate=ca.pem, ref="barbican://container/one").json()["certificate"]
    db = client.app.state.portico.db  # type: ignore[attr-defined]
    refs = {
        "barbican://container/one",
        made["id"],
        f"https://elsewhere.example/containers/{made['id']}",
        "https://elsewhere.example/containers/unknown",
    }
    with db.reading() as session:
        found = resolve_certificates(session, refs)
    assert set(found) == refs - {"https://elsewhere.example/containers/unknown"}
    assert all(b.certificate == ca.pem and b.ref == r for r, b in found.items())


def _amphora_api(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> TestClient:
    # No reconciler: this checks the API's answers, no amphora needs to boot.
    settings = settings_factory(default_provider_driver="amphora")
    return client_factory(settings, with_reconciler=False)


def test_unresolvable_refs_are_refused_as_octavia_does_for_amphora_lbs(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    api = _amphora_api(client_factory, settings_factory)
    ca = TestCA()
    leaf = ca.issue("www.example.test")
    good = load(api, certificate=leaf.certificate, private_key=leaf.private_key).json()
    good_ref = good["certificate"]["ref"]
    lb_id = create_lb(api)
    listener = {
        "loadbalancer_id": lb_id,
        "protocol": "TERMINATED_HTTPS",
        "protocol_port": 443,
        "default_tls_container_ref": good_ref,
        "sni_container_refs": [good_ref, "missing-sni"],
    }
    refused = api.post("/v2/lbaas/listeners", json={"listener": listener})
    assert refused.status_code == 400
    assert refused.json()["faultstring"] == "Could not retrieve certificate: ['missing-sni']"
    pool = {
        "loadbalancer_id": lb_id,
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True,
        "ca_tls_container_ref": "no-such-ca",
    }
    refused = api.post("/v2/lbaas/pools", json={"pool": pool})
    assert refused.status_code == 400
    assert "no-such-ca" in refused.json()["faultstring"]
    listener["sni_container_refs"] = [good_ref]
    accepted = api.post("/v2/lbaas/listeners", json={"listener": listener})
    assert accepted.status_code == 201, accepted.text


def test_a_project_bundle_serves_only_that_project(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    api = _amphora_api(client_factory, settings_factory)
    ca = TestCA()
    theirs = load(api, certificate=ca.pem, project_id="project-b").json()["certificate"]
    lb_id = create_lb(api, headers=MEMBER)
    pool = {
        "loadbalancer_id": lb_id,
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True,
        "ca_tls_container_ref": theirs["ref"],
    }
    refused = api.post("/v2/lbaas/pools", json={"pool": pool}, headers=MEMBER)
    assert refused.status_code == 400


def test_noop_provider_keeps_accepting_any_ref(client: TestClient) -> None:
    lb_id = create_lb(client)
    listener = {
        "loadbalancer_id": lb_id,
        "protocol": "TERMINATED_HTTPS",
        "protocol_port": 443,
        "default_tls_container_ref": "anything-at-all",
    }
    assert client.post("/v2/lbaas/listeners", json={"listener": listener}).status_code == 201


def test_delete_is_refused_while_a_listener_names_the_bundle(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    api = _amphora_api(client_factory, settings_factory)
    ca = TestCA()
    leaf = ca.issue("www.example.test")
    cert = load(api, certificate=leaf.certificate, private_key=leaf.private_key).json()
    cert_id = cert["certificate"]["id"]
    lb_id = create_lb(api)
    listener = {
        "loadbalancer_id": lb_id,
        "protocol": "TERMINATED_HTTPS",
        "protocol_port": 443,
        # By bare id: the store must still see it as in use.
        "default_tls_container_ref": cert_id,
    }
    made = api.post("/v2/lbaas/listeners", json={"listener": listener})
    assert made.status_code == 201, made.text
    assert api.delete(f"{CERTS}/{cert_id}").status_code == 409
    unused = load(api, certificate=ca.pem).json()["certificate"]["id"]
    assert api.delete(f"{CERTS}/{unused}").status_code == 204
    assert api.get(f"{CERTS}/{unused}").status_code == 404
