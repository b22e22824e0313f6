"""The rules of an ACTIVE_STANDBY pair that need no I/O: roles and the virtual router id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from portico.domain.constants import AmphoraRole

PAIR = (AmphoraRole.MASTER, AmphoraRole.BACKUP)


def assign_roles(current: Sequence[tuple[str, str | None]]) -> dict[str, AmphoraRole]:
    """Roles for the two amphorae of a pair, given (amphora id, role it has) oldest first.

    A pair that has both roles keeps them. An amphora that already had a role and now runs
    beside a newcomer is the survivor of a failover: it holds the VIP (keepalived moved it
    there), so it becomes MASTER and the newcomer BACKUP; with ``nopreempt`` the newcomer
    never takes the VIP back. Otherwise the oldest is MASTER.
    """
    if len(current) != 2:
        raise ValueError(f"a pair has two amphorae, not {len(current)}")
    (first, first_role), (second, second_role) = current
    if {first_role, second_role} == set(PAIR):
        return {first: AmphoraRole(first_role or ""), second: AmphoraRole(second_role or "")}
    if second_role in PAIR and first_role not in PAIR:
        return {second: AmphoraRole.MASTER, first: AmphoraRole.BACKUP}
    return {first: AmphoraRole.MASTER, second: AmphoraRole.BACKUP}


def router_id(lb_id: str) -> int:
    """The pair's ``virtual_router_id`` (1-255), the same on every pass for a load balancer.

    Two pairs may share one on a network: adverts are unicast and keepalived drops those that
    do not come from its peer, so the id only has to be stable.
    """
    return uuid.UUID(lb_id).int % 255 + 1
