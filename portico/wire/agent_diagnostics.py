"""The agent API's diagnostics and log bodies (version 1.0, added within it).

``GET /1.0/diagnostics`` is what a support engineer needs beyond ``/1.0/details``: haproxy's
own view through its runtime socket (``show info``, ``show stat``, ``show errors``), the hash
of the configuration files as they are on disk now (an edited or corrupted file shows as a
hash that differs from the one the controller expects), and the last reload's outcome.
``GET /1.0/logs/{source}`` pages through one of the amphora's log files from its end.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    # As agent_api's bodies: fields a newer agent adds are ignored by an older controller.
    model_config = ConfigDict(extra="ignore", frozen=True)


class LogSource(StrEnum):
    """The log files an agent serves (see docs/admin-api.md)."""

    HAPROXY = "haproxy"  # the haproxy master's output (reloads, alerts)
    AGENT = "agent"  # the agent's own log
    TENANT = "tenant"  # flow logs, written by the agent's log sink when enabled
    ADMIN = "admin"  # haproxy's administrative logs, idem


class LogTargetState(_Body):
    """One syslog target of the amphora's log relay: what it was given, what became of it."""

    stream: str  # tenant or admin
    target: str
    protocol: str
    # TCP: a connection is open now (UDP has none to lose: always true).
    connected: bool
    queued: int
    sent: int
    # Lines over the queue's bound (TCP), or that the kernel refused (UDP) with no backup
    # target behind this one to take them.
    dropped_queue_full: int
    # TCP: lines dropped when log_retry_count attempts to connect failed (the last target of
    # its stream only: the others hand their lines on instead).
    dropped_retries_exhausted: int
    # A stream's targets are listed in order: each line goes to the first one not suspended.
    # Suspended: its retries ran out (TCP) or a send was refused (UDP), so the targets behind
    # it take its lines until it connects again (UDP: until log_retry_interval has passed).
    # The defaults are what an agent from before backups means: never suspended.
    suspended: bool = False
    # Lines this target handed on to the targets behind it when it was suspended.
    handed_over: int = 0


class RuntimeDiagnostics(_Body):
    """``GET /1.0/diagnostics``."""

    haproxy_running: bool
    generation: int
    # What the agent recorded when it applied (state.json), and the hash of the files on disk
    # now, computed as ``config_hash`` does: they differ when someone edited the files.
    recorded_config_hash: str | None
    disk_config_hash: str | None
    last_reload_ok: bool | None = None
    last_reload_output: str | None = None
    # haproxy's runtime API answers (empty while haproxy is stopped).
    show_info: dict[str, str] = Field(default_factory=dict)
    show_stat: list[dict[str, str]] = Field(default_factory=list)
    show_errors: str = ""
    # Why the runtime socket did not answer, if it did not.
    runtime_error: str | None = None
    # The log relay's targets, since the agent started (or last took pushed log settings).
    log_targets: list[LogTargetState] = Field(default_factory=list)


class LogLine(_Body):
    """One line and the byte offset where it starts in its file."""

    offset: int
    text: str


class LogPage(_Body):
    """``GET /1.0/logs/{source}``: consecutive lines of one file, oldest first.

    ``start`` is where the first line begins and ``end`` where the last one ends (both byte
    offsets into the file as it is now); ``size`` is the file's size. A missing file is an
    empty page with ``exists`` false.
    """

    source: LogSource
    exists: bool
    size: int
    start: int
    end: int
    lines: list[LogLine]
