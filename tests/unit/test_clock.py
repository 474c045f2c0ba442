"""The Clock port: virtual time, timers, scaled and real clocks."""

from __future__ import annotations

import pytest

from drsorch.clock import DEFAULT_EPOCH, Clock, RealClock, ScaledClock, VirtualClock

pytestmark = pytest.mark.unit


def test_every_clock_is_a_clock() -> None:
    for clock in (RealClock(), ScaledClock(10), VirtualClock()):
        assert isinstance(clock, Clock)


def test_virtual_clock_starts_at_the_epoch_and_sleeps_instantly() -> None:
    clock = VirtualClock()
    assert clock.now() == DEFAULT_EPOCH
    clock.sleep(3600)
    clock.sleep(0.5)
    assert clock.now() == DEFAULT_EPOCH + 3600.5
    assert clock.sleeps == [3600, 0.5]


def test_virtual_clock_refuses_negative_sleep_and_never_goes_back() -> None:
    clock = VirtualClock(start=100.0)
    with pytest.raises(ValueError):
        clock.sleep(-1)
    clock.advance_to(50.0)
    assert clock.now() == 100.0
    clock.advance(5)
    assert clock.now() == 105.0
    assert clock.sleeps == []  # advance is not a sleep


def test_timers_fire_in_time_then_registration_order_at_their_own_time() -> None:
    clock = VirtualClock(start=0.0)
    fired: list[tuple[str, float]] = []
    clock.call_at(20, lambda: fired.append(("b", clock.now())))
    clock.call_later(10, lambda: fired.append(("a", clock.now())))
    clock.call_at(20, lambda: fired.append(("c", clock.now())))
    clock.call_at(99, lambda: fired.append(("late", clock.now())))
    clock.sleep(30)
    assert fired == [("a", 10), ("b", 20), ("c", 20)]
    assert clock.now() == 30
    assert clock.next_timer() == 99


def test_cancelled_timers_do_not_fire_and_next_timer_skips_them() -> None:
    clock = VirtualClock(start=0.0)
    fired: list[str] = []
    handle = clock.call_at(5, lambda: fired.append("x"))
    clock.call_at(8, lambda: fired.append("y"))
    assert handle.when == 5
    handle.cancel()
    assert clock.next_timer() == 8
    clock.run_until_idle()
    assert fired == ["y"]
    assert clock.next_timer() is None


def test_a_timer_may_schedule_another_inside_the_same_advance() -> None:
    clock = VirtualClock(start=0.0)
    fired: list[float] = []

    def first() -> None:
        fired.append(clock.now())
        clock.call_later(5, lambda: fired.append(clock.now()))

    clock.call_at(10, first)
    clock.advance_to(100)
    assert fired == [10, 15]


def test_run_until_idle_jumps_timer_to_timer_and_respects_a_limit() -> None:
    clock = VirtualClock(start=0.0)
    fired: list[float] = []
    for when in (3600, 7200, 10800):
        clock.call_at(when, lambda: fired.append(clock.now()))
    clock.run_until_idle(limit=8000)
    assert fired == [3600, 7200]
    assert clock.now() == 8000
    clock.run_until_idle()
    assert fired == [3600, 7200, 10800]
    assert clock.now() == 10800


def test_scaled_clock_runs_faster_than_real_time() -> None:
    clock = ScaledClock(speed=1000, start=0.0)
    before = clock.now()
    clock.sleep(50)  # 50 ms of real time
    elapsed = clock.now() - before
    assert 45 <= elapsed < 5000
    with pytest.raises(ValueError):
        ScaledClock(speed=0)


def test_real_clock_reads_wall_time() -> None:
    import time

    clock = RealClock()
    assert abs(clock.now() - time.time()) < 5
    clock.sleep(0)  # returns at once
