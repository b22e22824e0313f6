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

from pydantic import AfterValidator, BaseModel, Field, IPvAnyNetwork
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from portico.domain.constants import DEFAULT_USER_LOG_FORMAT
from portico.wire.log_forwarding import LogForwarding

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


def _log_target(value: str) -> str:
    """``ip:port`` (IPv6 bare or in brackets: the port is after the last colon), normalised."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r}: expected ip:port")
    ip = ipaddress.ip_address(host.strip("[]"))
    return f"[{ip}]:{int(port)}" if ip.version == 6 else f"{ip}:{int(port)}"


class SubnetSetting(BaseModel):
    """A subnet VIPs and members may be placed on (stands in for Neutron's subnets)."""

    id: str = "9f4c6a58-2f6e-4c55-9a35-7d1c0e7b0a01"
    name: str = "local"
    network_id: str = "5b7b4e1c-8a0b-4a59-b3f3-2c9d8f4e6a02"
    cidr: str = "127.64.0.0/10"
    ip_version: int = 4


class ImageSetting(BaseModel):
    """An image the ``local`` and ``netns`` drivers can boot (their stand-in for Glance).

    Their amphorae all run this host's agent; an image says which agent it stands for: the
    version it reports (default: the image's name) and the agent API versions it serves
    (default: every version this code speaks; ``["1.0"]`` is an amphora of an older image).
    """

    agent_version: str | None = None
    api_versions: list[Literal["1.0", "1.1", "1.2"]] | None = None


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
    # API rate limiting per project (api/rate_limit.py): a token bucket per project id in
    # each API process, refilled at api_rate_limit requests/s (None: off), holding at most
    # api_rate_limit_burst; admins are exempt unless api_rate_limit_admin_exempt is false.
    api_rate_limit: float | None = Field(default=None, gt=0)
    api_rate_limit_burst: int = Field(default=20, ge=1)
    api_rate_limit_admin_exempt: bool = True
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
    # The images the local and netns drivers offer, by name. Empty: any name boots, the
    # agent reporting the name as its version; else a name not listed fails to boot, like
    # an image missing from the cloud's catalogue.
    compute_images: dict[str, ImageSetting] = Field(default_factory=dict)
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
    # failed (fall) or passed (rise) runs change its verdict, and haproxy's peers port; how
    # often (s, 0: never) the MASTER repeats its gratuitous ARPs, and how many (Octavia's
    # vrrp_garp_refresh_interval and vrrp_garp_refresh_count).
    vrrp_advert_interval: float = Field(default=0.1, ge=0.01, le=255)
    vrrp_check_interval: int = Field(default=1, ge=1, le=60)
    vrrp_check_fall: int = Field(default=2, ge=1, le=10)
    vrrp_check_rise: int = Field(default=2, ge=1, le=10)
    vrrp_garp_refresh_interval: int = Field(default=5, ge=0, le=3600)
    vrrp_garp_refresh_count: int = Field(default=2, ge=1, le=255)
    # How long a leaving MASTER (agent API 1.2) waits for its sessions to end before it hands
    # the VIP over; new connections wait meanwhile (docs/operations.md, upgrades).
    vrrp_drain_timeout: float = Field(default=5.0, ge=0, le=25)
    haproxy_peers_port: int = Field(default=1025, ge=1, le=65535)

    # Log offloading (Octavia's [amphora_agent] and [haproxy_amphora] names): syslog
    # receivers ("ip:port", every one gets every line) for tenant flow logs and haproxy's
    # admin logs, their transport and LOG_LOCAL facilities; whether the agent also keeps
    # them in log/tenant.log and log/admin.log; whether flow logs exist at all; their
    # format ({{ project_id }} and {{ lb_id }} are filled in). Over TCP: lines each target
    # holds while away, connection attempts per line before it is dropped and the seconds
    # between them. forward_all_logs: the agent's and keepalived's lines to the admin targets.
    tenant_log_targets: list[Annotated[str, AfterValidator(_log_target)]] = Field(
        default_factory=list
    )
    admin_log_targets: list[Annotated[str, AfterValidator(_log_target)]] = Field(
        default_factory=list
    )
    log_protocol: Literal["UDP", "TCP"] = "UDP"
    user_log_facility: int = Field(default=0, ge=0, le=7)
    administrative_log_facility: int = Field(default=1, ge=0, le=7)
    disable_local_log_storage: bool = False
    connection_logging: bool = True
    user_log_format: str = Field(
        default=DEFAULT_USER_LOG_FORMAT,
        min_length=1,
        pattern=r"^[^\x00-\x1f\x7f]+$",
    )
    log_queue_size: int = Field(default=10000, ge=100, le=1_000_000)
    log_retry_count: int = Field(default=5, ge=0, le=10_000)
    log_retry_interval: float = Field(default=2, gt=0, le=3600)
    forward_all_logs: bool = False
    # portico's own log lines: JSON objects (oslo.log's use_json) or text.
    use_json: bool = False

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

    # Housekeeping (Octavia's [house_keeping]): a pass every interval purges amphora rows
    # DELETED (and unheard) for longer than amphora_expiry_age seconds and events older than
    # event_expiry_age, and reaps orphans (instances without a row, rows without an instance).
    housekeeping_interval: float = Field(default=30.0, gt=0)
    amphora_expiry_age: float = Field(default=604800.0, ge=0)
    event_expiry_age: float = Field(default=2592000.0, ge=0)
    reap_orphans: bool = True

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

    def log_forwarding(self) -> LogForwarding:
        """The log offloading settings an amphora's agent boots with (in its agent.json)."""
        return LogForwarding(
            tenant_targets=list(self.tenant_log_targets),
            admin_targets=list(self.admin_log_targets),
            protocol=self.log_protocol,
            user_facility=self.user_log_facility,
            admin_facility=self.administrative_log_facility,
            retry_count=self.log_retry_count,
            retry_interval=self.log_retry_interval,
            queue_size=self.log_queue_size,
            forward_all_logs=self.forward_all_logs,
            local_storage=not self.disable_local_log_storage,
        )

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
