"""The agent's VRRP routes (ACTIVE_STANDBY), version 1.0: keepalived and the interface lookup.

``PUT /1.0/vrrp`` applies the keepalived configuration the controller rendered for this
amphora of a pair; ``GET /1.0/vrrp`` reports it; ``GET /1.0/interface/{address}`` tells the
controller which interface carries an address (compute drivers name interfaces as they like,
and the rendered configuration must name the one VRRP runs on). Version 1.2 adds
``PUT /1.2/vrrp/handover`` (``handover``: a MASTER leaves without failing a request). See
docs/agent-api.md.
"""

from __future__ import annotations

import ipaddress
import time

from fastapi import APIRouter

from portico.agent import netif, syn_drop
from portico.agent.errors import AgentError, stale
from portico.agent.handover import hand_over
from portico.agent.haproxy import HaproxyManager
from portico.agent.keepalived import KeepalivedManager, VrrpFailed, VrrpRejected
from portico.agent.supervisor import Supervisor
from portico.wire.agent_api import (
    AgentInfo,
    InterfaceInfo,
    VrrpConfig,
    VrrpHandover,
    VrrpHandoverResult,
    VrrpStatus,
)


def vrrp_router(vrrp: KeepalivedManager, supervisor: Supervisor, info: AgentInfo) -> APIRouter:
    """The routes, bound to the amphora's keepalived manager and the supervisor restarting it."""
    router = APIRouter()  # mounted under every API version the agent serves

    @router.get("/vrrp")
    async def get_vrrp() -> VrrpStatus:
        return await vrrp_status(vrrp, supervisor)

    @router.put("/vrrp")
    async def put_vrrp(cfg: VrrpConfig) -> VrrpStatus:
        if info.keepalived_version is None:
            raise AgentError(409, "vrrp_unavailable", "keepalived is not installed here")
        for vip in cfg.vips:
            try:
                ipaddress.ip_interface(vip)
            except ValueError as exc:
                raise AgentError(400, "invalid_request", f"not an address: {vip!r}") from exc
        async with vrrp.lock:
            # Under the lock: a newer push may have been applied while this one waited.
            if cfg.generation < vrrp.state.generation:
                raise stale(cfg.generation, vrrp.state.generation)
            try:
                await vrrp.apply(cfg)
            except VrrpRejected as exc:
                raise AgentError(
                    400, "vrrp_config_invalid", "keepalived -t refused it", exc.output
                ) from exc
            except VrrpFailed as exc:
                raise AgentError(
                    500, "keepalived_failed", "keepalived did not start", exc.output
                ) from exc
        return await vrrp_status(vrrp, supervisor)

    @router.get("/interface/{address}")
    async def get_interface(address: str) -> InterfaceInfo:
        try:
            wanted = ipaddress.ip_address(address)
        except ValueError as exc:
            raise AgentError(400, "invalid_request", f"not an IP address: {address!r}") from exc
        try:
            found = netif.interface_of(await netif.links(), wanted)
        except netif.IpFailed as exc:
            raise AgentError(500, "ip_failed", str(exc)) from exc
        if found is None:
            raise AgentError(404, "not_found", f"no interface carries {address}")
        return InterfaceInfo(address=address, interface=found)

    return router


def handover_router(
    vrrp: KeepalivedManager, haproxy: HaproxyManager, supervisor: Supervisor
) -> APIRouter:
    """API 1.2: ``PUT /vrrp/handover``, mounted under 1.2 and every later version."""
    router = APIRouter()

    @router.put("/vrrp/handover")
    async def put_handover(request: VrrpHandover) -> VrrpHandoverResult:
        if not vrrp.configured:
            raise AgentError(409, "vrrp_not_configured", "no VRRP configuration is applied")
        started = time.monotonic()
        async with vrrp.lock:
            try:
                held, drained, left = await hand_over(
                    vrrp, haproxy, drain_seconds=request.drain_seconds
                )
            except (syn_drop.TcFailed, VrrpFailed) as exc:
                raise AgentError(
                    500, "syn_drop_failed", "new connections cannot be dropped", str(exc)
                ) from exc
        return VrrpHandoverResult(
            held_vips=held,
            drained=drained,
            sessions_left=left,
            seconds=time.monotonic() - started,
            vrrp=await vrrp_status(vrrp, supervisor),
        )

    return router


async def vrrp_status(vrrp: KeepalivedManager, supervisor: Supervisor) -> VrrpStatus:
    """keepalived as the agent sees it now (``configured=False`` before the first PUT)."""
    return VrrpStatus(
        configured=vrrp.configured,
        running=vrrp.running,
        pid=vrrp.pid(),
        generation=vrrp.state.generation,
        config_hash=vrrp.state.config_hash,
        holds_vips=await vrrp.holds_vips(),
        haproxy_ok=vrrp.haproxy_ok is True,
        restarts=supervisor.keepalived_restarts,
        last_error=vrrp.last_error,
        syn_drop=vrrp.state.syn_drop,
    )
