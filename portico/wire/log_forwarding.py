"""Where an amphora's agent ships its log lines: the operator's syslog targets and retries.

The agent is the amphora's syslog relay (Octavia's amphorae run rsyslog for this): haproxy
sends both streams to the agent's sockets, and the agent writes them to the local files and
forwards them. The controller writes these settings into the agent's config when it creates
an amphora (Octavia renders its rsyslog configuration at boot too). Names and defaults are
Octavia's ``[amphora_agent]`` options.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LogForwarding(BaseModel):
    """An agent's log offloading settings (docs/operations.md, "Log offloading")."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # "ip:port" each, in order: a stream's lines go to its first target, and each later one is
    # a backup that gets them only while every target before it is suspended (see
    # agent/log_forward.py).
    tenant_targets: list[str] = Field(default_factory=list, max_length=16)
    admin_targets: list[str] = Field(default_factory=list, max_length=16)
    protocol: Literal["UDP", "TCP"] = "UDP"
    # LOG_LOCAL facilities: the administrative one marks the agent's and keepalived's lines.
    user_facility: int = Field(default=0, ge=0, le=7)
    admin_facility: int = Field(default=1, ge=0, le=7)
    # TCP: connection attempts for the line at the head of a target's queue before the target
    # is suspended and its lines go to the next target (rsyslog's action.resumeRetryCount),
    # or, for a stream's last target, that line is dropped; and the wait between them, which
    # is also how often a suspended target is tried again.
    retry_count: int = Field(default=5, ge=0, le=10_000)
    retry_interval: float = Field(default=2.0, gt=0, le=3600)
    # Lines a TCP target holds while it is away; newer ones are dropped and counted.
    queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
    # Also ship the agent's own records and keepalived's output to the admin targets.
    forward_all_logs: bool = False
    # Keep the streams in log/tenant.log and log/admin.log.
    local_storage: bool = True
