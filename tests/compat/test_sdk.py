"""openstacksdk (what Terraform-like tools and scripts use) against ``portico serve``: connect
without Keystone, create a whole graph in one call, batch-update members, cascade-delete.

The cascade delete goes through the CLI (``loadbalancer delete --cascade --wait``) on the graph
the SDK built, so both clients see the same objects.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import (
    COMPAT,
    LOCAL_SUBNET,
    Osc,
    Server,
    api,
    cli,
    unique,
)
from tests.conftest import wait_for

# The SDK warns about its own future removals on every call; they are not ours to fix.
pytestmark = [*COMPAT, pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]


def _graph(name: str) -> dict[str, Any]:
    pool = {
        "name": f"{name}-pool",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [
            {"address": "127.0.0.21", "protocol_port": 8080, "subnet_id": LOCAL_SUBNET},
            {"address": "127.0.0.22", "protocol_port": 8080, "weight": 5},
        ],
        "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2},
    }
    return {
        "name": name,
        "vip_subnet_id": LOCAL_SUBNET,
        "listeners": [
            {
                "name": f"{name}-http",
                "protocol": "HTTP",
                "protocol_port": 80,
                "default_pool": pool,
                "l7policies": [
                    {
                        "action": "REDIRECT_TO_URL",
                        "redirect_url": "https://example.test/",
                        "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/old"}],
                    }
                ],
            }
        ],
    }


def test_sdk_full_graph_create_batch_members_then_cli_cascade_delete(
    sdk: Any, osc: Osc, server: Server
) -> None:
    lb_api = sdk.load_balancer
    name = unique("graph")
    lb = lb_api.create_load_balancer(**_graph(name))
    assert lb.provisioning_status == "PENDING_CREATE"
    lb = lb_api.wait_for_load_balancer(lb.id, interval=0.2, wait=60)
    assert lb.provisioning_status == "ACTIVE"

    (listener,) = list(lb_api.listeners(loadbalancer_id=lb.id))
    pool = lb_api.get_pool(listener.default_pool_id)
    assert (listener.name, listener.protocol_port) == (f"{name}-http", 80)
    assert pool.name == f"{name}-pool"
    members = sorted(lb_api.members(pool), key=lambda m: m.address)
    assert [(m.address, m.weight) for m in members] == [("127.0.0.21", 1), ("127.0.0.22", 5)]
    monitor = lb_api.get_health_monitor(pool.health_monitor_id)
    assert (monitor.type, monitor.delay) == ("HTTP", 5)
    (policy,) = list(lb_api.l7_policies(listener_id=listener.id))
    assert (policy.action, policy.redirect_url) == ("REDIRECT_TO_URL", "https://example.test/")
    # The SDK lists rules with ?l7policy_id=… and Octavia accepts parent ids as filters.
    (rule,) = list(lb_api.l7_rules(policy))
    assert (rule.type, rule.rule_value) == ("PATH", "/old")
    status, body = api(server, "GET", f"/v2/lbaas/pools/{pool.id}/members?pool_id={pool.id}")
    assert (status, len(body["members"])) == (200, 2)

    # Batch member update: not wrapped by the SDK, so through its load-balancer adapter.
    batch = {
        "members": [
            {"address": "127.0.0.22", "protocol_port": 8080, "weight": 9},
            {"address": "127.0.0.23", "protocol_port": 8080, "name": "new"},
        ]
    }
    response = lb_api.put(f"/lbaas/pools/{pool.id}/members", json=batch)
    assert response.status_code == 202, response.text
    lb_api.wait_for_load_balancer(lb.id, interval=0.2, wait=60)
    members = sorted(lb_api.members(pool), key=lambda m: m.address)
    assert [(m.address, m.weight) for m in members] == [("127.0.0.22", 9), ("127.0.0.23", 1)]

    updated = lb_api.update_load_balancer(lb.id, description="via sdk")
    assert updated.description == "via sdk"
    lb_api.wait_for_load_balancer(lb.id, interval=0.2, wait=60)
    assert name in [x.name for x in lb_api.load_balancers(name=name)]

    osc(*cli(f"delete --cascade --wait {lb.id}"), json=False)
    assert api(server, "GET", f"/v2/lbaas/loadbalancers/{lb.id}")[0] == 404
    assert api(server, "GET", f"/v2/lbaas/pools/{pool.id}")[0] == 404
    assert api(server, "GET", f"/v2/lbaas/healthmonitors/{monitor.id}")[0] == 404


def test_sdk_create_update_and_cascade_delete(sdk: Any, server: Server) -> None:
    lb_api = sdk.load_balancer
    lb = lb_api.create_load_balancer(name=unique("sdk"), vip_subnet_id=LOCAL_SUBNET)
    lb_api.wait_for_load_balancer(lb.id, interval=0.2, wait=60)
    listener = lb_api.create_listener(
        name=unique("l"), loadbalancer_id=lb.id, protocol="TCP", protocol_port=443
    )
    pool = lb_api.create_pool(
        listener_id=listener.id, protocol="TCP", lb_algorithm="SOURCE_IP_PORT"
    )
    member = lb_api.create_member(pool, address="127.0.0.30", protocol_port=443)
    lb_api.wait_for_load_balancer(lb.id, interval=0.2, wait=60)
    assert lb_api.get_member(member, pool).provisioning_status == "ACTIVE"
    assert lb_api.update_pool(pool, name="renamed").name == "renamed"
    stats = lb_api.get_load_balancer_statistics(lb.id)
    assert stats.total_connections == 0

    lb_api.delete_load_balancer(lb.id, cascade=True)
    wait_for(lambda: api(server, "GET", f"/v2/lbaas/loadbalancers/{lb.id}")[0] == 404, timeout=30)
    assert api(server, "GET", f"/v2/lbaas/listeners/{listener.id}")[0] == 404


def test_sdk_admin_reads_and_writes(sdk: Any) -> None:
    lb_api = sdk.load_balancer
    assert [p.name for p in lb_api.providers()] == ["amphora", "noop"]
    caps = {c.name for c in lb_api.provider_flavor_capabilities("noop")}
    assert "loadbalancer_topology" in caps

    project = unique("sdk-team")
    quota = lb_api.update_quota(project, load_balancers=3, pools=4)
    assert (quota.load_balancers, quota.pools) == (3, 4)
    assert lb_api.get_quota(project).load_balancers == 3
    assert project in [q.project_id for q in lb_api.quotas()]
    default = lb_api.get_quota_default()
    lb_api.delete_quota(project)
    assert lb_api.get_quota(project).load_balancers == default.load_balancers

    profile = lb_api.create_flavor_profile(
        name=unique("fp"), provider_name="noop", flavor_data='{"loadbalancer_topology": "SINGLE"}'
    )
    flavor = lb_api.create_flavor(name=unique("f"), flavor_profile_id=profile.id)
    assert lb_api.find_flavor(flavor.name, ignore_missing=False).id == flavor.id
    assert lb_api.update_flavor(flavor, description="d").description == "d"
    lb_api.delete_flavor(flavor)
    lb_api.delete_flavor_profile(profile)
    assert flavor.id not in [f.id for f in lb_api.flavors()]

    zone_profile = lb_api.create_availability_zone_profile(
        name=unique("azp"), provider_name="noop", availability_zone_data="{}"
    )
    zone = lb_api.create_availability_zone(
        name=unique("az"), availability_zone_profile_id=zone_profile.id
    )
    assert zone.name in [z.name for z in lb_api.availability_zones()]
    lb_api.delete_availability_zone(zone.name)
    lb_api.delete_availability_zone_profile(zone_profile)
    assert list(lb_api.amphorae()) == []
