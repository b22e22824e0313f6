"""The webhook outbox's retry policy: doubling waits from the backoff, bounded."""

from __future__ import annotations

import datetime as dt

from portico.services.event_outbox import RetryPolicy


def test_waits_double_from_the_backoff_up_to_the_bound() -> None:
    policy = RetryPolicy(max_attempts=8, backoff=1.0, max_backoff=10.0)
    waits = [policy.delay(attempts).total_seconds() for attempts in range(1, 7)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_huge_attempt_count_stays_at_the_bound() -> None:
    policy = RetryPolicy(max_attempts=10_000, backoff=0.5, max_backoff=300.0)
    assert policy.delay(5_000) == dt.timedelta(seconds=300)
