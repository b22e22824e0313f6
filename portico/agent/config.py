"""The agent's own settings, written by the compute driver when it creates the amphora."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

import portico


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
    # Health services to send heartbeats to ("host:port"); none: the agent sends nothing.
    heartbeat_targets: list[str] = Field(default_factory=list)
    heartbeat_interval: float = Field(default=1.0, gt=0)
    # This amphora's signing key (derived by the controller from its secret), hex.
    heartbeat_key_hex: str | None = None

    @classmethod
    def load(cls, path: Path) -> AgentConfig:
        return cls.model_validate(json.loads(path.read_text()))
