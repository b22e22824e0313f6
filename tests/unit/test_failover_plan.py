"""The pure failover plan: thresholds, when silence becomes suspect, and the circuit breaker.

The breaker has to see a partition whole although amphorae beat at different phases of the
interval and so cross the timeout one by one; these tests build exactly those silences.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portico.domain.failover import (
    SUSPECT_MARGIN_SECONDS,
    Silence,
    StalePlan,
    Threshold,
    plan_stale,
    suspect_after,
)

TIMEOUT = 3.0
INTERVAL = 1.0


def _plan(
    silences: list[Silence],
    *,
    live: int,
    threshold: str | None,
    stopped: int = 0,
    timeout: float = TIMEOUT,
    interval: float = INTERVAL,
) -> StalePlan:
    return plan_stale(
        silences,
        live=live,
        stopped=stopped,
        timeout=timeout,
        interval=interval,
        threshold=Threshold.parse(threshold),
    )


def _healthy(count: int) -> list[Silence]:
    """Amphorae heard within the last interval plus the batch lag: never suspect."""
    return [Silence(f"healthy-{i:02d}", 0.1 * (i % 15)) for i in range(count)]


def _partitioned(count: int, *, overshoot: float = 0.01) -> list[Silence]:
    """Cut off together, beating at phases spread over one interval: at the check where the
    first crosses the timeout (by ``overshoot``), the others are up to one interval short."""
    return [
        Silence(f"cut-{i:02d}", TIMEOUT + overshoot - i * INTERVAL / count) for i in range(count)
    ]


# -- Threshold.parse -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", Threshold(10.0, False)),
        ("20%", Threshold(20.0, True)),
        (" 5 ", Threshold(5.0, False)),
        ("12.5 %", Threshold(12.5, True)),
        ("0", Threshold(0.0, False)),
    ],
)
def test_threshold_parses_counts_and_percentages(text: str, expected: Threshold) -> None:
    assert Threshold.parse(text) == expected


@pytest.mark.parametrize("text", [None, "", "   "])
def test_threshold_absent_or_empty_means_no_circuit_breaker(text: str | None) -> None:
    assert Threshold.parse(text) is None


@pytest.mark.parametrize("text", ["ten", "-1", "10%%", "%", "1e3", "5 amphorae", "1,5", "%20"])
def test_threshold_garbage_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="failover_threshold"):
        Threshold.parse(text)


# -- Threshold.reached ---------------------------------------------------------------------


def test_count_threshold_is_reached_at_the_count_as_in_octavia() -> None:
    three = Threshold(3.0, False)
    assert not three.reached(2, 100)
    assert three.reached(3, 100)
    assert three.reached(4, 4)
    # The live count does not matter for a count.
    assert three.reached(3, 3) and not three.reached(2, 2)


def test_percent_threshold_rounds_the_share_of_live_amphorae_up() -> None:
    twenty = Threshold(20.0, True)
    assert twenty.reached(2, 10)  # ceil(2.0)
    assert not twenty.reached(2, 11)  # ceil(2.2) = 3
    assert twenty.reached(3, 11)
    assert not twenty.reached(19, 100) and twenty.reached(20, 100)


def test_percent_threshold_never_trips_on_one_amphora() -> None:
    # One amphora dying is never a storm, even when it is all or half of a tiny fleet.
    assert not Threshold(20.0, True).reached(1, 1)
    assert not Threshold(50.0, True).reached(1, 2)
    assert not Threshold(1.0, True).reached(1, 5)
    assert Threshold(50.0, True).reached(2, 2)
    assert Threshold(1.0, True).reached(2, 5)


# -- suspect_after -------------------------------------------------------------------------


def test_suspect_after_defaults_is_one_interval_before_the_timeout() -> None:
    assert suspect_after(3.0, 1.0) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("timeout", "interval", "expected"),
    [
        # timeout - interval would be below what a healthy amphora can look like (one
        # interval plus the health service's batch lag): the margin wins.
        (2.0, 1.0, 1.0 + SUSPECT_MARGIN_SECONDS),
        (1.0, 0.2, 0.2 + SUSPECT_MARGIN_SECONDS),
        # ... but never past the timeout itself.
        (1.0, 1.0, 1.0),
        (0.5, 1.0, 0.5),
        (1.5, 1.0, 1.5),
        # Long timeouts: one interval before.
        (30.0, 5.0, 25.0),
    ],
)
def test_suspect_after_small_timeouts(timeout: float, interval: float, expected: float) -> None:
    assert suspect_after(timeout, interval) == pytest.approx(expected)


@given(
    timeout=st.floats(min_value=0.01, max_value=1000, allow_nan=False),
    interval=st.floats(min_value=0.01, max_value=1000, allow_nan=False),
)
def test_suspect_after_is_never_beyond_the_timeout_nor_within_a_healthy_interval(
    timeout: float, interval: float
) -> None:
    after = suspect_after(timeout, interval)
    assert after <= timeout
    assert after >= min(timeout, interval + SUSPECT_MARGIN_SECONDS)


# -- plan_stale ----------------------------------------------------------------------------


def test_one_stale_among_many_healthy_is_failed_over() -> None:
    silences = [*_healthy(40), Silence("dead", 3.2)]
    plan = _plan(silences, live=41, threshold="10")
    assert plan == StalePlan(fail_over=("dead",), stop=(), tripped=False)


def test_one_stale_is_failed_over_under_a_percentage_even_in_a_tiny_fleet() -> None:
    plan = _plan([Silence("dead", 5.0)], live=1, threshold="1%")
    assert plan == StalePlan(fail_over=("dead",), stop=(), tripped=False)


def test_nothing_stale_no_plan_even_when_many_are_suspect() -> None:
    # Suspects alone never trip the breaker: it opens when something would be failed over.
    silences = [Silence(f"s{i}", 2.5) for i in range(20)]
    assert _plan(silences, live=20, threshold="3") == StalePlan((), (), False)


def test_several_stale_are_failed_over_sorted_without_a_breaker() -> None:
    silences = [Silence("c", 9.0), Silence("a", 3.0), Silence("b", 4.0), *_healthy(3)]
    plan = _plan(silences, live=6, threshold=None)
    assert plan == StalePlan(fail_over=("a", "b", "c"), stop=(), tripped=False)


@pytest.mark.parametrize("threshold", ["5", "30%"])
def test_partition_trips_the_breaker_when_the_first_amphora_is_stale(threshold: str) -> None:
    cut = _partitioned(8)
    silences = [*_healthy(12), *cut]
    stale = [s.amphora_id for s in cut if s.seconds >= TIMEOUT]
    assert stale == ["cut-00"]  # only the first has crossed the timeout yet
    plan = _plan(silences, live=20, threshold=threshold)
    assert plan == StalePlan(fail_over=(), stop=("cut-00",), tripped=True)


@pytest.mark.parametrize("threshold", ["5", "30%"])
def test_partition_trips_on_every_later_check_as_amphorae_cross_one_by_one(
    threshold: str,
) -> None:
    # Half an interval later the first four have crossed; the first was stopped already.
    cut = _partitioned(8, overshoot=0.45)
    stopped = [s for s in cut if s.amphora_id == "cut-00"]
    still_live = [s for s in cut if s not in stopped]
    plan = _plan([*_healthy(12), *still_live], live=19, stopped=1, threshold=threshold)
    assert plan == StalePlan(fail_over=(), stop=("cut-01", "cut-02", "cut-03"), tripped=True)


def test_breaker_below_the_threshold_fails_the_partitioned_over() -> None:
    # Three cut off, threshold four: not a storm, the stale one is replaced.
    cut = _partitioned(3)
    plan = _plan([*_healthy(10), *cut], live=13, threshold="4")
    assert plan == StalePlan(fail_over=("cut-00",), stop=(), tripped=False)


@pytest.mark.parametrize(("threshold", "live"), [("5", 10), ("50%", 6)])
def test_breaker_stays_open_while_stopped_amphorae_are_still_silent(
    threshold: str, live: int
) -> None:
    # Four already FAILOVER_STOPPED and silent, one more stale now: still the same storm.
    silences = [*_healthy(live - 1), Silence("late", 3.1)]
    open_plan = _plan(silences, live=live, stopped=4, threshold=threshold)
    assert open_plan == StalePlan(fail_over=(), stop=("late",), tripped=True)
    # Once the stopped ones are heard again (or failed over by an operator), it closes.
    closed = _plan(silences, live=live, stopped=0, threshold=threshold)
    assert closed == StalePlan(fail_over=("late",), stop=(), tripped=False)


def test_suspects_below_suspect_after_are_ignored() -> None:
    # Timeout 3, interval 1: suspect from 2 s. Four at 1.99 s do not count with the stale one.
    below = [Silence(f"young-{i}", 1.99) for i in range(4)]
    plan = _plan([*below, Silence("dead", 3.0)], live=5, threshold="5")
    assert plan == StalePlan(fail_over=("dead",), stop=(), tripped=False)
    # At 2 s they do.
    at = [Silence(f"old-{i}", 2.0) for i in range(4)]
    plan = _plan([*at, Silence("dead", 3.0)], live=5, threshold="5")
    assert plan == StalePlan(fail_over=(), stop=("dead",), tripped=True)


def test_stale_is_silent_for_at_least_the_timeout() -> None:
    plan = _plan(
        [Silence("edge", TIMEOUT), Silence("short", TIMEOUT - 1e-6)], live=2, threshold="9"
    )
    assert plan.fail_over == ("edge",)


_ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=8)
_silences = st.dictionaries(_ids, st.floats(min_value=0, max_value=100, allow_nan=False))
_thresholds = st.one_of(
    st.none(),
    st.builds(
        Threshold,
        st.floats(min_value=0, max_value=100, allow_nan=False),
        st.booleans(),
    ),
)


@given(
    silent=_silences,
    extra_live=st.integers(min_value=0, max_value=50),
    stopped=st.integers(min_value=0, max_value=50),
    timeout=st.floats(min_value=0.05, max_value=60, allow_nan=False),
    interval=st.floats(min_value=0.05, max_value=30, allow_nan=False),
    threshold=_thresholds,
)
def test_plan_only_touches_the_stale_sorted_and_disjoint(
    silent: dict[str, float],
    extra_live: int,
    stopped: int,
    timeout: float,
    interval: float,
    threshold: Threshold | None,
) -> None:
    silences = [Silence(amphora_id, seconds) for amphora_id, seconds in silent.items()]
    plan = plan_stale(
        silences,
        live=len(silences) + extra_live,
        stopped=stopped,
        timeout=timeout,
        interval=interval,
        threshold=threshold,
    )
    stale = {amphora_id for amphora_id, seconds in silent.items() if seconds >= timeout}
    assert not set(plan.fail_over) & set(plan.stop)
    assert list(plan.fail_over) == sorted(plan.fail_over)
    assert list(plan.stop) == sorted(plan.stop)
    assert len(set(plan.fail_over)) == len(plan.fail_over)
    # Every stale amphora is either failed over or stopped, never both, nothing else is.
    assert set(plan.fail_over) | set(plan.stop) == stale
    assert plan.tripped is bool(plan.stop)
    if threshold is None:
        assert plan.stop == ()


@given(
    silent=_silences,
    extra_live=st.integers(min_value=0, max_value=50),
    stopped=st.integers(min_value=0, max_value=50),
    threshold=_thresholds,
)
def test_more_stopped_amphorae_never_close_the_breaker(
    silent: dict[str, float], extra_live: int, stopped: int, threshold: Threshold | None
) -> None:
    silences = [Silence(amphora_id, seconds) for amphora_id, seconds in silent.items()]
    live = len(silences) + extra_live

    def tripped(stopped_now: int) -> bool:
        return plan_stale(
            silences,
            live=live,
            stopped=stopped_now,
            timeout=TIMEOUT,
            interval=INTERVAL,
            threshold=threshold,
        ).tripped

    if tripped(stopped):
        assert tripped(stopped + 1)
