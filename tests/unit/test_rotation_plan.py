"""Which amphorae a pass replaces to move a load balancer onto its target (pure): another
image, or another compute driver or zone than its availability zone resolves to."""

from __future__ import annotations

from portico.orchestrator.rotation import more_to_do, off_target, to_replace
from portico.services.amphora_records import AmphoraRecord
from portico.services.placement import Placement, Target, placement_of

HERE = Placement("local")
NONE = Target(HERE)


def _to(image: str) -> Target:
    return Target(HERE, image=image)


def _amp(
    amphora_id: str,
    image: str | None,
    role: str | None = None,
    *,
    driver: str = "local",
    zone: str | None = None,
) -> AmphoraRecord:
    return AmphoraRecord(
        id=amphora_id,
        load_balancer_id="lb",
        status="ALLOCATED",
        role=role,
        compute_id=amphora_id,
        agent_endpoint="127.0.0.1:1",
        haproxy_version=None,
        capabilities=(),
        applied_generation=1,
        cert_expiration=None,
        image_id=image,
        compute_driver=driver,
        compute_zone=zone,
    )


def test_without_a_target_nothing_is_replaced() -> None:
    amphorae = [_amp("a", "v1", "MASTER"), _amp("b", None, "BACKUP")]
    assert to_replace(amphorae, target=NONE, want=2) == []
    assert not more_to_do(amphorae, NONE)
    assert not off_target(amphorae[1], NONE)


def test_a_single_amphora_of_another_image_is_replaced() -> None:
    assert to_replace([_amp("a", "v1", "STANDALONE")], target=_to("v2"), want=1) == ["a"]
    assert to_replace([_amp("a", "v2", "STANDALONE")], target=_to("v2"), want=1) == []


def test_a_pair_replaces_one_per_pass_the_backup_first() -> None:
    pair = [_amp("m", "v1", "MASTER"), _amp("b", "v1", "BACKUP")]
    assert to_replace(pair, target=_to("v2"), want=2) == ["b"]
    half = [_amp("m", "v1", "MASTER"), _amp("b2", "v2", "BACKUP")]
    assert to_replace(half, target=_to("v2"), want=2) == ["m"]
    assert more_to_do(half, _to("v2"))
    done = [_amp("m2", "v2", "BACKUP"), _amp("b2", "v2", "MASTER")]
    assert to_replace(done, target=_to("v2"), want=2) == []
    assert not more_to_do(done, _to("v2"))


def test_a_pair_missing_an_amphora_is_completed_before_anything_is_replaced() -> None:
    # Its one amphora holds the VIP alone: replacing it now would leave no holder.
    assert to_replace([_amp("m", "v1", "MASTER")], target=_to("v2"), want=2) == []


def test_an_amphora_in_another_zone_than_its_target_is_replaced_whatever_its_image() -> None:
    target = Target(Placement("local", "az-b"))
    assert to_replace([_amp("a", "v1", zone="az-a")], target=target, want=1) == ["a"]
    assert to_replace([_amp("a", None)], target=target, want=1) == ["a"]  # booted in no zone
    assert to_replace([_amp("b", "v1", zone="az-b")], target=target, want=1) == []
    # Leaving a zone for none replaces too: "no zone" is a place of its own.
    assert to_replace([_amp("b", "v1", zone="az-b")], target=NONE, want=1) == ["b"]


def test_an_amphora_of_another_compute_driver_is_replaced_one_of_a_pair_per_pass() -> None:
    target = Target(Placement("netns"))
    pair = [_amp("m", "v1", "MASTER"), _amp("b", "v1", "BACKUP")]
    assert to_replace(pair, target=target, want=2) == ["b"]
    half = [_amp("m", "v1", "MASTER"), _amp("n", "v1", "BACKUP", driver="netns")]
    assert to_replace(half, target=target, want=2) == ["m"]
    assert more_to_do(half, target)


def test_zone_metadata_resolves_to_a_placement_with_defaults() -> None:
    assert placement_of(None, default_driver="local") == HERE
    assert placement_of({"compute_zone": "z1"}, default_driver="local") == Placement("local", "z1")
    data = {"compute_driver": "netns", "compute_zone": ""}  # an empty zone: the default
    assert placement_of(data, default_driver="local") == Placement("netns")
