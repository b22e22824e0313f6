"""The object graph under a load balancer: full-graph create and cascade marking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from portico.db.models import LoadBalancer
from portico.domain.constants import ProvisioningStatus as PS
from portico.domain.errors import InvalidInput
from portico.domain.policy import Caller
from portico.settings import Settings


def build(
    session: Session,
    caller: Caller,
    settings: Settings,
    lb: LoadBalancer,
    *,
    listeners: Sequence[Any],
    pools: Sequence[Any],
) -> None:
    """Create listeners, pools, members, monitors and L7 policies in one transaction."""
    raise InvalidInput("Full-graph create is not available yet.")


def mark_deleted(lb: LoadBalancer) -> None:
    """Every object under ``lb`` to PENDING_DELETE (cascade delete)."""
    for listener in lb.listeners:
        listener.provisioning_status = PS.PENDING_DELETE
        for policy in listener.l7policies:
            policy.provisioning_status = PS.PENDING_DELETE
            for rule in policy.rules:
                rule.provisioning_status = PS.PENDING_DELETE
    for pool in lb.pools:
        pool.provisioning_status = PS.PENDING_DELETE
        for member in pool.members:
            member.provisioning_status = PS.PENDING_DELETE
        if pool.health_monitor is not None:
            pool.health_monitor.provisioning_status = PS.PENDING_DELETE
