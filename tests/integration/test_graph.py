"""Full-graph load balancer create (one call builds listeners, pools, members, monitors and
L7 policies) and the /status tree, as a user sees them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import LOCAL_SUBNET, wait_lb_active

LBS = "/v2/lbaas/loadbalancers"


def graph_body(**fields: Any) -> dict[str, Any]:
    return {"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, "name": "g", **fields}}


FULL = graph_body(
    listeners=[
        {
            "name": "web",
            "protocol": "HTTP",
            "protocol_port": 80,
            "default_pool": {
                "name": "app",
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "members": [
                    {"address": "127.64.0.10", "protocol_port": 8080},
                    {"address": "127.64.0.11", "protocol_port": 8080, "weight": 5},
                ],
                "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2},
            },
            "l7policies": [
                {
                    "action": "REDIRECT_TO_POOL",
                    "redirect_pool": {"name": "static"},
                    "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/s"}],
                }
            ],
        },
        {"protocol": "TCP", "protocol_port": 8443, "default_pool": {"name": "tcp"}},
    ],
    pools=[
        {"name": "static", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS"},
        {"name": "tcp", "protocol": "TCP", "lb_algorithm": "SOURCE_IP"},
    ],
)


def fault(response: Any) -> str:
    return str(response.json()["faultstring"])


def test_full_graph_create_answers_the_expanded_tree_and_converges(
    database_url: str,
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
) -> None:
    client = client_factory(settings_factory(database_url))
    response = client.post(LBS, json=FULL)
    assert response.status_code == 201, response.text
    lb = response.json()["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    pools = {p["name"]: p for p in lb["pools"]}
    assert set(pools) == {"app", "static", "tcp"}
    assert len(pools["app"]["members"]) == 2
    assert pools["app"]["members"][1]["weight"] == 5
    assert pools["app"]["healthmonitor"]["type"] == "HTTP"
    assert "healthmonitor" not in pools["static"]
    web, tcp = lb["listeners"]
    assert web["default_pool_id"] == pools["app"]["id"]
    assert tcp["default_pool_id"] == pools["tcp"]["id"]
    (policy,) = web["l7policies"]
    assert policy["redirect_pool_id"] == pools["static"]["id"]
    assert policy["rules"][0]["value"] == "/s"
    wait_lb_active(client, lb["id"])

    statuses = client.get(f"{LBS}/{lb['id']}/status").json()["statuses"]
    tree = statuses["loadbalancer"]
    assert (tree["id"], tree["name"], tree["provisioning_status"]) == (lb["id"], "g", "ACTIVE")
    web_status = next(li for li in tree["listeners"] if li["id"] == web["id"])
    assert web_status["provisioning_status"] == "ACTIVE"
    assert [p["id"] for p in web_status["pools"]] == [pools["app"]["id"], pools["static"]["id"]]
    app = web_status["pools"][0]
    assert {m["address"] for m in app["members"]} == {"127.64.0.10", "127.64.0.11"}
    assert all(m["provisioning_status"] == "ACTIVE" for m in app["members"])
    assert app["health_monitor"]["type"] == "HTTP"
    assert "health_monitor" not in web_status["pools"][1]

    shown = client.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]
    assert {li["id"] for li in shown["listeners"]} == {web["id"], tcp["id"]}


def test_status_of_a_bare_load_balancer_has_no_listeners(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    # No reconciler: the status must not change between the create and the read.
    client = client_factory(settings_factory(), with_reconciler=False)
    lb = client.post(LBS, json=graph_body()).json()["loadbalancer"]
    assert "listeners" in lb and lb["listeners"] == []
    statuses = client.get(f"{LBS}/{lb['id']}/status").json()
    assert statuses == {
        "statuses": {
            "loadbalancer": {
                "id": lb["id"],
                "name": "g",
                "provisioning_status": "PENDING_CREATE",
                "operating_status": "OFFLINE",
                "listeners": [],
            }
        }
    }


def test_pools_alone_in_a_graph(client: TestClient) -> None:
    body = graph_body(pools=[{"name": "p", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}])
    response = client.post(LBS, json=body)
    assert response.status_code == 201, response.text
    (pool,) = response.json()["loadbalancer"]["pools"]
    assert pool["members"] == [] and pool["listeners"] == []


def bad_graph(client: TestClient, **fields: Any) -> Any:
    before = client.get(LBS).json()["loadbalancers"]
    response = client.post(LBS, json=graph_body(**fields))
    # A refused graph leaves nothing behind.
    assert client.get(LBS).json()["loadbalancers"] == before
    assert client.get("/v2/lbaas/pools").json()["pools"] == []
    assert client.get("/v2/lbaas/listeners").json()["listeners"] == []
    return response


HTTP80 = {"protocol": "HTTP", "protocol_port": 80}
POOL = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}


def test_graph_pool_references_must_resolve(client: TestClient) -> None:
    response = bad_graph(client, listeners=[{**HTTP80, "default_pool": {"name": "nope"}}])
    assert response.status_code == 400
    assert fault(response) == (
        "Validation failure: Pool 'nope' was referenced but no full definition was found."
    )
    response = bad_graph(client, listeners=[{**HTTP80, "default_pool": POOL}])
    assert response.status_code == 400
    assert "Pools must be named" in fault(response)
    response = bad_graph(client, pools=[{"name": "a", **POOL}, {"name": "a", **POOL}])
    assert response.status_code == 400
    assert "Pool names must be unique" in fault(response)
    response = bad_graph(client, pools=[{"name": "a", "protocol": "HTTP"}])
    assert response.status_code == 400
    assert fault(response) == (
        "Validation failure: Pool definition for 'a' missing required attribute: lb_algorithm"
    )


def test_graph_applies_the_single_create_rules(client: TestClient) -> None:
    tcp_pool = {"name": "t", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}
    response = bad_graph(client, listeners=[{**HTTP80, "default_pool": tcp_pool}])
    assert response.status_code == 400
    assert "The pool protocol 'TCP' is invalid" in fault(response)
    response = bad_graph(client, listeners=[HTTP80, {**HTTP80, "protocol": "TCP"}])
    assert response.status_code == 409
    response = bad_graph(
        client,
        listeners=[
            {
                **HTTP80,
                "default_pool": {
                    "name": "p",
                    **POOL,
                    "members": [
                        {"address": "127.64.0.9", "protocol_port": 80},
                        {"address": "127.64.0.9", "protocol_port": 80},
                    ],
                },
            }
        ],
    )
    assert response.status_code == 409
    response = bad_graph(
        client,
        listeners=[
            {"protocol": "PROMETHEUS", "protocol_port": 9100, "l7policies": [{"action": "REJECT"}]}
        ],
    )
    assert response.status_code == 400
    assert fault(response) == "Protocol PROMETHEUS listeners cannot have child objects."
    response = bad_graph(client, listeners=[{**HTTP80, "bogus": True}])
    assert response.status_code == 400


def test_graph_counts_against_quotas(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client = client_factory(settings_factory(default_quota_listener=1, default_quota_pool=1))
    response = bad_graph(client, listeners=[HTTP80, {**HTTP80, "protocol_port": 81}])
    assert response.status_code == 403
    assert fault(response) == "Quota has been met for resources: Listener"
    response = bad_graph(client, pools=[{"name": "a", **POOL}, {"name": "b", **POOL}])
    assert response.status_code == 403
    assert fault(response) == "Quota has been met for resources: Pool"
