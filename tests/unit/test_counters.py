"""Listener counters stay cumulative when haproxy's own counters start again from zero."""

from __future__ import annotations

from portico.domain.counters import Counters, Kept, accumulate, restarted


def _raw(total: int, bytes_in: int = 0, active: int = 0) -> Counters:
    return Counters(
        bytes_in=bytes_in,
        bytes_out=2 * bytes_in,
        active_connections=active,
        total_connections=total,
        request_errors=total // 10,
    )


def test_a_first_report_is_taken_as_it_is() -> None:
    assert accumulate(None, _raw(5, 100, 2)) == Kept(total=_raw(5, 100, 2), raw=_raw(5, 100, 2))


def test_growth_adds_the_difference() -> None:
    kept = accumulate(None, _raw(5, 100))
    kept = accumulate(kept, _raw(30, 1000, 3))
    assert kept.total == _raw(30, 1000, 3)
    assert kept.raw == _raw(30, 1000, 3)


def test_counters_that_go_backwards_are_a_new_haproxy_and_count_whole() -> None:
    kept = accumulate(None, _raw(50, 5000, 1))
    kept = accumulate(kept, _raw(3, 40))
    assert kept.total == Counters(
        bytes_in=5040,
        bytes_out=10080,
        active_connections=0,
        total_connections=53,
        request_errors=5,
    )
    assert kept.raw == _raw(3, 40)
    kept = accumulate(kept, _raw(10, 100, 4))
    assert (kept.total.total_connections, kept.total.bytes_in) == (60, 5100)
    assert kept.total.active_connections == 4


def test_one_counter_going_back_is_enough_to_tell_a_restart() -> None:
    before = Counters(bytes_in=10, bytes_out=10, total_connections=10, request_errors=10)
    assert not restarted(before, before)
    assert restarted(before, Counters(bytes_in=10, bytes_out=10, total_connections=10))
    assert restarted(
        before, Counters(bytes_in=9, bytes_out=99, total_connections=99, request_errors=99)
    )


def test_the_active_connections_gauge_going_down_is_no_restart() -> None:
    kept = accumulate(None, _raw(10, 100, 9))
    kept = accumulate(kept, _raw(10, 100, 0))
    assert kept.total == _raw(10, 100, 0)


def test_an_unchanged_report_changes_nothing() -> None:
    kept = accumulate(accumulate(None, _raw(3, 40)), _raw(7, 70))
    assert accumulate(kept, kept.raw) == kept
