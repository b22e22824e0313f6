"""Batch member update (PUT /pools/{id}/members) and the pending rules for member writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.conftest import converge, create_lb, wait_lb_active
from tests.integration.member_support import lb_generations, make_pool


def members_url(pool_id: str) -> str:
    return f"/v2/lbaas/pools/{pool_id}/members"


def member(address: str, port: int = 80, **fields: Any) -> dict[str, Any]:
    return {"address": address, "protocol_port": port, **fields}


def listed(client: TestClient, pool_id: str) -> dict[str, dict[str, Any]]:
    body = client.get(members_url(pool_id)).json()["members"]
    return {f"{m['address']}:{m['protocol_port']}": m for m in body}


def quiet_client(
    client_factory: Callable[..., TestClient], settings: Settings
) -> tuple[TestClient, str, str]:
    """A client without a reconciler, a load balancer and a pool, all converged (ACTIVE)."""
    client = client_factory(settings, with_reconciler=False)
    lb_id = create_lb(client)
    converge(client)
    pool_id = make_pool(client, lb_id)
    converge(client)
    return client, lb_id, pool_id


def test_batch_update_replaces_members_unless_additive_only(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client = client_factory(settings_factory(database_url))
    lb_id = create_lb(client)
    wait_lb_active(client, lb_id)
    pool_id = make_pool(client, lb_id)
    wait_lb_active(client, lb_id)
    url = members_url(pool_id)
    first = [member("192.0.2.15", weight=5), member("192.0.2.16", name="keep")]
    assert client.put(url, json={"members": first}).status_code == 202
    wait_lb_active(client, lb_id)
    before = listed(client, pool_id)
    assert set(before) == {"192.0.2.15:80", "192.0.2.16:80"}

    second = [member("192.0.2.16", weight=7), member("192.0.2.17")]
    assert client.put(url, json={"members": second}).status_code == 202
    wait_lb_active(client, lb_id)
    after = listed(client, pool_id)
    assert set(after) == {"192.0.2.16:80", "192.0.2.17:80"}
    kept = after["192.0.2.16:80"]
    assert kept["id"] == before["192.0.2.16:80"]["id"]
    assert (kept["weight"], kept["name"]) == (7, "keep")

    third = [member("192.0.2.18")]
    assert client.put(f"{url}?additive_only=true", json={"members": third}).status_code == 202
    wait_lb_active(client, lb_id)
    assert set(listed(client, pool_id)) == {"192.0.2.16:80", "192.0.2.17:80", "192.0.2.18:80"}

    assert client.put(url, json={"members": []}).status_code == 202
    wait_lb_active(client, lb_id)
    assert listed(client, pool_id) == {}


def test_batch_update_that_changes_nothing_starts_no_generation(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client, lb_id, pool_id = quiet_client(client_factory, settings_factory())
    before = lb_generations(client, lb_id)
    assert client.put(members_url(pool_id), json={"members": []}).status_code == 202
    assert lb_generations(client, lb_id) == before


def test_batch_update_refuses_duplicates_and_bad_members(client: TestClient) -> None:
    lb_id = create_lb(client)
    wait_lb_active(client, lb_id)
    pool_id = make_pool(client, lb_id)
    url = members_url(pool_id)
    twice = [member("192.0.2.1"), member("192.0.2.1")]
    assert client.put(url, json={"members": twice}).status_code == 409
    assert client.put(url, json={"members": [member("169.254.169.254")]}).status_code == 400
    assert client.put(url, json={"members": [member("192.0.2.1", weight=300)]}).status_code == 400
    assert client.put(url, json={}).status_code == 400
    assert listed(client, pool_id) == {}


def test_batch_update_counts_the_quota_once_for_the_whole_list(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    client, _, pool_id = quiet_client(client_factory, settings_factory(default_quota_member=2))
    url = members_url(pool_id)
    assert (
        client.put(url, json={"members": [member("192.0.2.1"), member("192.0.2.2")]}).status_code
        == 202
    )
    converge(client)
    # Replacing both with two others fits: the deletions make room.
    swap = [member("192.0.2.3"), member("192.0.2.4")]
    assert client.put(url, json={"members": swap}).status_code == 202
    converge(client)
    extra = [member("192.0.2.5")]
    response = client.put(f"{url}?additive_only=1", json={"members": extra})
    assert response.status_code == 403


def test_member_writes_while_lb_pending_are_coalesced_when_not_strict(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> None:
    client, lb_id, pool_id = quiet_client(client_factory, settings_factory(database_url))
    renamed = client.put(f"/v2/lbaas/loadbalancers/{lb_id}", json={"loadbalancer": {"name": "x"}})
    assert renamed.status_code == 200
    created = client.post(members_url(pool_id), json={"member": member("192.0.2.1")})
    assert created.status_code == 201, created.text
    member_id = created.json()["member"]["id"]
    updated = client.put(f"{members_url(pool_id)}/{member_id}", json={"member": {"weight": 9}})
    assert updated.status_code == 200
    assert updated.json()["member"]["provisioning_status"] == "PENDING_CREATE"
    generation, applied = lb_generations(client, lb_id)
    assert generation > applied
    converge(client)
    assert lb_generations(client, lb_id) == (generation, generation)
    shown = client.get(f"{members_url(pool_id)}/{member_id}").json()["member"]
    assert (shown["provisioning_status"], shown["weight"]) == ("ACTIVE", 9)


def test_member_writes_while_lb_pending_are_409_when_strict(
    client_factory: Callable[..., TestClient], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(strict_pending_lock=True)
    client, _, pool_id = quiet_client(client_factory, settings)
    existing = client.post(members_url(pool_id), json={"member": member("192.0.2.1")})
    member_id = existing.json()["member"]["id"]
    # The load balancer is now PENDING_UPDATE (nothing converges it).
    created = client.post(members_url(pool_id), json={"member": member("192.0.2.2")})
    assert created.status_code == 409
    assert created.json()["faultstring"] == f"Pool {pool_id} is immutable and cannot be updated."
    url = f"{members_url(pool_id)}/{member_id}"
    assert client.put(url, json={"member": {"weight": 3}}).status_code == 409
    assert client.put(members_url(pool_id), json={"members": []}).status_code == 409
    converge(client)
    assert client.put(url, json={"member": {"weight": 3}}).status_code == 200


@pytest.mark.parametrize("strict", [False, True])
def test_member_pending_delete_refuses_updates(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    strict: bool,
) -> None:
    client, _, pool_id = quiet_client(client_factory, settings_factory(strict_pending_lock=strict))
    member_id = client.post(members_url(pool_id), json={"member": member("192.0.2.1")}).json()[
        "member"
    ]["id"]
    converge(client)
    url = f"{members_url(pool_id)}/{member_id}"
    assert client.delete(url).status_code == 204
    response = client.put(url, json={"member": {"weight": 3}})
    assert response.status_code == 409
    assert client.delete(url).status_code == 409
    batch = client.put(members_url(pool_id), json={"members": [member("192.0.2.1")]})
    assert batch.status_code == 409
