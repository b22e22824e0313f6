"""Nested bodies of a single-call full-graph load balancer create (Octavia's ``*SingleCreate``).

A pool inside a listener (``default_pool``) or an L7 policy (``redirect_pool``) is either a
full definition or, when it carries nothing but a ``name``, a reference to a pool defined
elsewhere in the same request; so ``protocol`` and ``lb_algorithm`` are optional here and the
service checks them once references are resolved.
"""

from __future__ import annotations

from portico.api.schemas.common import Strict, Tags, Text255
from portico.api.schemas.healthmonitors import HealthMonitorGraphCreate
from portico.api.schemas.l7policies import Position, RedirectCode, Url
from portico.api.schemas.l7rules import L7RuleCreate
from portico.api.schemas.listeners import ListenerFields
from portico.api.schemas.members import MemberGraphCreate
from portico.api.schemas.pools import PoolFields
from portico.domain.constants import L7PolicyAction, LbAlgorithm, PoolProtocol


class GraphPool(PoolFields):
    protocol: PoolProtocol | None = None  # type: ignore[assignment]
    lb_algorithm: LbAlgorithm | None = None  # type: ignore[assignment]
    members: list[MemberGraphCreate] | None = None
    healthmonitor: HealthMonitorGraphCreate | None = None


class GraphL7Policy(Strict):
    name: Text255 | None = None
    description: Text255 | None = None
    admin_state_up: bool = True
    action: L7PolicyAction
    redirect_pool: GraphPool | None = None
    redirect_url: Url | None = None
    redirect_prefix: Url | None = None
    redirect_http_code: RedirectCode | None = None
    position: Position | None = None
    rules: list[L7RuleCreate] | None = None
    tags: Tags | None = None


class GraphListener(ListenerFields):
    default_pool: GraphPool | None = None
    l7policies: list[GraphL7Policy] | None = None
