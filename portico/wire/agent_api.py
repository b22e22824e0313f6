"""The amphora agent API, versions 1.0, 1.1 and 1.2: the bodies controller and agent exchange.

Both sides import these models, so a field added here is seen by both; a change that an
older agent cannot understand needs a new API version served beside the old ones (1.1 adds
``/1.1/settings``, 1.2 ``/1.2/vrrp/handover``; every earlier route is served under each later
version too). Unknown fields are ignored on read
(``extra="ignore"``) so a newer agent may add fields without breaking an older controller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from portico.wire.log_forwarding import LogForwarding

# The version every route of 1.0 is called under: each later version still serves them.
API_VERSION = "1.0"
# 1.1: ``GET|PUT /1.1/settings`` (the agent's heartbeat settings, changed while it runs).
SETTINGS_API_VERSION = "1.1"
# 1.2: ``PUT /1.2/vrrp/handover`` (a MASTER hands the VIP over without failing a request).
HANDOVER_API_VERSION = "1.2"
# What an agent speaks, newest first; the controller picks the newest it knows too.
SUPPORTED_API_VERSIONS: tuple[str, ...] = (HANDOVER_API_VERSION, SETTINGS_API_VERSION, API_VERSION)


def newest_common(served: list[str]) -> str | None:
    """The newest version both this code and an agent serving ``served`` speak."""
    return next((v for v in SUPPORTED_API_VERSIONS if v in served), None)


def at_least(version: str, wanted: str) -> bool:
    """Whether ``version`` ("major.minor") has what ``wanted`` added (same major, not older).

    Versions only add within a major version, so an agent speaking 1.2 has 1.1's routes.
    """
    major, minor = (int(part) for part in version.split("."))
    wanted_major, wanted_minor = (int(part) for part in wanted.split("."))
    return major == wanted_major and minor >= wanted_minor


# "host:port" (a bracketed IPv6 address, a name or an IPv4 address, then the port).
_TARGET = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]{1,253}):\d{1,5}$"
HeartbeatTarget = Annotated[str, Field(pattern=_TARGET)]


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
    # New connections to the VIPs are dropped: a handover (API 1.2) ran and keepalived has
    # not been started since. Added within 1.0 (an older agent leaves it false).
    syn_drop: bool = False


class VrrpHandover(_Body):
    """``PUT /1.2/vrrp/handover``: stop being the MASTER without failing a client's request.

    The agent drops (does not reset) new TCP connections to the VIPs, so clients retransmit
    their SYN (after 1 s) to whoever holds the VIP next; waits until the listeners' current
    sessions reach zero, at most ``drain_seconds``; then stops keepalived (its priority 0
    advert hands the VIP to the peer) and removes the VIPs. API 1.2.
    """

    drain_seconds: float = Field(default=5.0, ge=0, le=25)


class VrrpHandoverResult(_Body):
    """The answer to ``PUT /1.2/vrrp/handover``."""

    # Whether this amphora held the VIPs when asked (a BACKUP has nothing to hand over).
    held_vips: bool
    # Whether the listeners' sessions reached zero before keepalived was stopped.
    drained: bool
    # Sessions still open when keepalived was stopped (reset once the VIP moves).
    sessions_left: int = Field(ge=0)
    seconds: float = Field(ge=0)
    vrrp: VrrpStatus


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


class AgentSettings(_Body):
    """``GET|PUT /1.1/settings``: where the agent sends heartbeats, and how often.

    Octavia's "Configure Amphora" pushes these: moving amphorae to another controller's
    health services is a settings push, not a new amphora. The agent applies them at once
    and keeps them in its config file, so a restarted agent keeps them too. API 1.1.
    """

    heartbeat_targets: list[HeartbeatTarget] = Field(max_length=16)
    heartbeat_interval: float = Field(gt=0, le=3600)
    # Log offloading (targets, TCP queue and retries, forward_all_logs), taken at once; None,
    # as from a controller that does not send it: the agent keeps what it has.
    log_forwarding: LogForwarding | None = None


class CertificateUpdate(_Body):
    """``PUT /1.0/certificate``: the agent's new server certificate (rotation before expiry).

    New TLS handshakes use it at once; open connections and haproxy are not touched.
    """

    certificate: str
    private_key: str
