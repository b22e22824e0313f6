"""The agent's HTTPS API, versions 1.0 to 1.2 (see docs/agent-api.md for the contract).

The agent stores, validates, applies and reports; it renders nothing. Mutual TLS is enforced
by the server (``server.py``): only clients holding a certificate from the controller's CA
reach these routes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from portico.agent import details, runtime_socket
from portico.agent.agent_logs import LogOffloading
from portico.agent.config import AgentConfig
from portico.agent.diagnostics_api import diagnostics_router
from portico.agent.errors import AgentError, stale
from portico.agent.haproxy import ConfigRejected, HaproxyManager, ReloadFailed
from portico.agent.keepalived import KeepalivedManager
from portico.agent.runtime_ops import apply_ops
from portico.agent.supervisor import Supervisor
from portico.agent.vrrp_api import handover_router, vrrp_router
from portico.wire.agent_api import (
    HANDOVER_API_VERSION,
    SETTINGS_API_VERSION,
    AgentInfo,
    AgentSettings,
    ApiVersions,
    CertificateUpdate,
    ConfigPush,
    ConfigResult,
    ConfigState,
    Details,
    ErrorBody,
    HaproxyAction,
    HaproxyStatus,
    RuntimeChange,
    StatRow,
    Stats,
    at_least,
)
from portico.wire.config_hash import config_hash


class Pushes:
    """Serialises pushes and coalesces them: the newest waiting generation wins.

    A push first waits for the manager's lock. Whoever gets it applies the newest push that
    arrived meanwhile (not necessarily its own), so N concurrent pushes cost fewer than N
    reloads. A push whose generation is no longer the newest is answered with what is
    applied (``unchanged`` and the newer generation), never applied after a newer one.
    """

    def __init__(self, manager: HaproxyManager) -> None:
        self.manager = manager
        self.newest: ConfigPush | None = None

    def _check_fresh(self, generation: int) -> None:
        if generation < self.manager.state.generation:
            raise stale(generation, self.manager.state.generation)

    def _applied(self) -> ConfigResult:
        state = self.manager.state
        return ConfigResult(
            generation=state.generation, config_hash=state.config_hash or "", action="unchanged"
        )

    async def apply(self, push: ConfigPush) -> ConfigResult:
        self._check_fresh(push.generation)
        if self.newest is None or push.generation >= self.newest.generation:
            self.newest = push
        async with self.manager.lock:
            if self.manager.state.generation > push.generation:
                # A newer push was applied while we waited (perhaps carrying this one's work).
                return self._applied()
            target = push
            if self.newest is not None and self.newest.generation >= push.generation:
                target = self.newest
            if self.newest is not None and self.newest.generation <= target.generation:
                self.newest = None
            started = time.perf_counter()
            action = await self._apply(target)
            return ConfigResult(
                generation=target.generation,
                config_hash=config_hash(target),
                action=action,
                duration_ms=(time.perf_counter() - started) * 1000,
            )

    async def runtime(self, change: RuntimeChange) -> ConfigResult:
        push = change.config
        self._check_fresh(push.generation)
        async with self.manager.lock:
            if self.manager.state.generation > push.generation:
                # A newer configuration is applied; making these ops live would undo part of it.
                return self._applied()
            started = time.perf_counter()
            action = "unchanged"
            try:
                await self.manager.validate_push(push)
            except ConfigRejected as exc:
                raise AgentError(
                    400, "config_invalid", "haproxy -c refused it", exc.output
                ) from exc
            if self.manager.running and await apply_ops(self.manager.stats_socket, change.ops):
                self.manager.record_runtime(push)
            else:
                action = await self._apply(push)
            return ConfigResult(
                generation=push.generation,
                config_hash=config_hash(push),
                action=action,
                duration_ms=(time.perf_counter() - started) * 1000,
            )

    async def _apply(self, push: ConfigPush) -> str:
        try:
            return await self.manager.apply(push)
        except ConfigRejected as exc:
            raise AgentError(400, "config_invalid", "haproxy -c refused it", exc.output) from exc
        except ReloadFailed as exc:
            raise AgentError(
                500, "reload_failed", "reload failed; the last good config runs", exc.output
            ) from exc


def create_agent_app(
    config: AgentConfig,
    manager: HaproxyManager,
    info: AgentInfo,
    *,
    rotate_tls: Callable[[CertificateUpdate], None],
    supervisor: Supervisor,
    vrrp: KeepalivedManager,
    logs: LogOffloading | None = None,
) -> FastAPI:
    """The agent's routes, bound to one haproxy manager, its keepalived manager and the
    supervisor that restarts them; ``logs``: the log relay pushed log settings go to (none:
    they are kept for the next start only)."""
    app = FastAPI(title="portico amphora agent", version=info.agent_version, docs_url=None)
    app.include_router(diagnostics_router(config, manager, logs))
    core = APIRouter()
    pushes = Pushes(manager)

    @app.exception_handler(AgentError)
    async def agent_error(_request: Request, exc: AgentError) -> JSONResponse:
        return JSONResponse(exc.body.model_dump(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        body = ErrorBody(error="invalid_request", message=str(exc.errors())[:2000])
        return JSONResponse(body.model_dump(), status_code=400)

    @app.get("/")
    async def versions() -> ApiVersions:
        return ApiVersions(versions=list(config.api_versions))

    @core.get("/info")
    async def get_info() -> AgentInfo:
        return info

    @core.get("/details")
    async def get_details() -> Details:
        return await asyncio.to_thread(_details, config, manager, info, vrrp)

    @core.get("/config")
    async def get_config() -> ConfigState:
        return ConfigState(
            generation=manager.state.generation,
            config_hash=manager.state.config_hash,
            haproxy_running=manager.running,
        )

    @core.put("/config")
    async def put_config(push: ConfigPush) -> ConfigResult:
        return await pushes.apply(push)

    @core.post("/runtime")
    async def post_runtime(change: RuntimeChange) -> ConfigResult:
        return await pushes.runtime(change)

    @core.get("/haproxy")
    async def get_haproxy() -> HaproxyStatus:
        return _status(manager, supervisor)

    @core.put("/haproxy")
    async def put_haproxy(action: HaproxyAction) -> HaproxyStatus:
        async with manager.lock:
            try:
                if action.action == "stop":
                    await manager.stop()
                elif action.action == "start":
                    await manager.start()
                else:
                    await manager.reload()
            except ReloadFailed as exc:
                raise AgentError(
                    500, "reload_failed", f"{action.action} failed", exc.output
                ) from exc
        return _status(manager, supervisor)

    @core.get("/stats")
    async def get_stats() -> Stats:
        if not manager.running:
            return Stats(rows=[])
        try:
            text = await runtime_socket.command(manager.stats_socket, "show stat")
        except (OSError, TimeoutError) as exc:
            raise AgentError(503, "haproxy_unreachable", str(exc)) from exc
        return Stats(rows=[_row(r) for r in runtime_socket.parse_csv_stats(text)])

    @core.put("/certificate")
    async def put_certificate(update: CertificateUpdate) -> dict[str, Any]:
        try:
            await asyncio.to_thread(rotate_tls, update)
        except (ValueError, OSError) as exc:
            raise AgentError(400, "certificate_invalid", str(exc)) from exc
        return {"status": "rotated"}

    # Every version serves the routes of the versions before it (later versions only add):
    # 1.1 adds the settings, 1.2 the VRRP handover.
    vrrp_routes = vrrp_router(vrrp, supervisor, info)
    settings_routes = settings_router(config, logs)
    handover_routes = handover_router(vrrp, manager, supervisor)
    for version in config.api_versions:
        app.include_router(core, prefix=f"/{version}")
        app.include_router(vrrp_routes, prefix=f"/{version}")
        if at_least(version, SETTINGS_API_VERSION):
            app.include_router(settings_routes, prefix=f"/{version}")
        if at_least(version, HANDOVER_API_VERSION):
            app.include_router(handover_routes, prefix=f"/{version}")
    return app


def settings_router(config: AgentConfig, logs: LogOffloading | None) -> APIRouter:
    """API 1.1: the agent's heartbeat and log settings, read and replaced while it runs (the
    heartbeat sender reads them at every beat; the log relay is rebuilt when they change)."""
    router = APIRouter()

    @router.get("/settings")
    async def get_settings() -> AgentSettings:
        return config.settings()

    @router.put("/settings")
    async def put_settings(settings: AgentSettings) -> AgentSettings:
        if settings.heartbeat_targets and not config.heartbeat_key_hex:
            raise AgentError(409, "no_heartbeat_key", "this amphora has no heartbeat key")
        try:
            await asyncio.to_thread(config.apply_settings, settings)
        except OSError as exc:
            raise AgentError(500, "settings_not_saved", str(exc)) from exc
        if logs is not None:
            await logs.reconfigure(config.log_forwarding)
        return config.settings()

    return router


def _status(manager: HaproxyManager, supervisor: Supervisor) -> HaproxyStatus:
    return HaproxyStatus(
        running=manager.running,
        master_pid=manager.master_pid(),
        generation=manager.state.generation,
        config_hash=manager.state.config_hash,
        last_reload_ok=manager.last_reload_ok,
        last_reload_output=manager.last_reload_output,
        reloads=manager.reloads,
        worker_pids=details.children(master) if (master := manager.master_pid()) else [],
        restarts=supervisor.restarts,
        last_restart_at=supervisor.last_restart_at,
        last_restart_ok=supervisor.last_restart_ok,
    )


_KINDS = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}


def _int(row: dict[str, str], key: str) -> int:
    value = row.get(key, "")
    return int(value) if value.isdigit() else 0


def _row(row: dict[str, str]) -> StatRow:
    weight = row.get("weight", "")
    return StatRow(
        proxy=row.get("pxname", ""),
        name=row.get("svname", ""),
        kind=_KINDS.get(row.get("type", ""), "server"),
        status=row.get("status", ""),
        current_sessions=_int(row, "scur"),
        total_sessions=_int(row, "stot"),
        bytes_in=_int(row, "bin"),
        bytes_out=_int(row, "bout"),
        request_errors=_int(row, "ereq"),
        weight=int(weight) if weight.isdigit() else None,
        check_status=row.get("check_status") or None,
    )


def _details(
    config: AgentConfig, manager: HaproxyManager, info: AgentInfo, vrrp: KeepalivedManager
) -> Details:
    total, available = details.memory()
    disk_total, disk_free = details.disk(config.base_dir)
    pids = [details.os_pid()]
    # Each parent with its children: haproxy's master and workers, keepalived and its VRRP
    # process.
    for parent in (manager.master_pid(), vrrp.pid()):
        if parent is not None:
            pids += [parent, *details.children(parent)]
    processes = [found for found in map(details.process, pids) if found is not None]
    return Details(
        amphora_id=info.amphora_id,
        api_version=info.api_version,
        agent_version=info.agent_version,
        load=details.load(),
        memory_total_bytes=total,
        memory_available_bytes=available,
        disk_total_bytes=disk_total,
        disk_free_bytes=disk_free,
        processes=processes,
        interfaces=details.interfaces(),
        listeners=_listeners(manager.cfg_path),
        generation=manager.state.generation,
        config_hash=manager.state.config_hash,
    )


def _listeners(cfg: Path) -> list[str]:
    """The frontend names of the applied configuration (listener ids)."""
    if not cfg.exists():
        return []
    return [
        line.split()[1]
        for line in cfg.read_text().splitlines()
        if line.startswith("frontend ") and len(line.split()) > 1
    ]
