"""Listener counters kept cumulative across haproxy reloads, restarts and amphora failovers.

haproxy's counters live in its worker process: a seamless reload starts a new worker whose
``show stat`` counts from zero again (the old worker, still draining, no longer answers the
stats socket), and so does a restarted haproxy. The health service therefore keeps, per
listener and amphora, the total it serves and the raw values last reported: a raw value that
grew adds the growth; one that went backwards means a new process, whose whole value is new
traffic. A replacement amphora gets rows of its own, so summing the rows of a listener over
its amphorae keeps counting across failovers.

A reload is missed only if the new worker's counter overtakes the old worker's last value
within one heartbeat; the traffic the old worker served after its last heartbeat is lost.
``active_connections`` is a gauge, so it is replaced, never summed over time.
"""

from __future__ import annotations

import msgspec

CUMULATIVE = ("bytes_in", "bytes_out", "total_connections", "request_errors")


# Structs the garbage collector does not track (``gc=False``; they hold numbers or each other,
# never a cycle): the health service makes a few for every heartbeat and keeps the latest for
# each listener, and as tracked objects thousands of them a second would survive into the
# oldest generation and bring on full collections of the whole process.
class Counters(msgspec.Struct, frozen=True, gc=False):
    bytes_in: int = 0
    bytes_out: int = 0
    active_connections: int = 0
    total_connections: int = 0
    request_errors: int = 0


_ZERO = Counters()


class Kept(msgspec.Struct, frozen=True, gc=False):
    """What is stored for one listener on one amphora: the totals served and the last raw."""

    total: Counters
    raw: Counters


def restarted(last_raw: Counters, raw: Counters) -> bool:
    """Whether the counters come from a new haproxy process (any of them went backwards)."""
    # Spelled out rather than looped over ``CUMULATIVE``: the health service calls this for
    # every listener of every heartbeat.
    return (
        raw.bytes_in < last_raw.bytes_in
        or raw.bytes_out < last_raw.bytes_out
        or raw.total_connections < last_raw.total_connections
        or raw.request_errors < last_raw.request_errors
    )


def accumulate(kept: Kept | None, raw: Counters) -> Kept:
    """The stored values after a new report of ``raw`` counters."""
    if kept is None:
        return Kept(total=raw, raw=raw)
    total, last = kept.total, kept.raw
    if restarted(last, raw):
        last = _ZERO
    return Kept(
        total=Counters(
            total.bytes_in + raw.bytes_in - last.bytes_in,
            total.bytes_out + raw.bytes_out - last.bytes_out,
            raw.active_connections,
            total.total_connections + raw.total_connections - last.total_connections,
            total.request_errors + raw.request_errors - last.request_errors,
        ),
        raw=raw,
    )
