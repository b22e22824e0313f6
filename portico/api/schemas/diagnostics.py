"""The body of ``GET /v2/portico/amphorae/{id}/diagnostics`` (see docs/admin-api.md).

What the database knows is always there; what the agent says is ``null`` when it did not
answer, with ``agent_error`` in Octavia's error shape saying why. ``config.in_sync`` compares
the hash the controller expects (rendered now) with the hash of the files on the amphora.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portico.orchestrator.diagnostics import AgentReport, Expected


@dataclass(frozen=True)
class DbFacts:
    """The amphora's view, its load balancer's state, and what the controller recorded of
    its last push (the hash and generation the agent confirmed)."""

    amphora: dict[str, Any]
    load_balancer: dict[str, Any] | None
    recorded_hash: str | None
    recorded_generation: int


def diagnostics_view(facts: DbFacts, expected: Expected, report: AgentReport) -> dict[str, Any]:
    runtime = report.runtime
    applied = runtime.disk_config_hash if runtime is not None else None
    in_sync = None
    if expected.config_hash is not None and runtime is not None:
        in_sync = expected.config_hash == applied
    return {
        "amphora": facts.amphora,
        "loadbalancer": facts.load_balancer,
        "config": {
            "expected_hash": expected.config_hash,
            "expected_generation": expected.generation,
            "expected_error": expected.error,
            "recorded_hash": facts.recorded_hash,
            "recorded_generation": facts.recorded_generation,
            "agent_hash": runtime.recorded_config_hash if runtime is not None else None,
            "agent_generation": runtime.generation if runtime is not None else None,
            "applied_hash": applied,
            "in_sync": in_sync,
        },
        "last_reload": None
        if runtime is None
        else {"ok": runtime.last_reload_ok, "output": runtime.last_reload_output},
        "haproxy": None
        if runtime is None
        else {
            "running": runtime.haproxy_running,
            "info": runtime.show_info,
            "stat": runtime.show_stat,
            "errors": runtime.show_errors,
            "runtime_error": runtime.runtime_error,
        },
        "log_targets": None
        if runtime is None
        else [target.model_dump(mode="json") for target in runtime.log_targets],
        "agent": report.details.model_dump(mode="json") if report.details is not None else None,
        "agent_error": None
        if report.error is None
        else {"faultcode": "Server", "faultstring": report.error.faultstring, "debuginfo": None},
    }
