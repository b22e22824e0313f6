"""The agent's own settings, written by the compute driver when it creates the amphora."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

import portico
from portico.wire.agent_api import SUPPORTED_API_VERSIONS, AgentSettings
from portico.wire.log_forwarding import LogForwarding


class AgentConfig(BaseModel):
    """Where the agent listens, where it keeps its files, and its TLS identity."""

    model_config = ConfigDict(extra="forbid")

    amphora_id: str
    bind_host: str = "127.0.0.1"
    bind_port: int = Field(ge=1, le=65535)
    base_dir: Path
    haproxy_binary: str = "haproxy"
    ca_file: Path
    cert_file: Path
    key_file: Path
    # Reported in /info; a setting so tests can stand in for an older or newer image.
    agent_version: str = portico.__version__
    # The agent API versions served, newest first; an image with an older agent serves fewer
    # (a setting, like agent_version, so a test can stand in for one that knows only 1.0).
    api_versions: list[str] = Field(default_factory=lambda: list(SUPPORTED_API_VERSIONS))
    # Health services to send heartbeats to ("host:port"); none: the agent sends nothing.
    heartbeat_targets: list[str] = Field(default_factory=list)
    heartbeat_interval: float = Field(default=1.0, gt=0)
    # This amphora's signing key (derived by the controller from its secret), hex.
    heartbeat_key_hex: str | None = None
    # Log lines as JSON objects (the controller's use_json), else text.
    use_json: bool = False
    # Where haproxy's streams (and, with forward_all_logs, the agent's and keepalived's
    # lines) are shipped, and whether they are kept in local files.
    log_forwarding: LogForwarding = Field(default_factory=LogForwarding)
    # The file it was loaded from: settings pushed through the API are written back to it.
    _path: Path | None = PrivateAttr(default=None)

    @field_validator("api_versions")
    @classmethod
    def _known_versions(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in SUPPORTED_API_VERSIONS]
        if unknown or not value:
            raise ValueError(f"api_versions must be among {SUPPORTED_API_VERSIONS}: {unknown}")
        return [v for v in SUPPORTED_API_VERSIONS if v in value]

    @classmethod
    def load(cls, path: Path) -> AgentConfig:
        config = cls.model_validate(json.loads(path.read_text()))
        config._path = path
        return config

    def settings(self) -> AgentSettings:
        return AgentSettings(
            heartbeat_targets=self.heartbeat_targets,
            heartbeat_interval=self.heartbeat_interval,
            log_forwarding=self.log_forwarding,
        )

    def apply_settings(self, settings: AgentSettings) -> None:
        """Keep pushed settings for the next start (written atomically), then take them.

        The file first: if it cannot be written (``OSError``) the agent keeps what it runs.
        """
        updated = self.model_copy(
            update={
                "heartbeat_targets": list(settings.heartbeat_targets),
                "heartbeat_interval": settings.heartbeat_interval,
                "log_forwarding": settings.log_forwarding or self.log_forwarding,
            }
        )
        if self._path is not None:
            tmp = self._path.with_name(f"{self._path.name}.new")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the key
            with os.fdopen(fd, "w") as fh:
                fh.write(updated.model_dump_json())
            os.replace(tmp, self._path)
        self.heartbeat_targets = updated.heartbeat_targets
        self.heartbeat_interval = updated.heartbeat_interval
        self.log_forwarding = updated.log_forwarding
