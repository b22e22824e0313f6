"""ACTIVE_STANDBY with a spares pool (root): a lost amphora's replacement is a spare.

The pair loses its MASTER; the BACKUP takes the VIP at once, and the controller rebuilds the
pair from a READY spare (configured, plugged into the VIP's network, joined to keepalived)
instead of booting, then boots a new spare to keep the pool full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portico.drivers.compute import netns_names as names
from portico.settings import Settings
from tests.conftest import wait_for
from tests.e2e.test_netns_active_standby import (
    URL,
    Pair,
    active_standby,
    assert_takes_over,
    lose_master,
)
from tests.support.netns import ip

pytestmark = pytest.mark.xdist_group("netns")
POOL = 2


@pytest.fixture
def spared(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> Iterator[Pair]:
    with active_standby(
        client_factory, settings_factory, tmp_path, spares_pool_size=POOL, spares_interval=0.5
    ) as made:
        yield made


def _ready_spares(pair: Pair) -> set[str] | None:
    listed = pair.client.get("/v2/octavia/amphorae", params={"status": "READY"}).json()
    found = {a["id"] for a in listed["amphorae"] if a["loadbalancer_id"] is None}
    return found if len(found) == POOL else None


def test_a_lost_master_is_replaced_by_a_spare_and_the_pool_refilled(spared: Pair) -> None:
    spares = wait_for(lambda: _ready_spares(spared), timeout=60)
    roles = spared.by_role()
    master, backup = roles["MASTER"]["id"], roles["BACKUP"]["id"]
    assert not spares & {master, backup}
    lose_master(spared, master, backup)

    roles = wait_for(lambda: spared.rebuilt_without({master}), timeout=60)
    assert roles["MASTER"]["id"] == backup
    replacement = roles["BACKUP"]["id"]
    assert replacement in spares  # claimed from the pool, not booted
    assert spared.holders() == [backup]
    assert spared.user.get(URL) == "m1"
    assert names.namespace(master) not in ip("netns", "list")

    refilled = wait_for(lambda: _ready_spares(spared), timeout=60)
    assert replacement not in refilled
    assert len(refilled - spares) == 1  # one new spare for the one taken

    # The spare joined the pair for real: it takes the VIP when the survivor's haproxy dies.
    assert_takes_over(spared, backup, replacement)
