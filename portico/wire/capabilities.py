"""Capability names an amphora reports in ``/1.0/info`` and the controller renders for.

A capability is a fact about the amphora's software (haproxy build and version), detected
by the agent, never assumed by the controller: amphorae of different images coexist.
"""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    # ``add server``/``del server`` on the runtime API (haproxy >= 2.5 without experimental).
    DYNAMIC_SERVERS = "dynamic_servers"
    # HTTP/2 towards clients (ALPN h2) and backends.
    HTTP2 = "http2"
    # ``http-request use-service prometheus-exporter``.
    PROMETHEUS_EXPORTER = "prometheus_exporter"
    # ``option idle-close-on-response`` (haproxy >= 2.6): reloads drop no keep-alive request.
    IDLE_CLOSE_ON_RESPONSE = "idle_close_on_response"
    # ``ssl-min-ver TLSv1.3`` and TLS 1.3 cipher suites (OpenSSL >= 1.1.1).
    TLS13 = "tls13"
    # ``proxy-v2-options`` on servers.
    PROXY_V2 = "proxy_v2"
    # Lua scripting.
    LUA = "lua"
    # keepalived is installed (needed for ACTIVE_STANDBY).
    VRRP = "vrrp"
    # The agent takes haproxy's logs from rings forwarded over unix stream sockets
    # (haproxy >= 2.2 forwards a ring to a ``server``): no line is lost while the agent is
    # briefly busy, where a datagram socket's queue (net.unix.max_dgram_qlen, 10 by default)
    # makes haproxy drop lines past ten waiting.
    LOG_RINGS = "log_rings"
