"""Property 3, exactly (Req 1.3): a wave starts at the very moment it is due.

A wave is due at ``max(dependency EndTime + its WaitTimeSeconds)``; the runner must wake up
for it then, not at the next poll of something else. The runner carries out every command
of a step and gets one ``WakeAt`` back per event, so when a job poll and a health poll
answer in the same tick it holds several wake-up times: it must sleep until the earliest
(issue 7, part 5: sleeping until the latest started a wave due at +163 s at +180 s).

Plans and the simulated region's timings are generated, so job polls (every 30 s), health
polls (every PollIntervalSeconds from each launch) and waits fall on and off each other.
The property is checked on the engine's own records: the ExecutionRecord the runner
returned and the one it stored, and on when the simulator saw each wave's first launch.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.engine import healthy_within, run_plan
from tests.utils.plans import plans

from drsorch.sim import Scenario, Span, Timing

WEEK = 7 * 86_400
#: The virtual clock adds and subtracts float seconds: equal up to rounding.
EPSILON = 1e-6

# Plans of two waves or more (see cases): 22 examples draw as many as the 30 examples of
# one to five waves did, without the one-wave plans that never wait for a wave.
SETTINGS = settings(
    max_examples=22,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def spans(draw: st.DrawFn, low: int, high: int) -> Span:
    """Whole seconds, so that timers coincide as often as they do on a 30 s poll grid."""
    start = draw(st.integers(low, high))
    return Span(min=start, max=draw(st.integers(start, high)))


@st.composite
def timings(draw: st.DrawFn) -> Timing:
    return Timing(
        job_start=draw(spans(0, 15)),
        launch=draw(spans(20, 300)),
        running=draw(spans(0, 90)),
        status_ok=draw(spans(0, 180)),
        job_end=draw(spans(0, 60)),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], Timing]:
    """A plan and a region in which every server passes its health check: the property is
    about when waves start, so every wave must get to start. Two waves at least: a plan of
    one starts it with the execution, which every plan's first wave checks too."""
    timing = draw(timings())
    plan = draw(
        plans(
            min_waves=2,
            max_waves=5,
            max_servers_per_wave=3,
            healthy_within=healthy_within(timing),
        ),
    )
    for wave in plan["Waves"]:
        # Waits shorter than a job poll are where a late wake-up shows: the wave is due
        # before the next poll of anything else.
        if draw(st.booleans()):
            wave["WaitTimeSeconds"] = draw(st.integers(1, 45))
    return {**plan, "TimeoutSeconds": WEEK}, timing


@SETTINGS
@given(case=cases(), seed=st.integers(0, 999))
def test_every_wave_starts_exactly_when_it_is_due(
    case: tuple[dict[str, Any], Timing], seed: int
) -> None:
    data, timing = case
    out = run_plan(data, seed=seed, scenario=Scenario(timing=timing))
    stored = out.store.get(out.record.ExecutionId)
    assert stored is not None
    assert stored == out.record  # the record the runner returned is the one it stored
    assert stored.Status == "COMPLETED", stored.Errors  # the generator gave every check time
    plan = out.plan
    start: dict[int, float] = {}
    end: dict[int, float] = {}
    for w in stored.WaveStatus:  # every wave ran: both times recorded
        assert w.StartTime is not None and w.EndTime is not None, w.WaveNumber
        start[w.WaveNumber], end[w.WaveNumber] = w.StartTime, w.EndTime
    first_launch: dict[int, float] = {}
    for call in out.calls("StartRecovery", ok_only=True):
        first_launch.setdefault(int(call.params["tags"]["drsorch:wave"]), call.time)
    for wave in plan.waves:
        number = wave.wave_number
        due = max(
            (end[d] + plan.wave(d).wait_time_seconds for d in plan.dependencies_of(wave)),
            default=stored.StartTime,
        )
        assert math.isclose(start[number], due, rel_tol=0, abs_tol=EPSILON), (
            f"wave {number} was due at +{due - stored.StartTime:.3f} s "
            f"but started at +{start[number] - stored.StartTime:.3f} s"
        )
        # ... and it really launched then: the simulator saw its first StartRecovery.
        assert math.isclose(first_launch[number], start[number], rel_tol=0, abs_tol=EPSILON)
