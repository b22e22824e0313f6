"""A load balancer on real amphorae carries HTTP traffic, and leaves nothing when deleted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import LOCAL_SUBNET, wait_for, wait_lb_status
from tests.support.amphorae import amphora_pids, get_through
from tests.support.backends import backends


def test_round_robin_through_the_vip_then_delete_leaves_no_process(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(2) as servers:
        body = {
            "vip_subnet_id": LOCAL_SUBNET,
            "listeners": [
                {
                    "protocol": "HTTP",
                    "protocol_port": 8080,
                    "default_pool": {
                        "name": "web",
                        "protocol": "HTTP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "members": [
                            {"address": s.address, "protocol_port": s.port} for s in servers
                        ],
                    },
                }
            ],
        }
        created = amphora_client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
        assert created.status_code == 201, created.text
        lb = wait_lb_status(amphora_client, created.json()["loadbalancer"]["id"])
        assert lb["operating_status"] == "ONLINE"
        url = f"http://{lb['vip_address']}:8080/"

        seen = Counter(get_through(url).text for _ in range(10))
        assert seen == {"b0": 5, "b1": 5}

        amphorae = amphora_client.get("/v2/octavia/amphorae").json()["amphorae"]
        assert [a["status"] for a in amphorae] == ["ALLOCATED"]
        assert amphora_pids(tmp_path)

        deleted = amphora_client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
        assert deleted.status_code == 204
        wait_for(
            lambda: amphora_client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404,
            timeout=20,
        )
        assert amphora_pids(tmp_path) == []
        assert list((tmp_path / "amphorae").iterdir()) == []
