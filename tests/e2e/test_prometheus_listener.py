"""A tenant's PROMETHEUS listener (Octavia API v2.25): haproxy's own exporter on the VIP.

Created through the API on real amphorae (local driver), scraped over HTTP from 127.0.0.1
the way Prometheus does, it shows the counters of the load balancer's other listeners;
``allowed_cidrs`` keeps other clients out; an amphora whose haproxy has no exporter refuses
it with the reason, and nothing stays PENDING.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, wait_for, wait_lb_status
from tests.support.amphorae import get_through, reap_amphorae
from tests.support.backends import backends

REQUESTS = 7


def _lb_body(member: dict[str, Any], *extra: dict[str, Any]) -> dict[str, Any]:
    pool = {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [member]}
    http = {"name": "web", "protocol": "HTTP", "protocol_port": 8080, "default_pool": pool}
    return {"vip_subnet_id": LOCAL_SUBNET, "listeners": [http, *extra]}


def _create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    created = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert created.status_code == 201, created.text
    return dict(created.json()["loadbalancer"])


def _samples(text: str, name: str) -> dict[str, float]:
    """``name``'s samples by their ``proxy`` label."""
    return {
        sample.labels.get("proxy", ""): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_prometheus_listener_exports_the_other_listeners_metrics_to_allowed_clients(
    amphora_client: TestClient,
) -> None:
    with backends(1) as servers:
        member = {"address": servers[0].address, "protocol_port": servers[0].port}
        metrics = {
            "protocol": "PROMETHEUS",
            "protocol_port": 9100,
            "allowed_cidrs": ["127.0.0.0/8"],
        }
        closed = {
            "protocol": "PROMETHEUS",
            "protocol_port": 9101,
            "allowed_cidrs": ["192.0.2.0/24"],
        }
        lb = wait_lb_status(
            amphora_client, _create(amphora_client, _lb_body(member, metrics, closed))["id"]
        )
        vip = lb["vip_address"]
        listeners = amphora_client.get(f"/v2/lbaas/listeners?loadbalancer_id={lb['id']}").json()
        by_port = {item["protocol_port"]: item for item in listeners["listeners"]}
        assert by_port[9100]["protocol"] == "PROMETHEUS"
        assert by_port[9100]["provisioning_status"] == "ACTIVE"
        http_id = by_port[8080]["id"]

        for _ in range(REQUESTS):
            assert get_through(f"http://{vip}:8080/").status_code == 200

        scraped = get_through(f"http://{vip}:9100/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        requests = _samples(scraped.text, "haproxy_frontend_http_requests_total")
        assert requests[http_id] >= REQUESTS
        assert _samples(scraped.text, "haproxy_process_nbthread")  # the process's own, too
        assert get_through(f"http://{vip}:9100/other").status_code == 404

        # 127.0.0.1 is outside 192.0.2.0/24: the connection is refused at accept.
        with pytest.raises(httpx.TransportError):
            get_through(f"http://{vip}:9101/metrics", timeout=2.0)


@pytest.fixture
def no_exporter_client(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> Any:
    """Amphorae whose haproxy reports a build without the Prometheus exporter (a wrapper
    that hides it from ``haproxy -vv``, as an older image's build would)."""
    wrapper = tmp_path / "haproxy-without-exporter"
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-vv" ]; then /usr/sbin/haproxy -vv | sed "s/prometheus-exporter//g"; '
        "exit 0; fi\n"
        'exec /usr/sbin/haproxy "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    settings = settings_factory(
        default_provider_driver="amphora", compute_driver="local", haproxy_binary=str(wrapper)
    )
    try:
        yield client_factory(settings)
    finally:
        reap_amphorae(tmp_path)


def test_prometheus_listener_is_refused_with_the_reason_without_the_exporter(
    no_exporter_client: TestClient,
) -> None:
    client = no_exporter_client
    with backends(1) as servers:
        member = {"address": servers[0].address, "protocol_port": servers[0].port}
        lb = wait_lb_status(client, _create(client, _lb_body(member))["id"])
        amphorae = client.get("/v2/octavia/amphorae").json()["amphorae"]
        assert amphorae and all(a["status"] == "ALLOCATED" for a in amphorae)
        added = client.post(
            "/v2/lbaas/listeners",
            json={
                "listener": {
                    "loadbalancer_id": lb["id"],
                    "protocol": "PROMETHEUS",
                    "protocol_port": 9100,
                }
            },
        )
        assert added.status_code == 201, added.text
        wait_lb_status(client, lb["id"], "ERROR", timeout=30)
        listener = client.get(f"/v2/lbaas/listeners/{added.json()['listener']['id']}").json()
        assert listener["listener"]["provisioning_status"] == "ERROR"
        query = {"kind": "config_push_failed", "loadbalancer_id": lb["id"]}

        def refusal() -> list[dict[str, Any]]:
            return list(client.get("/v2/portico/events", params=query).json()["events"])

        (event,) = wait_for(refusal)
        assert "no Prometheus exporter" in event["detail"]
        # The amphora was never sent the refused configuration: the HTTP listener serves.
        assert get_through(f"http://{lb['vip_address']}:8080/").status_code == 200
        # Deleting the refused listener brings the load balancer back.
        gone = client.delete(f"/v2/lbaas/listeners/{added.json()['listener']['id']}")
        assert gone.status_code == 204, gone.text
        wait_lb_status(client, lb["id"], timeout=30)
        assert get_through(f"http://{lb['vip_address']}:8080/").status_code == 200
