"""A load balancer on real amphorae carries HTTP traffic, and leaves nothing when deleted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import wait_for
from tests.support.amphorae import amphora_pids, get_through
from tests.support.backends import backends
from tests.support.dataplane import build_lb, http_listener


def test_round_robin_through_the_vip_then_delete_leaves_no_process(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(2) as servers:
        lb = build_lb(amphora_client, [http_listener(8080, servers)])
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
