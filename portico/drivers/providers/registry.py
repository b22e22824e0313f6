"""Loads provider drivers by entry point (group ``portico.providers``)."""

from __future__ import annotations

from importlib.metadata import entry_points

from portico.drivers.providers.base import Provider, ProviderContext


def load_providers(names: list[str], context: ProviderContext) -> dict[str, Provider]:
    """Instantiate the named providers; unknown names fail loudly at start-up."""
    found = {ep.name: ep for ep in entry_points(group="portico.providers")}
    providers: dict[str, Provider] = {}
    for name in names:
        if name not in found:
            raise ValueError(f"provider {name!r} is not installed (entry point portico.providers)")
        provider = found[name].load()(context)
        if not isinstance(provider, Provider):
            raise TypeError(f"provider {name!r} does not implement the Provider protocol")
        providers[name] = provider
    return providers
