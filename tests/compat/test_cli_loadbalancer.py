"""``openstack loadbalancer …`` on load balancers, with no Keystone and one endpoint URL.

These are the commands a user types first; they exercise the Neutron-shaped subnet and network
lookups (``--vip-subnet-id local``) as much as the load-balancer API itself.
"""

from __future__ import annotations

import pytest

from tests.compat.conftest import (
    COMPAT,
    LOCAL_NETWORK,
    LOCAL_SUBNET,
    Osc,
    Plain,
    Server,
    api,
    get,
    unique,
    wait_lb_active,
)

pytestmark = COMPAT


def test_loadbalancer_create_show_list_set_unset_delete(osc: Osc, server: Server) -> None:
    name = unique("lb")
    lb = osc(
        "create",
        *("--name", name, "--description", "first", "--vip-subnet-id", "local"),
        *("--tag", "red", "--tag", "blue", "--wait"),
    )
    assert lb["provisioning_status"] == "ACTIVE"  # --wait re-reads it once ACTIVE
    assert lb["vip_subnet_id"] == LOCAL_SUBNET
    assert lb["vip_network_id"] == LOCAL_NETWORK
    assert lb["vip_address"].startswith("127.")
    assert lb["admin_state_up"] is True
    assert sorted(lb["tags"].split("\n") if isinstance(lb["tags"], str) else lb["tags"]) == [
        "blue",
        "red",
    ]

    shown, listed, by_tag = osc.many(
        ["show", name],
        ["list", "--name", name],
        ["list", "--tags", "red"],
    )
    assert shown["id"] == lb["id"]
    assert [row["id"] for row in listed] == [lb["id"]]
    assert lb["id"] in [row["id"] for row in by_tag]

    osc("set", "--name", name + "-x", "--description", "second", "--disable", lb["id"], json=False)
    osc("unset", "--description", "--tag", "red", lb["id"], json=False)
    after = get(server, f"/loadbalancers/{lb['id']}")["loadbalancer"]
    assert after["name"] == name + "-x"
    assert after["description"] in ("", None)
    assert after["admin_state_up"] is False
    assert after["tags"] in ("blue", ["blue"])

    osc("delete", "--wait", lb["id"], json=False)
    assert "Unable to locate" in osc.fails("show", lb["id"])


def test_loadbalancer_status_and_stats_show(osc: Osc, server: Server) -> None:
    lb = osc("create", "--name", unique("lb"), "--vip-subnet-id", LOCAL_SUBNET)
    wait_lb_active(server, lb["id"])
    status, stats = osc.many(Plain(f"status show {lb['id']}"), ["stats", "show", lb["id"]])
    tree = status["loadbalancer"]
    assert tree["id"] == lb["id"]
    assert tree["provisioning_status"] == "ACTIVE"
    assert tree["listeners"] == []
    assert stats == {
        "active_connections": 0,
        "bytes_in": 0,
        "bytes_out": 0,
        "request_errors": 0,
        "total_connections": 0,
    }
    osc("delete", lb["id"], json=False)


def test_vip_lookups_by_subnet_uuid_network_name_and_unknown(osc: Osc, server: Server) -> None:
    on_network = osc("create", "--name", unique("lb"), "--vip-network-id", "local")
    assert on_network["vip_network_id"] == LOCAL_NETWORK
    assert on_network["vip_subnet_id"] == LOCAL_SUBNET
    missing = osc.fails("create", "--name", unique("lb"), "--vip-subnet-id", "no-such-subnet")
    assert "Unable to locate no-such-subnet in subnets" in missing
    no_port = osc.fails("create", "--vip-port-id", "no-such-port")
    assert "Unable to locate no-such-port in ports" in no_port
    # Octavia's error body (faultstring) is what the CLI shows, with the HTTP code.
    outside = osc.fails("create", "--vip-subnet-id", "local", "--vip-address", "10.0.0.1")
    assert "is not in subnet" in outside
    assert "(HTTP 400)" in outside
    wait_lb_active(server, on_network["id"])
    osc("delete", on_network["id"], json=False)


def test_sdk_version_discovery_and_v2_root(server: Server) -> None:
    status, versions = api(server, "GET", "/")
    assert status == 200
    ids = [v["id"] for v in versions["versions"]]
    assert ids[0] == "v2.0"
    assert versions["versions"][-1]["status"] == "CURRENT"
    assert all(v["links"][0]["href"] == server.url + "/v2" for v in versions["versions"])
    assert api(server, "GET", "/v2") == (200, "v2")


@pytest.mark.parametrize("path", ["/v2/subnets?id=" + LOCAL_SUBNET, "/v2/subnets?name=local"])
def test_subnet_lookup_the_cli_sends(server: Server, path: str) -> None:
    status, body = api(server, "GET", path)
    assert status == 200
    assert [s["id"] for s in body["subnets"]] == [LOCAL_SUBNET]
