"""Pure member rules: batch planning, reserved addresses, SR-IOV, defaults."""

from __future__ import annotations

import pytest

from portico.domain import members as rules
from portico.domain.errors import DuplicateEntry, InvalidInput, ValidationException

A = rules.ExistingMember("a", "192.0.2.1", 80)
B = rules.ExistingMember("b", "192.0.2.2", 80)


def test_batch_creates_unknown_updates_matched_and_deletes_the_rest() -> None:
    plan = rules.plan_batch(
        [A, B],
        [
            {"address": "192.0.2.2", "protocol_port": 80, "weight": 5},
            {"address": "192.0.2.3", "protocol_port": 80},
        ],
        additive_only=False,
    )
    assert [c["address"] for c in plan.create] == ["192.0.2.3"]
    assert plan.update == [("b", {"admin_state_up": True, "weight": 5, "backup": False})]
    assert plan.delete == ["a"]
    assert plan.count_change(additive_only=False) == 0


def test_batch_additive_only_keeps_members_not_listed() -> None:
    plan = rules.plan_batch(
        [A, B], [{"address": "192.0.2.9", "protocol_port": 81}], additive_only=True
    )
    assert plan.delete == []
    assert plan.count_change(additive_only=True) == 1


def test_batch_matches_addresses_in_any_spelling() -> None:
    existing = [rules.ExistingMember("v6", "2001:db8::1", 443)]
    plan = rules.plan_batch(
        existing, [{"address": "2001:DB8:0::1", "protocol_port": 443}], additive_only=False
    )
    assert plan.create == [] and plan.delete == [] and plan.update[0][0] == "v6"


def test_batch_identical_to_current_list_still_updates_but_is_not_empty() -> None:
    plan = rules.plan_batch(
        [A], [{"address": "192.0.2.1", "protocol_port": 80}], additive_only=False
    )
    assert not plan.empty


def test_batch_with_no_members_and_none_requested_is_empty() -> None:
    assert rules.plan_batch([], [], additive_only=False).empty


def test_batch_updating_one_member_twice_is_refused() -> None:
    item = {"address": "192.0.2.1", "protocol_port": 80}
    with pytest.raises(ValidationException, match="updated only once"):
        rules.plan_batch([A], [item, item], additive_only=False)


def test_batch_creating_the_same_member_twice_is_a_duplicate() -> None:
    item = {"address": "192.0.2.7", "protocol_port": 80}
    with pytest.raises(DuplicateEntry, match=r"already using ip 192\.0\.2\.7 on protocol_port 80"):
        rules.plan_batch([], [item, item], additive_only=False)


def test_batch_update_keeps_fields_not_given_but_resets_defaults() -> None:
    changes = rules.batch_changes(
        {"address": "x", "protocol_port": 1, "name": "n", "subnet_id": "s"}
    )
    assert changes == {"admin_state_up": True, "weight": 1, "backup": False, "name": "n"}


def test_metadata_address_is_reserved() -> None:
    with pytest.raises(
        InvalidInput, match=r"169\.254\.169\.254 is not a valid option for member address"
    ):
        rules.check_not_reserved("169.254.169.254")
    rules.check_not_reserved("192.0.2.1")


def test_operating_status_on_create_depends_on_the_pool_monitor() -> None:
    assert rules.initial_operating_status(pool_has_monitor=False) == "NO_MONITOR"
    assert rules.initial_operating_status(pool_has_monitor=True) == "OFFLINE"


def test_sriov_needs_a_flavor_that_allows_it() -> None:
    assert rules.vnic_type(request_sriov=False, flavor_allows_sriov=False) == "normal"
    assert rules.vnic_type(request_sriov=True, flavor_allows_sriov=True) == "direct"
    with pytest.raises(InvalidInput, match="does not allow SR-IOV"):
        rules.vnic_type(request_sriov=True, flavor_allows_sriov=False)


def test_null_on_update_resets_weight_and_backup() -> None:
    assert rules.update_defaults({"weight": None, "backup": None, "name": None}) == {
        "weight": 1,
        "backup": False,
        "name": None,
    }
