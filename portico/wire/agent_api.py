"""The amphora agent API, version 1.0: the bodies controller and agent exchange.

Both sides import these models, so a field added here is seen by both; a change that an
older agent cannot understand needs a new API version (``/2.0/``) served beside this one.
Unknown fields are ignored on read (``extra="ignore"``) so a newer agent may add fields
without breaking an older controller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "1.0"
# What an agent speaks, newest first; the controller picks the newest it knows too.
SUPPORTED_API_VERSIONS: tuple[str, ...] = (API_VERSION,)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ApiVersions(_Body):
    """``GET /``: the API versions this agent serves."""

    versions: list[str]


class AgentInfo(_Body):
    """``GET /1.0/info``: what the amphora runs and can do; the controller renders for it."""

    api_version: str
    agent_version: str
    amphora_id: str
    haproxy_version: str | None = None
    openssl_version: str | None = None
    keepalived_version: str | None = None
    # Feature names the amphora supports (see ``Capability`` in portico.wire.capabilities).
    capabilities: list[str] = Field(default_factory=list)


class TlsFile(_Body):
    """One PEM file the configuration refers to, by its name relative to the certs dir."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    content: str


class ConfigPush(_Body):
    """``PUT /1.0/config``: a complete haproxy configuration tagged with its generation."""

    generation: int = Field(ge=0)
    haproxy_cfg: str
    files: list[TlsFile] = Field(default_factory=list)


class ConfigResult(_Body):
    """The outcome of a push: the applied generation, its hash and how it was applied."""

    generation: int
    config_hash: str
    action: Literal["unchanged", "started", "reloaded"]
    duration_ms: float = 0.0


class ConfigState(_Body):
    """``GET /1.0/config``: what the agent runs now."""

    generation: int
    config_hash: str | None
    haproxy_running: bool


class ServerOp(_Body):
    """One runtime change to a server (member) of a backend (pool), applied without reload.

    ``add`` and ``delete`` need dynamic servers (capability ``dynamic_servers``); ``add``
    carries the server line's options as rendered by the controller.
    """

    op: Literal["weight", "state", "add", "delete"]
    backend: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    server: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    weight: int | None = Field(default=None, ge=0, le=256)
    state: Literal["ready", "drain", "maint"] | None = None
    address: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    options: str | None = None


class RuntimeChange(_Body):
    """``POST /1.0/runtime``: server changes plus the configuration that already includes them.

    The agent applies ``ops`` through haproxy's runtime API, then stores ``config`` as the
    applied configuration without reloading, so the next reload keeps what was changed live.
    If any op fails the agent falls back to a reload of ``config``.
    """

    ops: list[ServerOp]
    config: ConfigPush


class HaproxyStatus(_Body):
    """``GET /1.0/haproxy``."""

    running: bool
    master_pid: int | None = None
    generation: int = 0
    config_hash: str | None = None
    last_reload_ok: bool | None = None
    last_reload_output: str | None = None
    # Reloads made by this agent process since it started (runtime changes make none), and
    # the master's current workers: both let an operator (and tests) see that a change was
    # made live. Added within 1.0: an older agent leaves the defaults.
    reloads: int = 0
    worker_pids: list[int] = Field(default_factory=list)
    # The agent's supervisor restarts a haproxy that died while it should run: attempts since
    # the agent started, when the last began (UTC) and whether it came up (``None`` while it
    # is under way). Added within 1.0.
    restarts: int = 0
    last_restart_at: datetime | None = None
    last_restart_ok: bool | None = None


class HaproxyAction(_Body):
    """``PUT /1.0/haproxy``: start, stop or reload the last applied configuration."""

    action: Literal["start", "stop", "reload"]


class StatRow(_Body):
    """One row of haproxy's ``show stat``: a frontend, backend or server."""

    proxy: str
    name: str
    kind: Literal["frontend", "backend", "server", "listener"]
    status: str
    current_sessions: int = 0
    total_sessions: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    request_errors: int = 0
    weight: int | None = None
    check_status: str | None = None


class Stats(_Body):
    """``GET /1.0/stats``."""

    rows: list[StatRow]


class InterfaceCounters(_Body):
    name: str
    addresses: list[str] = Field(default_factory=list)
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0


class ProcessInfo(_Body):
    pid: int
    name: str
    rss_bytes: int = 0


class Details(_Body):
    """``GET /1.0/details``: the amphora's health as an operator wants to see it."""

    amphora_id: str
    api_version: str
    agent_version: str
    load: list[float]
    memory_total_bytes: int
    memory_available_bytes: int
    disk_total_bytes: int
    disk_free_bytes: int
    processes: list[ProcessInfo]
    interfaces: list[InterfaceCounters]
    listeners: list[str]
    generation: int
    config_hash: str | None


class VrrpConfig(_Body):
    """``PUT /1.0/vrrp``: keepalived's configuration for an ACTIVE_STANDBY pair.

    Rendered by the controller. It names the agent's own files as ``${AMPHORA_DIR}/...``: the
    agent defines that keepalived variable as its base directory when it writes the file,
    since only the agent knows where it keeps them (the check script
    ``vrrp/check-haproxy.sh`` and the track file ``vrrp/haproxy-state``, see
    docs/agent-api.md). ``vips`` (``address/prefixlen``) are the addresses keepalived moves
    on ``interface``: the agent removes them itself when keepalived dies, because a
    keepalived killed with -9 leaves them configured (two amphorae would answer for them).
    Needs capability ``vrrp``. Added within 1.0.
    """

    generation: int = Field(ge=0)
    keepalived_cfg: str
    interface: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,15}$")
    vips: list[str] = Field(min_length=1)


class VrrpStatus(_Body):
    """``GET /1.0/vrrp`` (and the answer to ``PUT``): keepalived as the agent sees it."""

    configured: bool
    running: bool
    pid: int | None = None
    generation: int = 0
    config_hash: str | None = None
    # Every VIP of the configuration is on the interface: this amphora is the MASTER.
    holds_vips: bool = False
    # What the track file tells keepalived: haproxy runs here (``False``: FAULT, VIP released).
    haproxy_ok: bool = False
    # keepalived restarts made by the agent's supervisor since the agent started.
    restarts: int = 0
    # keepalived's refusal of the last configuration (``keepalived -t``), if it refused.
    last_error: str | None = None


class InterfaceInfo(_Body):
    """``GET /1.0/interface/{address}``: the interface that carries an address on the amphora.

    The controller learns from it which interface VRRP runs on (compute drivers name
    interfaces as they like), as Octavia's agent answers it.
    """

    address: str
    interface: str


class ErrorBody(_Body):
    """Every agent error: a machine-readable code and a human message."""

    error: str
    message: str
    details: str | None = None


class CertificateUpdate(_Body):
    """``PUT /1.0/certificate``: the agent's new server certificate (rotation before expiry).

    New TLS handshakes use it at once; open connections and haproxy are not touched.
    """

    certificate: str
    private_key: str
