"""Diagnostics and resync of an ACTIVE_STANDBY pair (root, ``netns`` driver).

The expected hash of a pair's amphora includes its ``peers`` section (both amphorae, as the
provider renders them), so a pair in sync shows equal hashes on both; an edit on one is
seen on that one only, and a resync repairs it while the VIP keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import wait_for, wait_lb_status
from tests.e2e.test_netns_active_standby import URL, Pair, active_standby

pytestmark = pytest.mark.xdist_group("netns")


@pytest.fixture
def pair(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> Iterator[Pair]:
    with active_standby(client_factory, settings_factory, tmp_path) as made:
        yield made


def _config(pair: Pair, amphora_id: str) -> dict[str, Any]:
    response = pair.client.get(f"/v2/portico/amphorae/{amphora_id}/diagnostics")
    assert response.status_code == 200, response.text
    return dict(response.json()["diagnostics"]["config"])


def test_a_pair_is_in_sync_and_a_resync_repairs_the_edited_backup(pair: Pair) -> None:
    roles = pair.by_role()
    master, backup = roles["MASTER"]["id"], roles["BACKUP"]["id"]
    both = {amphora: _config(pair, amphora) for amphora in (master, backup)}
    assert all(found["in_sync"] is True for found in both.values()), both
    # Each renders its own ``peers`` local name: the two expected hashes differ.
    assert both[master]["expected_hash"] != both[backup]["expected_hash"]

    cfg = pair.base(backup) / "haproxy" / "haproxy.cfg"
    cfg.write_text(cfg.read_text() + "# edited by hand\n")
    assert _config(pair, backup)["in_sync"] is False
    assert _config(pair, master)["in_sync"] is True

    resync = pair.client.put(f"/v2/portico/loadbalancers/{pair.lb_id}/resync")
    assert resync.status_code == 202, resync.text
    wait_lb_status(pair.client, pair.lb_id, timeout=60)
    wait_for(lambda: _config(pair, backup)["in_sync"], timeout=20)
    assert _config(pair, master)["in_sync"] is True
    assert pair.holders() == [master]
    assert pair.user.get(URL) == "m1"

    logs = pair.client.get(f"/v2/portico/loadbalancers/{pair.lb_id}/logs").json()
    assert {line["amphora_id"] for line in logs["logs"]} == {master, backup}
    assert logs["unreachable"] == []
