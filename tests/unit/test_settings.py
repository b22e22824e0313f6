"""Settings: sources and their priority, and that every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portico.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", DOCS.read_text(), re.MULTILINE))
    assert set(Settings.model_fields) - documented == set()


def test_config_file_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "portico.toml"
    config.write_text("[portico]\nbind_port = 9000\nstrict_pending_lock = true\n")
    monkeypatch.setenv("PORTICO_CONFIG_FILE", str(config))
    assert Settings().bind_port == 9000
    assert Settings().strict_pending_lock is True
    monkeypatch.setenv("PORTICO_BIND_PORT", "9100")
    assert Settings().bind_port == 9100
    assert Settings(bind_port=9200).bind_port == 9200


def test_sqlite_in_data_dir_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'portico.sqlite3'}"


def test_unknown_setting_in_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "portico.toml"
    config.write_text("bogus_setting = 1\n")
    monkeypatch.setenv("PORTICO_CONFIG_FILE", str(config))
    with pytest.raises(ValueError, match="bogus_setting"):
        Settings()


def test_log_offloading_settings_have_octavias_names_defaults_and_bounds(tmp_path: Path) -> None:
    logs = Settings(data_dir=tmp_path).log_forwarding()
    assert (logs.retry_count, logs.retry_interval, logs.queue_size) == (5, 2, 10000)
    assert (logs.forward_all_logs, logs.local_storage, logs.protocol) == (False, True, "UDP")
    chosen = Settings(
        data_dir=tmp_path,
        admin_log_targets=["[2001:db8::1]:514"],
        log_protocol="TCP",
        log_retry_count=0,
        log_retry_interval=0.5,
        forward_all_logs=True,
        disable_local_log_storage=True,
        administrative_log_facility=3,
    ).log_forwarding()
    assert chosen.admin_targets == ["[2001:db8::1]:514"]
    assert (chosen.protocol, chosen.retry_count, chosen.retry_interval) == ("TCP", 0, 0.5)
    assert (chosen.forward_all_logs, chosen.local_storage, chosen.admin_facility) == (
        True,
        False,
        3,
    )
    for bad in (
        {"log_retry_count": -1},
        {"log_retry_interval": 0},
        {"log_protocol": "RELP"},
        {"forward_all_logs": "sometimes"},
    ):
        with pytest.raises(ValueError):
            Settings(data_dir=tmp_path, **bad)
