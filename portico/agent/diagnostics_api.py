"""The agent's diagnostics routes, version 1.0: haproxy's runtime view and the log files.

``GET /1.0/diagnostics`` asks haproxy itself, over its runtime socket (``show info``,
``show stat``, ``show errors``), and hashes the configuration files as they are on disk, so a
support engineer sees what really runs rather than what the agent recorded. ``GET
/1.0/logs/{source}`` pages through a log file from its end (``log_tail``). Read-only: neither
route changes anything on the amphora. See docs/agent-api.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query

from portico.agent import log_tail, runtime_socket
from portico.agent.agent_logs import LogOffloading
from portico.agent.config import AgentConfig
from portico.agent.errors import AgentError
from portico.agent.haproxy import HaproxyManager
from portico.wire.agent_api import API_VERSION
from portico.wire.agent_diagnostics import LogPage, LogSource, RuntimeDiagnostics
from portico.wire.log_streams import ADMIN, TENANT, LogStream

MAX_LOG_LINES = 1000
# The log sink's files (``agent/log_sink.py``), named where the renderer names them too.
_STREAMS: dict[LogSource, LogStream] = {LogSource.TENANT: TENANT, LogSource.ADMIN: ADMIN}
# ``show errors`` keeps a copy of every invalid request haproxy saw: bounded, it can be long.
MAX_ERRORS_CHARS = 64_000


def log_path(config: AgentConfig, source: LogSource) -> Path:
    """Where each source lives. The compute drivers start the agent with its output in
    ``agent.log`` beside its base directory (``drivers/compute/processes.py``); the others
    are under ``log/`` of the base directory (haproxy's by the manager, tenant and admin by
    the agent's log sink, as ``wire.log_streams`` names them)."""
    if source is LogSource.AGENT:
        return config.base_dir.parent / "agent.log"
    if source is LogSource.HAPROXY:
        return config.base_dir / "log" / "haproxy.log"
    return config.base_dir / _STREAMS[source].file


def diagnostics_router(
    config: AgentConfig, manager: HaproxyManager, logs: LogOffloading | None
) -> APIRouter:
    """The routes, bound to the amphora's haproxy manager, its directories and log relay."""
    router = APIRouter(prefix=f"/{API_VERSION}")

    @router.get("/diagnostics")
    async def get_diagnostics() -> RuntimeDiagnostics:
        found = await diagnose(manager)
        if logs is None:
            return found
        return found.model_copy(update={"log_targets": logs.forwarder.stats()})

    @router.get("/logs/{source}")
    async def get_logs(
        source: LogSource,
        limit: Annotated[int, Query(ge=1, le=MAX_LOG_LINES)] = 100,
        before: Annotated[int | None, Query(ge=0)] = None,
        after: Annotated[int | None, Query(ge=0)] = None,
    ) -> LogPage:
        if before is not None and after is not None:
            raise AgentError(400, "invalid_request", "give before or after, not both")
        return await asyncio.to_thread(
            log_tail.read_page,
            log_path(config, source),
            source,
            limit=limit,
            before=before,
            after=after,
        )

    return router


async def diagnose(manager: HaproxyManager) -> RuntimeDiagnostics:
    """haproxy's answers and the applied files' hash; a silent socket is reported, not raised."""
    info: dict[str, str] = {}
    stat: list[dict[str, str]] = []
    errors, failure = "", None
    if manager.running:
        try:
            info = _parse_info(await runtime_socket.command(manager.stats_socket, "show info"))
            text = await runtime_socket.command(manager.stats_socket, "show stat")
            # Only the columns that have a value: a row has some eighty, most empty.
            stat = [
                {k: v for k, v in row.items() if v} for row in runtime_socket.parse_csv_stats(text)
            ]
            errors = await runtime_socket.command(manager.stats_socket, "show errors")
        except (OSError, TimeoutError) as exc:
            failure = f"haproxy's runtime socket did not answer: {exc!r}"
    return RuntimeDiagnostics(
        haproxy_running=manager.running,
        generation=manager.state.generation,
        recorded_config_hash=manager.state.config_hash,
        disk_config_hash=await asyncio.to_thread(manager.disk_hash),
        last_reload_ok=manager.last_reload_ok,
        last_reload_output=manager.last_reload_output,
        show_info=info,
        show_stat=stat,
        show_errors=errors[-MAX_ERRORS_CHARS:],
        runtime_error=failure,
    )


def _parse_info(text: str) -> dict[str, str]:
    """``show info``'s ``Name: value`` lines."""
    pairs = (line.partition(":") for line in text.splitlines())
    return {name.strip(): value.strip() for name, sep, value in pairs if sep and name.strip()}
