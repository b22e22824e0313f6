"""``GET /metrics``: what Prometheus scrapes from the API process, and who may scrape it.

Each test reads the exposition the way Prometheus does (``text_string_to_metric_families``)
and checks it against what the test did: requests sent, rows inserted, datagrams sent.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from portico.db.engine import Database
from portico.health.receiver import HeartbeatReceiver
from portico.services import events
from portico.services.events import EventKind
from portico.services.heartbeats import load_secret
from portico.settings import Settings
from portico.wire.heartbeat import Heartbeat, derive_key, encode
from tests.conftest import converge, create_lb, wait_for, wait_lb_active
from tests.integration.test_amphorae import add_amphora
from tests.support.keystone_stub import SERVICE_PASSWORD, SERVICE_USER, KeystoneStub

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# The TestClient's own client address is the name "testclient", which no network holds.
LOOPBACK = ("127.0.0.1", 50000)


def get_metrics(client: TestClient, address: tuple[str, int] = LOOPBACK) -> TestClient:
    """A client of the same app (lifespan already running) that connects from ``address``."""
    return TestClient(client.app, client=address)


def scrape(client: TestClient) -> Samples:
    response = get_metrics(client).get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def db_of(client: TestClient) -> Database:
    db: Database = client.app.state.portico.db  # type: ignore[attr-defined]
    return db


LATENCY = "portico_api_request_duration_seconds_count"


def test_request_latency_is_labelled_by_route_template_not_path(client: TestClient) -> None:
    lb_id = create_lb(client)
    for _ in range(2):
        assert client.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 200
    assert client.get(f"/v2.0/lbaas/loadbalancers/{uuid.uuid4()}").status_code == 404
    for path in ("/nowhere/1", "/nowhere/2"):
        assert client.get(path).status_code == 404

    samples = scrape(client)
    show = "/v2/lbaas/loadbalancers/{lb_id}"
    assert value(samples, LATENCY, route=show, method="GET", status="200") == 2
    assert value(samples, LATENCY, route="/v2/lbaas/loadbalancers", method="POST", status="201")
    assert (
        value(
            samples, LATENCY, route="/v2.0/lbaas/loadbalancers/{lb_id}", method="GET", status="404"
        )
        == 1
    )
    # Paths no route matched share one series, whatever they were.
    assert value(samples, LATENCY, route="<unmatched>", method="GET", status="404") == 2
    routes = {dict(labels).get("route", "") for _, labels in samples}
    assert not any(lb_id in route or "nowhere" in route for route in routes)


def test_amphorae_by_status_and_ready_spares_are_counted_from_the_database(
    client: TestClient,
) -> None:
    lb_id = create_lb(client)
    for status in ("READY", "READY", "BOOTING", "ERROR", "DELETED"):
        add_amphora(client, None, status=status)
    add_amphora(client, lb_id, status="ALLOCATED")
    add_amphora(client, lb_id, status="READY")  # given to a load balancer: not a spare

    samples = scrape(client)
    counted = {s: value(samples, "portico_amphorae", status=s) for s in ("READY", "ALLOCATED")}
    assert counted == {"READY": 3, "ALLOCATED": 1}
    assert value(samples, "portico_amphorae", status="BOOTING") == 1
    assert value(samples, "portico_amphorae", status="FAILOVER_STOPPED") == 0
    assert value(samples, "portico_amphorae", status="DELETED") is None
    assert value(samples, "portico_amphora_spares_ready") == 2
    assert value(samples, "portico_database_up") == 1


def test_reconcile_queue_depth_counts_load_balancers_not_yet_applied(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    api_only = client_factory(settings_factory(), with_reconciler=False)
    for _ in range(2):
        create_lb(api_only)
    samples = scrape(api_only)
    assert value(samples, "portico_reconcile_pending_load_balancers") == 2
    # No reconciler (nor health service) in this process: nothing of theirs is reported.
    assert not {"portico_reconcile_in_flight", "portico_heartbeats_accepted_total"} & names(samples)
    converge(api_only)
    assert value(scrape(api_only), "portico_reconcile_pending_load_balancers") == 0


def test_reconcile_durations_and_in_flight_from_the_in_process_reconciler(
    client: TestClient,
) -> None:
    wait_lb_active(client, create_lb(client))
    samples = scrape(client)
    success = value(samples, "portico_reconcile_duration_seconds_count", outcome="success")
    assert success is not None and success >= 1
    assert value(samples, "portico_reconcile_in_flight") is not None


def test_failovers_are_counted_by_event_kind(client: TestClient) -> None:
    with db_of(client).writing() as session:
        for kind in (EventKind.FAILOVER_STARTED, EventKind.FAILOVER_STARTED):
            events.record(session, kind, "test", amphora_id=str(uuid.uuid4()))
        events.record(session, EventKind.FAILOVER_FINISHED, "test")

    samples = scrape(client)
    assert value(samples, "portico_events_total", kind="failover_started") == 2
    assert value(samples, "portico_events_total", kind="failover_finished") == 1
    assert value(samples, "portico_events_total", kind="circuit_breaker_tripped") == 0


def test_heartbeats_accepted_and_rejected_by_reason(client: TestClient) -> None:
    receiver = client.app.state.heartbeats  # type: ignore[attr-defined]
    assert isinstance(receiver, HeartbeatReceiver)
    settings: Settings = client.app.state.portico.settings  # type: ignore[attr-defined]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:

        def send(datagram: bytes) -> None:
            sock.sendto(datagram, ("127.0.0.1", settings.health_bind_port))

        # The health service starts with the app; until it listens, datagrams are lost.
        wait_for(lambda: send(b"x") or receiver.rejected["short"] > 0)
        amphora = uuid.uuid4()
        beat = Heartbeat(amphora_id=str(amphora), generation=1)
        signed = encode(beat, key=derive_key(load_secret(settings), amphora), sequence=7)[0]
        forged = encode(beat, key=derive_key(b"not the secret", amphora), sequence=8)[0]
        for datagram in (signed, signed, forged):
            send(datagram)
        wait_for(lambda: receiver.accepted == 1 and receiver.rejected["signature"] == 1)

    samples = scrape(client)
    assert value(samples, "portico_heartbeats_accepted_total") == 1
    assert value(samples, "portico_heartbeats_rejected_total", reason="replay") == 1
    assert value(samples, "portico_heartbeats_rejected_total", reason="signature") == 1
    short = value(samples, "portico_heartbeats_rejected_total", reason="short")
    assert short == receiver.rejected["short"]


def test_clients_outside_the_allowed_networks_get_403(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    default = client_factory(settings_factory())
    for address in (("10.1.2.3", 1234), ("testclient", 50000)):
        response = get_metrics(default, address).get("/metrics")
        assert response.status_code == 403
        assert response.json()["faultcode"] == "Client"
        assert address[0] in response.json()["faultstring"]
    assert get_metrics(default, ("::1", 1234)).get("/metrics").status_code == 200

    scrapers = client_factory(settings_factory(metrics_allowed_cidrs=["10.0.0.0/8"]))
    assert get_metrics(scrapers, ("10.1.2.3", 1234)).get("/metrics").status_code == 200
    assert get_metrics(scrapers).get("/metrics").status_code == 403


def test_disabled_metrics_are_not_found(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(metrics_enabled=False))
    response = get_metrics(client).get("/metrics")
    assert response.status_code == 404
    assert response.json()["faultstring"] == "The resource could not be found."


def test_metrics_need_no_token_under_keystone(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    stub = KeystoneStub().start()
    try:
        settings = settings_factory(
            auth_strategy="keystone",
            keystone_auth_url=f"{stub.url}/v3",
            keystone_service_username=SERVICE_USER,
            keystone_service_password=SERVICE_PASSWORD,
        )
        client = client_factory(settings)
        assert get_metrics(client).get("/v2/lbaas/loadbalancers").status_code == 401
        assert get_metrics(client).get("/metrics").status_code == 200
    finally:
        stub.stop()


def test_metrics_are_not_in_the_octavia_openapi_document(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
