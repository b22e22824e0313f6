"""Renders one load balancer's complete haproxy configuration (pure: no I/O).

Names are ids: a frontend per listener (``<listener id>``), a backend per listener and pool
pair (``<pool id>:<listener id>``, because member timeouts belong to the listener, as in
Octavia), a server per member (``<member id>``). The runtime planner relies on these names.

Paths are relative to the amphora's haproxy directory (the agent runs haproxy there), so the
same text runs on any amphora: ``run/stats.sock`` for the runtime API and ``certs/`` for TLS
material, which travels with the configuration in ``RenderedConfig.files``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from portico.domain.desired import ListenerSpec, LoadBalancerSpec, PoolSpec
from portico.render import log_lines, sections
from portico.render.capabilities import RenderTarget
from portico.render.errors import RenderError
from portico.render.log_lines import LogOptions
from portico.render.peers import SECTION, Peers
from portico.render.templating import environment
from portico.render.tls import TlsFiles
from portico.wire.capabilities import Capability

__all__ = [
    "LogOptions",
    "RenderError",
    "RenderOptions",
    "RenderedConfig",
    "backend_name",
    "render_haproxy",
]


@dataclass(frozen=True)
class RenderOptions:
    """Operator settings that shape every configuration."""

    hard_stop_after_seconds: int = 30
    # Per-listener defaults for timeouts Octavia does not expose.
    timeout_http_request_ms: int = 10_000
    timeout_http_keep_alive_ms: int = 10_000
    logs: LogOptions = field(default_factory=LogOptions)


@dataclass(frozen=True)
class RenderedConfig:
    """The configuration text and the files it names (under ``certs/``)."""

    text: str
    files: tuple[tuple[str, str], ...] = ()


def backend_name(pool_id: str, listener_id: str) -> str:
    return f"{pool_id}:{listener_id}"


def render_haproxy(
    spec: LoadBalancerSpec,
    target: RenderTarget,
    options: RenderOptions | None = None,
    *,
    peers: Peers | None = None,
) -> RenderedConfig:
    """The haproxy configuration for ``spec`` as ``target`` can run it.

    ``peers``: the amphora is one of an ACTIVE_STANDBY pair, whose stick tables are synced.

    Raises ``RenderError`` (shown to the user) for anything the amphora cannot run,
    including a value no quoting can make safe (the API refuses those first).
    """
    try:
        return _render(spec, target, options or RenderOptions(), peers)
    except RenderError:
        raise
    except ValueError as exc:  # an address, number or enum the API should have refused
        raise RenderError(f"load balancer {spec.id}: {exc}") from exc


def _render(
    spec: LoadBalancerSpec, target: RenderTarget, options: RenderOptions, peers: Peers | None
) -> RenderedConfig:
    files = TlsFiles(spec.certificates)
    section = SECTION if peers is not None else None
    frontends: list[sections.Section] = []
    backends: list[sections.Section] = []
    for listener in spec.listeners if spec.admin_state_up else ():
        pools = _pools_of(spec, listener)
        running = {pool.id for pool in pools}
        frontend = sections.frontend(spec, listener, target, files, running)
        http = sections.MODES.get(listener.protocol) == "http"
        frontend.lines.extend(
            log_lines.frontend_lines(
                project_id=spec.project_id, lb_id=spec.id, http=http, options=options.logs
            )
        )
        frontends.append(frontend)
        backends.extend(
            sections.backend(listener, pool, target, files, peers=section) for pool in pools
        )
    rings = target.has(Capability.LOG_RINGS)
    text = (
        environment()
        .get_template("haproxy.cfg.j2")
        .render(
            lb_id=spec.id,
            options=options,
            log_lines=log_lines.global_lines(options.logs, rings=rings),
            rings=log_lines.ring_sections(options.logs, rings=rings),
            frontends=frontends,
            backends=backends,
            peers=peers,
            peers_section=SECTION,
            peer_lines=peers.lines() if peers is not None else [],
        )
    )
    return RenderedConfig(text=text, files=files.items())


def _pools_of(spec: LoadBalancerSpec, listener: ListenerSpec) -> list[PoolSpec]:
    """The pools a listener sends traffic to: its default pool and its L7 redirect pools.

    A disabled pool gets no backend, as in Octavia: its listener has no default backend
    (503) and an L7 policy that redirects to it is skipped.
    """
    wanted: list[str] = []
    if listener.default_pool_id:
        wanted.append(listener.default_pool_id)
    for policy in listener.l7policies:
        if policy.redirect_pool_id and policy.redirect_pool_id not in wanted:
            wanted.append(policy.redirect_pool_id)
    found = (spec.pool(pool_id) for pool_id in wanted)
    return [pool for pool in found if pool is not None and pool.admin_state_up]
