"""The API rate limiter's token buckets: at most ``burst + rate * t`` grants per key in any
``t`` seconds, refusals announce a wait after which a request is granted, keys do not share
tokens, and pruning full buckets never changes an answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portico.domain.token_bucket import TokenBuckets

rates = st.floats(min_value=0.01, max_value=1000, allow_nan=False, allow_infinity=False)
bursts = st.integers(min_value=1, max_value=50)
# (key, seconds since the previous request) steps; time never goes back.
steps = st.lists(
    st.tuples(st.sampled_from("abc"), st.floats(min_value=0, max_value=5, allow_nan=False)),
    max_size=300,
)


def _run(buckets: TokenBuckets, plan: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    """(key, time, answer) of each request of ``plan``."""
    now, out = 0.0, []
    for key, gap in plan:
        now += gap
        out.append((key, now, buckets.take(key, now)))
    return out


@given(rate=rates, burst=bursts, plan=steps)
def test_no_key_is_granted_more_than_burst_plus_rate_times_time(
    rate: float, burst: int, plan: list[tuple[str, float]]
) -> None:
    answers = _run(TokenBuckets(rate, burst), plan)
    for key in "abc":
        granted = [t for k, t, wait in answers if k == key and wait == 0.0]
        for i, start in enumerate(granted):
            for j in range(i, len(granted)):
                count = j - i + 1
                assert count <= burst + rate * (granted[j] - start) + 1e-6


@given(rate=rates, burst=bursts, plan=steps)
def test_a_refused_request_is_granted_after_the_wait_it_was_told(
    rate: float, burst: int, plan: list[tuple[str, float]]
) -> None:
    answers = _run(TokenBuckets(rate, burst), plan)
    for n, (key, now, wait) in enumerate(answers):
        assert wait >= 0.0
        if wait == 0.0:
            continue
        # The same history up to this refusal, then the client comes back as told.
        replay = TokenBuckets(rate, burst)
        for k, t, _ in answers[: n + 1]:
            replay.take(k, t)
        assert replay.take(key, now + wait) == 0.0
        break


@given(rate=rates, burst=bursts, plan=steps)
def test_keys_do_not_share_tokens(rate: float, burst: int, plan: list[tuple[str, float]]) -> None:
    together = _run(TokenBuckets(rate, burst), plan)
    # Key "a" alone, at the same times: the same answers, whatever b and c did.
    alone = TokenBuckets(rate, burst)
    for key, now, wait in together:
        if key == "a":
            assert alone.take("a", now) == wait


@given(rate=rates, burst=bursts, plan=steps)
def test_pruning_full_buckets_changes_no_answer(
    rate: float, burst: int, plan: list[tuple[str, float]]
) -> None:
    roomy = [w for _, _, w in _run(TokenBuckets(rate, burst), plan)]
    tight = TokenBuckets(rate, burst, max_keys=1)
    assert [w for _, _, w in _run(tight, plan)] == roomy


def test_memory_stays_bounded_when_every_request_names_a_new_key() -> None:
    buckets = TokenBuckets(10.0, 5, max_keys=100)
    for n in range(10_000):
        buckets.take(f"project-{n}", n * 0.1)  # each bucket full again 0.1 s later
    assert len(buckets) <= 200


def test_a_burst_is_granted_then_one_request_per_refill() -> None:
    buckets = TokenBuckets(2.0, 3)
    assert [buckets.take("p", 0.0) for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    assert buckets.take("p", 0.25) == pytest.approx(0.25)
    assert buckets.take("p", 0.5) == 0.0
    assert buckets.take("q", 0.5) == 0.0  # another project is untouched


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_meaningless_settings_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBuckets(rate, burst)
