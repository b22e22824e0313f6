"""The provisioning state machine and the rules for accepting a change while work is pending.

Octavia refuses (409) every change while the load balancer or any child is PENDING_*.
portico accepts changes to a load balancer that is being converged and coalesces them into the
next generation; only an object on its way out (PENDING_DELETE) refuses further changes.
``strict`` restores Octavia's rule exactly.
"""

from __future__ import annotations

from portico.domain.constants import ProvisioningStatus as PS

MUTABLE_STRICT = frozenset({PS.ACTIVE})
DELETABLE_STRICT = frozenset({PS.ACTIVE, PS.ERROR})


def lb_accepts_change(lb_status: str, *, strict: bool, deleting_lb: bool = False) -> bool:
    """Whether a load balancer in ``lb_status`` accepts a change to itself or a child."""
    if lb_status == PS.PENDING_DELETE:
        return False
    if strict:
        allowed = DELETABLE_STRICT if deleting_lb else MUTABLE_STRICT
        return lb_status in allowed
    return True


def object_accepts_change(status: str, *, strict: bool, deleting: bool = False) -> bool:
    """Whether a child object in ``status`` accepts an update (or a delete)."""
    if status == PS.PENDING_DELETE:
        return False
    if strict:
        allowed = DELETABLE_STRICT if deleting else MUTABLE_STRICT
        return status in allowed
    return True


def status_after_update(current: str) -> PS:
    """A child that is not yet created stays PENDING_CREATE when updated again."""
    return PS.PENDING_CREATE if current == PS.PENDING_CREATE else PS.PENDING_UPDATE
