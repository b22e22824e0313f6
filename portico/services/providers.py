"""Providers as the API shows them: the enabled list, their flavor and availability zone
capabilities, and validation of the metadata that flavor and zone profiles carry.

The provider list is exactly the configured ``enabled_provider_drivers`` (clients and
tempest compare the two). Profile metadata is JSON text; it must decode to an object whose
keys the provider declared, then the provider checks the values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from portico.domain.errors import (
    InvalidInput,
    InvalidOption,
    ProviderNotFound,
    ProviderNotImplemented,
    ProviderUnsupported,
)
from portico.domain.policy import Access, Caller, require
from portico.drivers.providers.base import DescribesCapabilities, InvalidMetadata, Provider
from portico.settings import Settings

NOT_IMPLEMENTED = "This feature is not implemented by the provider."


class MetadataKind(StrEnum):
    FLAVOR = "flavor_data"
    AVAILABILITY_ZONE = "availability_zone_data"


def list_providers(caller: Caller, settings: Settings) -> list[dict[str, str]]:
    require(caller, Access.READ, caller.project_id)
    return [
        {"name": name, "description": description}
        for name, description in settings.enabled_provider_drivers.items()
    ]


def enabled_provider(settings: Settings, providers: Mapping[str, Provider], name: str) -> Provider:
    """The driver of an enabled provider: 400 if not enabled, 501 if enabled but not loaded."""
    if name not in settings.enabled_provider_drivers:
        raise InvalidInput(f"Provider '{name}' is not enabled.")
    provider = providers.get(name)
    if provider is None:
        raise ProviderNotFound(name)
    return provider


def _describer(provider: Provider, name: str) -> DescribesCapabilities:
    if not isinstance(provider, DescribesCapabilities):
        raise ProviderNotImplemented(name, NOT_IMPLEMENTED)
    return provider


def _declared(provider: DescribesCapabilities, kind: MetadataKind) -> Mapping[str, str]:
    if kind is MetadataKind.FLAVOR:
        return provider.flavor_capabilities()
    return provider.availability_zone_capabilities()


def capabilities(
    caller: Caller,
    settings: Settings,
    providers: Mapping[str, Provider],
    name: str,
    kind: MetadataKind,
    *,
    filters: Mapping[str, str],
) -> list[dict[str, str]]:
    """What ``name`` accepts in flavor or zone metadata; ``name``/``description`` filter."""
    require(caller, Access.ADMIN, None)
    declared = _declared(_describer(enabled_provider(settings, providers, name), name), kind)
    return [
        {"name": key, "description": text}
        for key, text in declared.items()
        if filters.get("name") in (None, key) and filters.get("description") in (None, text)
    ]


def parse_metadata(raw: str, kind: MetadataKind) -> dict[str, Any]:
    """Decode profile metadata; anything but a JSON object is an invalid option (400)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # 4096 characters can nest past the stack
        raise InvalidOption(raw, kind.value) from exc
    if not isinstance(data, dict):
        raise InvalidOption(raw, kind.value)
    return data


def validate_metadata(
    settings: Settings,
    providers: Mapping[str, Provider],
    provider_name: str,
    raw: str,
    kind: MetadataKind,
) -> dict[str, Any]:
    """Check ``raw`` against what the provider declared; unknown keys or values are 501."""
    data = parse_metadata(raw, kind)
    provider = _describer(enabled_provider(settings, providers, provider_name), provider_name)
    declared = _declared(provider, kind)
    unknown = sorted(key for key in data if key not in declared)
    if unknown:
        listed = ", ".join(repr(key) for key in unknown)
        verb = "was" if len(unknown) == 1 else "were"
        raise ProviderUnsupported(
            provider_name, f"Additional properties are not allowed ({listed} {verb} unexpected)"
        )
    try:
        if kind is MetadataKind.FLAVOR:
            provider.validate_flavor(data)
        else:
            provider.validate_availability_zone(data)
    except InvalidMetadata as exc:
        raise ProviderUnsupported(provider_name, str(exc)) from exc
    return data
