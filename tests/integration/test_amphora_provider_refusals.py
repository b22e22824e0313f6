"""Provider ``amphora`` refuses UDP and SCTP (listeners, pools, UDP-CONNECT and SCTP
monitors) at the API with a clear 400, until the issue that builds them; the noop provider
still accepts them. No reconciler runs, so no amphora boots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, create_lb

REFUSAL = "not supported by provider amphora yet"
Factory = Callable[..., TestClient]


@pytest.fixture
def amphora_api(settings_factory: Callable[..., Settings], client_factory: Factory) -> TestClient:
    return client_factory(
        settings_factory(default_provider_driver="amphora"), with_reconciler=False
    )


@pytest.fixture
def noop_api(settings_factory: Callable[..., Settings], client_factory: Factory) -> TestClient:
    return client_factory(settings_factory(default_provider_driver="noop"), with_reconciler=False)


def _post(client: TestClient, kind: str, body: dict[str, Any]) -> Any:
    return client.post(f"/v2/lbaas/{kind}s", json={kind: body})


def _refused(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert REFUSAL in response.json()["faultstring"]


def _listener(client: TestClient, lb_id: str, protocol: str, port: int) -> Any:
    body = {"loadbalancer_id": lb_id, "protocol": protocol, "protocol_port": port}
    return _post(client, "listener", body)


def _pool(client: TestClient, lb_id: str, protocol: str) -> Any:
    body = {"loadbalancer_id": lb_id, "protocol": protocol, "lb_algorithm": "ROUND_ROBIN"}
    return _post(client, "pool", body)


def _monitor(client: TestClient, pool_id: str, type_: str) -> Any:
    body = {"pool_id": pool_id, "type": type_, "delay": 5, "timeout": 3, "max_retries": 3}
    return _post(client, "healthmonitor", body)


@pytest.mark.parametrize("protocol", ["UDP", "SCTP"])
def test_amphora_refuses_datagram_listeners_and_pools(
    amphora_api: TestClient, protocol: str
) -> None:
    lb_id = create_lb(amphora_api)
    _refused(_listener(amphora_api, lb_id, protocol, 53))
    _refused(_pool(amphora_api, lb_id, protocol))
    listeners = amphora_api.get("/v2/lbaas/listeners").json()["listeners"]
    pools = amphora_api.get("/v2/lbaas/pools").json()["pools"]
    assert listeners == [] and pools == []
    assert _listener(amphora_api, lb_id, "TCP", 53).status_code == 201


@pytest.mark.parametrize("type_", ["UDP-CONNECT", "SCTP"])
def test_amphora_refuses_datagram_health_monitors(amphora_api: TestClient, type_: str) -> None:
    lb_id = create_lb(amphora_api)
    pool = _pool(amphora_api, lb_id, "TCP")
    assert pool.status_code == 201, pool.text
    _refused(_monitor(amphora_api, pool.json()["pool"]["id"], type_))
    assert _monitor(amphora_api, pool.json()["pool"]["id"], "TCP").status_code == 201


def test_amphora_refuses_a_full_graph_with_a_udp_pool(amphora_api: TestClient) -> None:
    body = {
        "vip_subnet_id": LOCAL_SUBNET,
        "listeners": [
            {
                "protocol": "TCP",
                "protocol_port": 80,
                "default_pool": {
                    "protocol": "TCP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "healthmonitor": {"type": "SCTP", "delay": 5, "timeout": 3, "max_retries": 3},
                },
            }
        ],
    }
    _refused(_post(amphora_api, "loadbalancer", body))
    body["listeners"] = [{"protocol": "UDP", "protocol_port": 53}]
    _refused(_post(amphora_api, "loadbalancer", body))
    assert amphora_api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []


def test_noop_provider_still_accepts_udp(noop_api: TestClient) -> None:
    lb_id = create_lb(noop_api)
    assert _listener(noop_api, lb_id, "UDP", 53).status_code == 201
    pool = _pool(noop_api, lb_id, "UDP")
    assert pool.status_code == 201, pool.text
    monitor = _monitor(noop_api, pool.json()["pool"]["id"], "UDP-CONNECT")
    assert monitor.status_code == 201, monitor.text
