"""Settings of every portico process, read once by the composition root and passed down.

Values come from, in rising priority: defaults, the TOML config file named by
``PORTICO_CONFIG_FILE`` (or ``--config``), ``PORTICO_*`` environment variables, and CLI flags.
Each setting is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, IPvAnyNetwork
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "portico"


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the ``[portico]`` table (or the top level) of the TOML config file."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
            self._data = dict(raw.get("portico", raw))

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        # Unknown keys are passed on so that extra="forbid" reports typos in the file.
        return dict(self._data)


class SubnetSetting(BaseModel):
    """A subnet VIPs and members may be placed on (stands in for Neutron's subnets)."""

    id: str = "9f4c6a58-2f6e-4c55-9a35-7d1c0e7b0a01"
    name: str = "local"
    network_id: str = "5b7b4e1c-8a0b-4a59-b3f3-2c9d8f4e6a02"
    cidr: str = "127.64.0.0/10"
    ip_version: int = 4


class Settings(BaseSettings):
    """All settings; see docs/configuration.md for what each one does."""

    model_config = SettingsConfigDict(env_prefix="PORTICO_", extra="forbid")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    bind_host: str = "127.0.0.1"
    bind_port: int = Field(default=9876, ge=1, le=65535)
    api_base_url: str | None = None

    auth_strategy: Literal["noauth", "keystone"] = "noauth"
    noauth_default_project: str = "default-project"
    noauth_default_roles: list[str] = Field(default_factory=lambda: ["admin"])
    keystone_auth_url: str | None = None
    keystone_www_authenticate_uri: str | None = None
    keystone_service_username: str | None = None
    keystone_service_password: str | None = None
    keystone_service_project: str = "service"
    keystone_service_domain: str = "default"
    keystone_interface: Literal["public", "internal", "admin"] = "internal"
    keystone_cache_seconds: int = Field(default=300, ge=0)

    strict_pending_lock: bool = False
    enabled_provider_drivers: dict[str, str] = Field(
        default_factory=lambda: {
            "amphora": "The amphora provider: haproxy on amphorae managed by portico.",
            "noop": "The no-op provider: objects go ACTIVE at once.",
        }
    )
    default_provider_driver: str = "amphora"
    pagination_max_limit: int = Field(default=1000, ge=1)
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=4)
    # GET /metrics (Prometheus): scrapers carry no token, so only these client networks.
    metrics_enabled: bool = True
    metrics_allowed_cidrs: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("::1/128"),
        ]
    )

    default_quota_load_balancer: int = Field(default=-1, ge=-1)
    default_quota_listener: int = Field(default=-1, ge=-1)
    default_quota_pool: int = Field(default=-1, ge=-1)
    default_quota_member: int = Field(default=-1, ge=-1)
    default_quota_health_monitor: int = Field(default=-1, ge=-1)
    default_quota_l7policy: int = Field(default=-1, ge=-1)
    default_quota_l7rule: int = Field(default=-1, ge=-1)

    reconcile_interval: float = Field(default=1.0, gt=0)
    reconcile_workers: int = Field(default=4, ge=1)
    reconcile_lease_seconds: float = Field(default=30.0, gt=0)
    run_reconciler: bool = True

    compute_driver: str = "local"
    haproxy_binary: str = "haproxy"
    amphora_boot_timeout: float = Field(default=30.0, gt=0)
    amphora_cert_validity_days: float = Field(default=30.0, gt=0)
    cert_rotation_interval: float = Field(default=300.0, gt=0)
    amphora_image: str | None = None
    haproxy_hard_stop_after: int = Field(default=30, ge=1)
    netns_mgmt_bridge: str = Field(default="ptc-mgmt", pattern=r"^[A-Za-z0-9_.-]{1,15}$")
    netns_mgmt_cidr: str = "172.31.252.0/22"
    netns_agent_port: int = Field(default=9443, ge=1, le=65535)

    run_health: bool = True
    health_bind_host: str = "127.0.0.1"
    health_bind_port: int = Field(default=5555, ge=1, le=65535)
    heartbeat_interval: float = Field(default=1.0, gt=0)
    heartbeat_secret: str | None = None
    # Health services amphorae send heartbeats to ("host:port"); empty: this process's own.
    heartbeat_targets: list[str] = Field(default_factory=list)
    heartbeat_timeout: float = Field(default=3.0, gt=0)
    # Circuit breaker: a count ("10") or a share of live amphorae ("20%"); empty: off.
    failover_threshold: str | None = Field(default="10", pattern=r"^\s*\d+(\.\d+)?\s*%?\s*$")
    spares_pool_size: int = Field(default=0, ge=0)
    spares_interval: float = Field(default=5.0, gt=0)
    # ACTIVE_STANDBY (keepalived, VRRPv3): seconds between adverts (the BACKUP takes over
    # after about three missed), the check script's period in whole seconds and how many
    # failed (fall) or passed (rise) runs change its verdict, and haproxy's peers port.
    vrrp_advert_interval: float = Field(default=0.1, ge=0.01, le=255)
    vrrp_check_interval: int = Field(default=1, ge=1, le=60)
    vrrp_check_fall: int = Field(default=2, ge=1, le=10)
    vrrp_check_rise: int = Field(default=2, ge=1, le=10)
    haproxy_peers_port: int = Field(default=1025, ge=1, le=65535)

    # Webhooks every event is POSTed to (JSON), from the controller's outbox: each attempt
    # waits up to the timeout; failures retry after backoff * 2^(attempt-1), at most
    # max_backoff, until max_attempts; the outbox is polled every interval.
    event_webhooks: list[Annotated[str, Field(pattern=r"^https?://[^/\s]+")]] = Field(
        default_factory=list
    )
    event_webhook_timeout: float = Field(default=5.0, gt=0)
    event_webhook_max_attempts: int = Field(default=8, ge=1)
    event_webhook_backoff: float = Field(default=1.0, gt=0)
    event_webhook_max_backoff: float = Field(default=300.0, gt=0)
    event_webhook_interval: float = Field(default=1.0, gt=0)

    subnets: list[SubnetSetting] = Field(default_factory=lambda: [SubnetSetting()])

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get("PORTICO_CONFIG_FILE")
        toml = _TomlFileSource(settings_cls, Path(path) if path else None)
        return (init_settings, env_settings, toml)

    @property
    def effective_heartbeat_targets(self) -> list[str]:
        """Where amphorae booted now send heartbeats: the setting, or this health service."""
        if self.heartbeat_targets:
            return list(self.heartbeat_targets)
        return [f"{self.health_bind_host}:{self.health_bind_port}"]

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'portico.sqlite3'}"
