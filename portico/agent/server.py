"""Runs the agent: probe the software, adopt or start haproxy, serve HTTPS with mutual TLS.

The server requires a client certificate signed by the controller's CA (``CERT_REQUIRED``;
OpenSSL also checks that it is a client certificate, so another amphora's server certificate
does not pass). The server certificate can be replaced while running: new handshakes use the
new one, open connections and haproxy are untouched.

SIGTERM stops haproxy and keepalived too (the amphora is being deleted); SIGKILL leaves them
running, and the next agent started on the same directory adopts them. While the agent runs,
its supervisor restarts either when it dies (``supervisor.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl

import uvicorn

from portico.agent import probe
from portico.agent.agent_logs import LogOffloading
from portico.agent.app import create_agent_app
from portico.agent.config import AgentConfig
from portico.agent.haproxy import HaproxyManager, ReloadFailed
from portico.agent.heartbeat_sender import HeartbeatSender
from portico.agent.keepalived import KeepalivedManager, VrrpFailed
from portico.agent.supervisor import Supervisor
from portico.wire.agent_api import AgentInfo, CertificateUpdate
from portico.wire.log_setup import setup_logging

LOG = logging.getLogger(__name__)
GRACEFUL_SECONDS = 2


def detect_info(config: AgentConfig) -> AgentInfo:
    build = probe.haproxy_build(config.haproxy_binary)
    keepalived = probe.keepalived_version()
    return AgentInfo(
        api_version=config.api_versions[0],  # the newest it serves
        agent_version=config.agent_version,
        amphora_id=config.amphora_id,
        haproxy_version=probe.haproxy_version(build),
        openssl_version=probe.openssl_version(build),
        keepalived_version=keepalived,
        capabilities=probe.capabilities(build, keepalived=keepalived),
    )


def _write_private(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)


async def serve_agent(config: AgentConfig) -> None:
    manager = HaproxyManager(config.base_dir, binary=config.haproxy_binary)
    # Before haproxy starts, so its first lines are kept.
    logs = LogOffloading(config.log_forwarding, base_dir=config.base_dir, host=config.amphora_id)
    logs.start()
    vrrp = KeepalivedManager(config.base_dir, haproxy=manager)
    manager.on_change = vrrp.track_haproxy
    info = await asyncio.to_thread(detect_info, config)
    if manager.state.config_hash and not manager.running:
        # Rebooted amphora (or a restarted agent whose haproxy died): bring back what ran.
        with contextlib.suppress(ReloadFailed):  # the supervisor tries again
            await manager.start()
    if vrrp.configured:
        # Adopted if it runs (pid file alive); else started, after clearing what it left.
        vrrp.track_haproxy()
        with contextlib.suppress(VrrpFailed):  # the supervisor tries again
            await vrrp.start()
    supervisor = Supervisor(manager, vrrp=vrrp)

    def rotate_tls(update: CertificateUpdate) -> None:
        # Resolved at call time: uvicorn builds the context when the server starts.
        context = uv_config.ssl
        if context is None:
            raise ValueError("TLS is not configured")
        cert_tmp, key_tmp = f"{config.cert_file}.new", f"{config.key_file}.new"
        _write_private(cert_tmp, update.certificate)
        _write_private(key_tmp, update.private_key)
        # Check the pair on a throwaway context first: a bad upload must not break TLS.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_tmp, key_tmp)
        os.replace(cert_tmp, config.cert_file)
        os.replace(key_tmp, config.key_file)
        context.load_cert_chain(str(config.cert_file), str(config.key_file))

    uv_config = uvicorn.Config(
        create_agent_app(
            config,
            manager,
            info,
            rotate_tls=rotate_tls,
            supervisor=supervisor,
            vrrp=vrrp,
            logs=logs,
        ),
        host=config.bind_host,
        port=config.bind_port,
        ssl_certfile=str(config.cert_file),
        ssl_keyfile=str(config.key_file),
        ssl_ca_certs=str(config.ca_file),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        log_level="warning",
        log_config=None,  # its loggers propagate to the one handler of setup_logging
        lifespan="off",
        # Idle pooled connections of a controller never answer TLS close_notify; do not wait.
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    # Stopped only after the server: its shutdown stops haproxy and keepalived, which clears
    # their ``wanted``, so the supervisor never restarts those of an agent going away.
    tasks = [asyncio.create_task(supervisor.run())]
    if (beats := _start_heartbeats(config, manager)) is not None:
        tasks.append(beats)
    try:
        await _AgentServer(uv_config, manager, vrrp).serve()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await logs.close()


def _start_heartbeats(config: AgentConfig, manager: HaproxyManager) -> asyncio.Task[None] | None:
    # Started with a key even without targets: pushed settings (API 1.1) may name some later.
    if not config.heartbeat_key_hex:
        return None
    sender = HeartbeatSender(config, manager, key=bytes.fromhex(config.heartbeat_key_hex))
    return asyncio.create_task(sender.run())


class _AgentServer(uvicorn.Server):
    """On a graceful stop (SIGTERM/SIGINT) the amphora goes away with haproxy and keepalived.

    Done in ``shutdown`` because uvicorn re-raises the captured signal once ``serve``
    returns, which would end the process before any code after it runs.
    """

    def __init__(
        self, config: uvicorn.Config, manager: HaproxyManager, vrrp: KeepalivedManager
    ) -> None:
        super().__init__(config)
        self._manager = manager
        self._vrrp = vrrp

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # The processes first: closing the HTTPS connections can wait on TLS close_notify from
        # controllers that are not reading, and the compute driver kills a slow agent.
        # keepalived before haproxy: the VIP moves to the peer (keepalived sends priority 0)
        # while haproxy here still answers, rather than after it stopped listening.
        async with self._vrrp.lock:
            await self._vrrp.stop()
        async with self._manager.lock:
            await self._manager.stop()
        await super().shutdown(sockets)


def run_agent(config: AgentConfig) -> None:
    setup_logging("agent", use_json=config.use_json, fields={"amphora_id": config.amphora_id})
    asyncio.run(serve_agent(config))
