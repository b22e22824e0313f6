"""Fixtures shared by end-to-end tests: an in-process portico on real amphorae, and backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portico.settings import Settings
from tests.support.amphorae import reap_amphorae
from tests.support.backends import Backend, backends

AmphoraRig = Callable[..., tuple[TestClient, Settings]]


@pytest.fixture
def amphora_rig(
    client_factory: Callable[..., TestClient],
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
) -> Iterator[AmphoraRig]:
    """Starts the API and controller on the local compute driver (agent and haproxy
    processes) with settings overrides; every amphora is reaped afterwards, before the
    clients stop."""

    def start(**overrides: Any) -> tuple[TestClient, Settings]:
        settings = settings_factory(
            default_provider_driver="amphora", compute_driver="local", **overrides
        )
        return client_factory(settings), settings

    try:
        yield start
    finally:
        reap_amphorae(tmp_path)


@pytest.fixture
def servers() -> Iterator[list[Backend]]:
    """Two HTTP backends on loopback that answer their names."""
    with backends(2) as found:
        yield found
