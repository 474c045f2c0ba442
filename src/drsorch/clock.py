"""The one source of time in drsorch (design invariant 3).

Everything that waits or timestamps takes a :class:`Clock`: the runner, the retry policy,
the simulator and the stores. Three implementations:

- :class:`RealClock` — wall time; used against AWS.
- :class:`VirtualClock` — simulated time that only moves when someone sleeps or advances it.
  It keeps timers (``call_at``/``call_later``) and fires them in time order as it moves, so a
  plan with 15-minute launches and 300 s waits runs in milliseconds, and timing properties are
  checked exactly.
- :class:`ScaledClock` — real time sped up ``speed`` times, for demos (``--speed 60``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

#: Start of virtual time unless told otherwise: 2025-11-25T11:26:40Z, a fixed, readable epoch.
DEFAULT_EPOCH = 1_764_070_000.0


@runtime_checkable
class Clock(Protocol):
    """Now and sleep: all the engine needs of time."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block (really or virtually) for ``seconds``."""
        ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock:
    """Real time running ``speed`` times faster, starting at ``start``."""

    def __init__(self, speed: float, start: float = DEFAULT_EPOCH) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._t0) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def real_time_of(self, t: float) -> float:
        """The wall time at which this clock shows ``t`` (when ``start`` was the wall time
        it was made at, as ``drsorch sim serve`` makes it)."""
        return self._start + (t - self._start) / self.speed


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class TimerHandle:
    """Lets the owner of a timer cancel it."""

    def __init__(self, timer: _Timer) -> None:
        self._timer = timer

    @property
    def when(self) -> float:
        return self._timer.when

    def cancel(self) -> None:
        self._timer.cancelled = True


class VirtualClock:
    """Deterministic simulated time.

    ``sleep(s)`` moves time forward by ``s`` at once, firing every timer that falls due on
    the way, in (time, registration) order, with ``now()`` equal to each timer's time while
    its callback runs. ``sleeps`` records every sleep so tests can assert back-off exactly.
    """

    def __init__(self, start: float = DEFAULT_EPOCH) -> None:
        self._now = float(start)
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("cannot sleep a negative time")
        self.sleeps.append(seconds)
        self.advance_to(self._now + seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        """Move time to ``when`` (never backwards), firing due timers in order."""
        with self._lock:
            while self._timers and self._timers[0].when <= when:
                timer = heapq.heappop(self._timers)
                if timer.cancelled:
                    continue
                self._now = max(self._now, timer.when)
                timer.callback()
            self._now = max(self._now, when)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` when time reaches ``when`` (at once on the next move if past)."""
        with self._lock:
            timer = _Timer(when, next(self._seq), callback)
            heapq.heappush(self._timers, timer)
            return TimerHandle(timer)

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return self.call_at(self._now + delay, callback)

    def next_timer(self) -> float | None:
        """When the next live timer is due, or None when there is none."""
        with self._lock:
            while self._timers and self._timers[0].cancelled:
                heapq.heappop(self._timers)
            return self._timers[0].when if self._timers else None

    def run_until_idle(self, limit: float | None = None) -> None:
        """Jump from timer to timer until none is left (or time would pass ``limit``)."""
        while (due := self.next_timer()) is not None:
            if limit is not None and due > limit:
                self.advance_to(limit)
                return
            self.advance_to(due)
