"""The two log streams of an amphora, named once for the renderer and the agent.

haproxy (configured by the controller) sends each stream's lines through a ring forwarded
to a unix stream socket (``ring``), or, for amphorae rendered before rings, to a unix
datagram socket (``socket``), under the amphora's haproxy directory; the agent's sink
(``agent/log_sink.py``) owns the sockets and keeps the lines in the files, which the
management API reads back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogStream:
    """``socket``, ``ring`` and ``file`` are relative to the amphora's haproxy directory."""

    name: str
    socket: str
    ring: str
    file: str


TENANT = LogStream("tenant", "run/tenant.sock", "run/tenant.ring", "log/tenant.log")
ADMIN = LogStream("admin", "run/admin.sock", "run/admin.ring", "log/admin.log")
STREAMS = (TENANT, ADMIN)
