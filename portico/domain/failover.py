"""Which silent amphorae to fail over, and when to stop instead (the circuit breaker).

An amphora silent for longer than ``heartbeat_timeout`` is stale and is failed over, unless
too many amphorae fall silent together: then the likelier cause is on the controller's side
(a partition, a health service that cannot write), and replacing every amphora at once would
turn it into an outage. Those amphorae are set FAILOVER_STOPPED instead and come back by
themselves when their heartbeats do.

"Together" cannot mean "stale in the same check": amphorae beat at different phases of the
interval, so after a partition they cross the timeout one by one over a whole interval. When
the first one crosses it, every other one has been silent for at least ``timeout - interval``;
counting those as failing too sees the whole group at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Headroom above one interval before silence counts as suspect: the health service writes
# what it heard every 0.5 s, so a healthy amphora can look that much older in the database.
SUSPECT_MARGIN_SECONDS = 0.75
_THRESHOLD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class Threshold:
    """``failover_threshold``: a count of amphorae, or a percentage of the live ones."""

    value: float
    percent: bool

    @classmethod
    def parse(cls, text: str | None) -> Threshold | None:
        """``"10"`` or ``"20%"``; None or empty: no circuit breaker."""
        if text is None or not text.strip():
            return None
        found = _THRESHOLD.match(text)
        if found is None:
            raise ValueError(f"failover_threshold {text!r} is neither a count nor a percentage")
        return cls(float(found.group(1)), bool(found.group(2)))

    def reached(self, failing: int, live: int) -> bool:
        """Whether ``failing`` of ``live`` amphorae failing together is a storm.

        A count trips when it is reached (Octavia's rule). A percentage needs at least two
        amphorae failing: one amphora dying is never a storm, however small the fleet.
        """
        if self.percent:
            return failing >= 2 and failing >= math.ceil(live * self.value / 100)
        return failing >= self.value


def suspect_after(timeout: float, interval: float) -> float:
    """Seconds of silence after which an amphora counts as failing with the others."""
    return min(timeout, max(timeout - interval, interval + SUSPECT_MARGIN_SECONDS))


@dataclass(frozen=True)
class Silence:
    """A live amphora and how long it has been silent since its last heartbeat."""

    amphora_id: str
    seconds: float


@dataclass(frozen=True)
class StalePlan:
    fail_over: tuple[str, ...]
    stop: tuple[str, ...]
    tripped: bool


def plan_stale(
    silences: Iterable[Silence],
    *,
    live: int,
    stopped: int,
    timeout: float,
    interval: float,
    threshold: Threshold | None,
) -> StalePlan:
    """Decide for the silent amphorae of one check.

    ``silences`` are the live amphorae (ALLOCATED or READY) that have been silent for at
    least ``suspect_after``; ``live`` counts every live amphora; ``stopped`` counts those
    already FAILOVER_STOPPED and still silent, which keep the breaker open.
    """
    suspects = [s for s in silences if s.seconds >= suspect_after(timeout, interval)]
    stale = tuple(sorted(s.amphora_id for s in suspects if s.seconds >= timeout))
    failing = len(suspects) + stopped
    if stale and threshold is not None and threshold.reached(failing, live + stopped):
        return StalePlan(fail_over=(), stop=stale, tripped=True)
    return StalePlan(fail_over=stale, stop=(), tripped=False)
