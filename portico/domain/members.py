"""Rules for pool members that need no I/O: defaults, reserved addresses, batch planning.

A member is identified inside its pool by (address, protocol_port); a batch update
(``PUT /pools/{id}/members``) is a desired list matched on that key. Planning the batch is pure
so it can be tested exhaustively; the service applies the plan under the load balancer lock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from portico.domain.constants import OperatingStatus as OS
from portico.domain.errors import DuplicateEntry, InvalidInput, InvalidOption, ValidationException

MIN_WEIGHT = 0
MAX_WEIGHT = 256
DEFAULT_WEIGHT = 1

VNIC_NORMAL = "normal"
VNIC_DIRECT = "direct"

# Octavia's default ``[networking] reserved_ips``: never a backend (the metadata service).
RESERVED_ADDRESSES = frozenset({"169.254.169.254"})

# Flavor metadata key that allows SR-IOV member ports.
ALLOW_MEMBER_SRIOV = "allow_member_sriov"

# Fields a batch update applies to a matched member; absent ones take these defaults,
# because the request states the whole desired member.
BATCH_DEFAULTS: Mapping[str, Any] = {
    "admin_state_up": True,
    "weight": DEFAULT_WEIGHT,
    "backup": False,
}
BATCH_UPDATABLE = ("name", "monitor_address", "monitor_port", "tags")

MemberKey = tuple[str, int]


def canonical_address(address: str) -> str:
    """One spelling per address ("FE80::1" and "fe80::0:1" are the same backend)."""
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError as exc:
        raise InvalidInput(f"Invalid IP address: {address}") from exc


def member_key(address: str, protocol_port: int) -> MemberKey:
    return canonical_address(address), int(protocol_port)


def check_not_reserved(address: str) -> None:
    """Refuse addresses the deployment reserves, with Octavia's wording."""
    ip = ipaddress.ip_address(address)
    if ip.compressed in RESERVED_ADDRESSES:
        shown = ip.exploded.upper()
        raise InvalidOption(shown, "member address")


def initial_operating_status(*, pool_has_monitor: bool) -> OS:
    """What Octavia reports before any health check ran: OFFLINE if monitored, else NO_MONITOR."""
    return OS.OFFLINE if pool_has_monitor else OS.NO_MONITOR


def vnic_type(*, request_sriov: bool, flavor_allows_sriov: bool) -> str:
    if request_sriov and not flavor_allows_sriov:
        raise InvalidInput("The load balancer flavor does not allow SR-IOV member ports.")
    return VNIC_DIRECT if request_sriov else VNIC_NORMAL


def duplicate_error(address: str, protocol_port: int) -> DuplicateEntry:
    return DuplicateEntry(
        f"Another member on this pool is already using ip {address} "
        f"on protocol_port {protocol_port}"
    )


def update_defaults(changes: Mapping[str, Any]) -> dict[str, Any]:
    """A PUT that sends null for weight/backup/admin_state_up means "back to the default"."""
    out = dict(changes)
    for name, default in BATCH_DEFAULTS.items():
        if name in out and out[name] is None:
            out[name] = default
    return out


@dataclass(frozen=True)
class ExistingMember:
    id: str
    address: str
    protocol_port: int


@dataclass(frozen=True)
class BatchPlan:
    """What a batch update does: members to create, to update (by id), to delete (ids)."""

    create: list[Mapping[str, Any]] = field(default_factory=list)
    update: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)

    def count_change(self, *, additive_only: bool) -> int:
        """Members the project gains (quota); deletions count only when they happen."""
        return len(self.create) - (0 if additive_only else len(self.delete))


def batch_changes(requested: Mapping[str, Any]) -> dict[str, Any]:
    """The changes a batch applies to a matched member (subnet and vnic never change)."""
    changes = {name: requested.get(name, default) for name, default in BATCH_DEFAULTS.items()}
    changes = update_defaults(changes)
    for name in BATCH_UPDATABLE:
        if name in requested:
            changes[name] = requested[name]
    return changes


def plan_batch(
    existing: Sequence[ExistingMember],
    requested: Sequence[Mapping[str, Any]],
    *,
    additive_only: bool,
) -> BatchPlan:
    """Match ``requested`` against ``existing`` on (address, protocol_port)."""
    by_key = {member_key(m.address, m.protocol_port): m.id for m in existing}
    plan = BatchPlan()
    seen_new: set[MemberKey] = set()
    seen_updated: set[MemberKey] = set()
    for item in requested:
        key = member_key(item["address"], item["protocol_port"])
        if key not in by_key:
            if key in seen_new:
                raise duplicate_error(item["address"], item["protocol_port"])
            seen_new.add(key)
            plan.create.append(item)
            continue
        if key in seen_updated:
            raise ValidationException("Member must be updated only once in the same request.")
        seen_updated.add(key)
        plan.update.append((by_key[key], batch_changes(item)))
    if not additive_only:
        wanted = seen_new | seen_updated
        plan.delete.extend(i for k, i in by_key.items() if k not in wanted)
    return plan
