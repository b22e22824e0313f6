"""Where haproxy sends its logs: the global ``log`` lines and a listener's log-format.

Two streams, as on Octavia's amphorae: tenant flow logs (one line per connection or HTTP
request, facility ``local<user_facility>``, level info) and haproxy's admin logs (servers
going up and down, proxies starting and stopping: ``local<admin_facility>``, notice and
above). haproxy sends both to the agent, as RFC 5424 messages, through a ``ring`` per stream
whose ``server`` is the agent's unix stream socket under ``run/`` (a relative path: the
agent runs haproxy in the amphora's directory). A ring holds lines while the agent is busy
or restarting, where a unix datagram socket queues ten (``net.unix.max_dgram_qlen``) and
haproxy drops the rest: measured, a quarter of the flow lines at 10,000 requests a second.
Amphorae whose agent does not report ``log_rings`` get the datagram sockets, as before.
The agent is the amphora's syslog relay, as rsyslog is on Octavia's: it keeps the lines in
local files unless local storage is disabled, and forwards them to the operator's targets
over UDP or TCP with Octavia's queue and retries (``agent/log_forward.py``). So haproxy's
configuration names no target: targets, protocol and retries are the agent's settings.

Without ``connection_logging`` no tenant logger exists and frontends get no log-format: flow
lines (level info) reach only the admin logger, whose ``notice`` ceiling drops them, while
admin lines go on (Octavia renders ``no log``, which silences both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portico.domain.constants import DEFAULT_USER_LOG_FORMAT
from portico.render.quoting import check_safe, quote
from portico.wire.log_streams import ADMIN, TENANT

TENANT_SOCKET = TENANT.socket
ADMIN_SOCKET = ADMIN.socket
TENANT_RING = "portico-tenant"
ADMIN_RING = "portico-admin"
# Longest line haproxy sends (its default, 1024, cuts long request lines).
MAX_LINE = 8192
# A ring's bytes: flow lines are about 200 bytes, so the tenant ring holds some 20,000 of
# them (seconds of a busy listener) while the agent restarts; admin lines are few.
TENANT_RING_BYTES = 4 * 1024 * 1024
ADMIN_RING_BYTES = 256 * 1024
# The HTTP-only fields %r (request line) and %ST (status), with or without flags, written
# as "-" in the flow lines of TCP listeners, as Octavia does (haproxy mislogs them there);
# not %rt or %rc, which are other fields.
HTTP_ONLY_FIELDS = re.compile(r"%(?:\{[^}]*\})?(?:r|ST)(?![A-Za-z])")


@dataclass(frozen=True)
class LogOptions:
    """The operator's log settings that haproxy's configuration carries."""

    user_facility: int = 0
    admin_facility: int = 1
    connection_logging: bool = True
    user_log_format: str = DEFAULT_USER_LOG_FORMAT


@dataclass(frozen=True)
class Ring:
    """A ``ring`` section: a buffer haproxy forwards to its ``server``, the agent."""

    name: str
    lines: tuple[str, ...]


def global_lines(options: LogOptions, *, rings: bool) -> list[str]:
    """The ``log`` lines of the global section: each stream to the agent.

    ``rings``: through the ring sections (``ring_sections``); else to datagram sockets.
    """
    lines: list[str] = []
    if rings:
        if options.connection_logging:
            lines.append(f"log ring@{TENANT_RING} {_tenant(options)}")
        lines.append(f"log ring@{ADMIN_RING} {_admin(options)}")
        return lines
    if options.connection_logging:
        lines.append(f"log unix@{TENANT_SOCKET} len {MAX_LINE} format rfc5424 {_tenant(options)}")
    lines.append(f"log unix@{ADMIN_SOCKET} len {MAX_LINE} format rfc5424 {_admin(options)}")
    return lines


def ring_sections(options: LogOptions, *, rings: bool) -> list[Ring]:
    """The ring sections the ``log`` lines name (none without ``rings``)."""
    if not rings:
        return []
    found = []
    if options.connection_logging:
        found.append(_ring(TENANT_RING, TENANT.ring, TENANT_RING_BYTES))
    found.append(_ring(ADMIN_RING, ADMIN.ring, ADMIN_RING_BYTES))
    return found


def _ring(name: str, path: str, size: int) -> Ring:
    return Ring(
        name,
        (
            "format rfc5424",
            f"maxlen {MAX_LINE}",
            f"size {size}",
            "timeout connect 1s",
            # The agent's connection idles between lines; a close would only reconnect.
            "timeout server 1h",
            f"server agent unix@{path}",
        ),
    )


def _tenant(options: LogOptions) -> str:
    return f"local{int(options.user_facility)}"


def _admin(options: LogOptions) -> str:
    return f"local{int(options.admin_facility)} notice"


def frontend_lines(
    *, project_id: str | None, lb_id: str, http: bool, options: LogOptions
) -> list[str]:
    """A listener's ``log-format``; ``http``: the frontend runs in HTTP mode.

    The project id comes from the token and is no haproxy syntax: ``%`` is doubled so the
    format reads it literally, and the whole format is one quoted word. The operator's
    format is theirs to write (it is haproxy's log-format syntax).
    """
    if not options.connection_logging:
        return []
    text = options.user_log_format
    if not http:
        text = HTTP_ONLY_FIELDS.sub("-", text)
    text = text.replace("{{ project_id }}", _literal(project_id or "-"))
    text = text.replace("{{ lb_id }}", _literal(lb_id))
    return [f"log-format {quote(text)}"]


def _literal(value: str) -> str:
    return check_safe(value).replace("%", "%%").replace(" ", "_")
