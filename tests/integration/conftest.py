"""Fixtures shared by integration tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from portico.settings import Settings
from tests.support.agent import AgentHandle
from tests.support.amphorae import reap_amphorae


@pytest.fixture
def agent(settings_factory: Callable[..., Settings], tmp_path: Path) -> Iterator[AgentHandle]:
    """A real agent (and its haproxy) booted through the local driver, reaped afterwards."""
    handle = AgentHandle.boot(settings_factory())
    try:
        yield handle
    finally:
        try:
            handle.close()
        finally:
            reap_amphorae(tmp_path)
