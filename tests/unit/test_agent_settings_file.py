"""Pushed agent settings: written to the agent's config file first, then taken (no I/O but a
temporary directory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portico.agent.config import AgentConfig
from portico.wire.agent_api import AgentSettings
from portico.wire.log_forwarding import LogForwarding


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.json"
    fields = {
        "amphora_id": "a1",
        "bind_port": 9443,
        "base_dir": str(tmp_path / "haproxy"),
        "ca_file": "ca.pem",
        "cert_file": "agent.pem",
        "key_file": "agent.key",
        "heartbeat_targets": ["127.0.0.1:5555"],
        "heartbeat_key_hex": "00" * 32,
    }
    path.write_text(json.dumps(fields))
    return path


def test_settings_are_kept_in_the_file_and_taken(tmp_path: Path) -> None:
    path = _config(tmp_path)
    config = AgentConfig.load(path)
    config.apply_settings(AgentSettings(heartbeat_targets=["10.0.0.1:6000"], heartbeat_interval=2))
    assert (config.heartbeat_targets, config.heartbeat_interval) == (["10.0.0.1:6000"], 2.0)
    again = AgentConfig.load(path)
    assert again.heartbeat_targets == ["10.0.0.1:6000"]
    assert again.heartbeat_key_hex == "00" * 32
    assert path.stat().st_mode & 0o077 == 0


def test_pushed_log_forwarding_is_kept_and_a_push_without_it_keeps_the_current(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path)
    config = AgentConfig.load(path)
    logs = LogForwarding(admin_targets=["192.0.2.1:514"], protocol="TCP", retry_count=9)
    config.apply_settings(
        AgentSettings(heartbeat_targets=[], heartbeat_interval=1, log_forwarding=logs)
    )
    assert config.log_forwarding == logs
    assert AgentConfig.load(path).log_forwarding == logs
    config.apply_settings(AgentSettings(heartbeat_targets=[], heartbeat_interval=1))
    assert AgentConfig.load(path).log_forwarding == logs
    assert config.settings().log_forwarding == logs


def test_a_file_that_cannot_be_written_leaves_the_running_settings(tmp_path: Path) -> None:
    path = _config(tmp_path)
    config = AgentConfig.load(path)
    path.unlink()
    path.mkdir()  # os.replace onto a directory fails
    with pytest.raises(OSError):
        config.apply_settings(AgentSettings(heartbeat_targets=[], heartbeat_interval=5))
    assert (config.heartbeat_targets, config.heartbeat_interval) == (["127.0.0.1:5555"], 1.0)


def test_unknown_api_versions_are_refused_and_known_ones_ordered(tmp_path: Path) -> None:
    fields = json.loads(_config(tmp_path).read_text())
    versions = ["1.0", "1.2", "1.1"]
    assert AgentConfig.model_validate(fields | {"api_versions": versions}).api_versions == [
        "1.2",
        "1.1",
        "1.0",
    ]
    for bad in (["2.0"], []):
        with pytest.raises(ValueError, match="api_versions"):
            AgentConfig.model_validate(fields | {"api_versions": bad})
