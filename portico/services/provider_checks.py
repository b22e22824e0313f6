"""Refuses at the API what a load balancer's provider cannot run yet (HTTP 400).

A provider names what it refuses through ``Provider.unsupported(feature)``, with features
such as ``protocol:UDP`` or ``healthmonitor:SCTP``. Asking it when the object is created
turns a request that could only end in ERROR (after the reconciler tried) into a clear
400 that the user sees at once; the noop provider refuses nothing. Protocols and monitor
types cannot change on update, so creation is the one place to ask.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from portico.domain.errors import InvalidInput
from portico.drivers.providers.base import Provider


def refuse_unsupported(
    providers: Mapping[str, Provider], provider_name: str, features: Iterator[str]
) -> None:
    """Raise ``InvalidInput`` for the first feature the provider refuses."""
    provider = providers.get(provider_name)
    if provider is None:
        return  # not loaded here: enabling and loading are checked where the LB is made
    for feature in features:
        if provider.unsupported(feature):
            raise InvalidInput(_refusal(feature, provider_name))


def _refusal(feature: str, provider_name: str) -> str:
    kind, _, value = feature.partition(":")
    if kind == "healthmonitor":
        return f"{value} health monitors are not supported by provider {provider_name} yet"
    return f"{value} {kind} is not supported by provider {provider_name} yet"


def listener_features(data: Mapping[str, Any]) -> Iterator[str]:
    if data.get("protocol"):
        yield f"protocol:{data['protocol']}"


def pool_features(data: Mapping[str, Any]) -> Iterator[str]:
    """A pool's protocol and, in a graph, the type of the monitor defined with it."""
    if data.get("protocol"):
        yield f"protocol:{data['protocol']}"
    monitor = data.get("healthmonitor")
    if isinstance(monitor, Mapping):
        yield from healthmonitor_features(monitor)


def healthmonitor_features(data: Mapping[str, Any]) -> Iterator[str]:
    if data.get("type"):
        yield f"healthmonitor:{data['type']}"


def graph_features(data: Mapping[str, Any]) -> Iterator[str]:
    """Every listener, pool and monitor of a full-graph load balancer body."""
    for listener in data.get("listeners") or []:
        yield from listener_features(listener)
        pools = [listener.get("default_pool")]
        pools += [policy.get("redirect_pool") for policy in listener.get("l7policies") or []]
        for pool in pools:
            if isinstance(pool, Mapping):
                yield from pool_features(pool)
    for pool in data.get("pools") or []:
        yield from pool_features(pool)
