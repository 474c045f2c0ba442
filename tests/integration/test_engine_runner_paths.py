"""Paths of the runner that only show in a whole execution (design §4, invariant 5): a
server failing in the middle of a SEQUENTIAL wave, a cancel while launches wait for DRS
quota, first-in-first-out launches under quota pressure, the execution timeout, and the
record finalized when the engine itself breaks (an exception, Ctrl-C).

Every test runs the real Runner through the real boto3 adapters against the in-process
simulator on the virtual clock (tests.utils.engine.run_plan), and checks the records the
engine produced and stored, and the API calls the simulator answered.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from tests.utils.engine import Outcome, RecordingStore, run_plan
from tests.utils.ids import unique_server_ids

from drsorch import effects
from drsorch.aws.drs import DrsAdapter
from drsorch.aws.ec2 import Ec2Adapter
from drsorch.clock import DEFAULT_EPOCH
from drsorch.core import messages as m
from drsorch.core import scheduler
from drsorch.core.state import State
from drsorch.runner import EngineError, Runner
from drsorch.sim import Fault, Scenario, Span, Timing

pytestmark = pytest.mark.integration

T0 = DEFAULT_EPOCH


def ids(n: int, seed: int) -> list[str]:
    return unique_server_ids(n, random.Random(seed))


def wave(number: int, servers: list[str], **more: Any) -> dict[str, Any]:
    return {"WaveNumber": number, "ServerIds": servers, **more}


def plan(plan_id: str, waves: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"PlanId": plan_id, "PlanName": plan_id.replace("-", " "), "Waves": waves, **more}


NO_HEALTH = {"HealthCheck": {"Enabled": False}}


def launched_by_wave(out: Outcome) -> list[tuple[int, list[str]]]:
    """(wave, server ids) of every StartRecovery DRS accepted, in the order it was sent."""
    return [
        (
            int(c.params["tags"]["drsorch:wave"]),
            [s["sourceServerID"] for s in c.params["sourceServers"]],
        )
        for c in out.calls("StartRecovery", ok_only=True)
    ]


def token_seq(token: str) -> int:
    """The engine's launch tokens are '<execution id>:<n>', n counting up as it queues."""
    return int(token.rsplit(":", 1)[1])


# -- a server failing in the middle of a SEQUENTIAL wave -----------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("launch_failure", "LAUNCH_FAILED: No capacity"), ("stuck_pending", "not running after")],
)
def test_sequential_wave_failing_in_the_middle(kind: str, reason: str) -> None:
    """Req 1.5, 4.2: the 2nd server (in ExecutionOrder) of a SEQUENTIAL wave fails, at launch
    or at its health check: the servers after it are SKIPPED and never launched, the wave is
    FAILED, the waves depending on it are SKIPPED (transitively) without an API call, and
    the independent branch keeps going, even its waves that start after the failure."""
    a, b, c, d, w2, w3a, w3b, w4, w5 = ids(9, seed=41)
    data = plan(
        "sequential-failure",
        [
            wave(1, [a, b, c, d], ExecutionType="SEQUENTIAL", ExecutionOrder=[3, 1, 4, 2]),
            wave(2, [w2]),  # depends on wave 1 (the previous wave)
            wave(3, [w3a, w3b], Dependencies=[], WaitTimeSeconds=1800),
            wave(4, [w4], Dependencies=[3]),  # starts long after wave 1 failed
            wave(5, [w5], Dependencies=[2, 4]),  # skipped through wave 2
        ],
    )
    out = run_plan(data, faults=[Fault(kind=kind, server_id=a, raw_error="No capacity")])
    rec = out.record
    # Wave 1 launched c, then a (order 3, 1), one at a time; a failed; d and b never went out.
    assert [ids_ for n, ids_ in launched_by_wave(out) if n == 1] == [[c], [a]]
    assert out.server(c).Status == "COMPLETED"
    failed = out.server(a)
    assert failed.Status == "FAILED" and failed.JobId and reason in failed.Error
    first_wave = [
        call for call in out.calls("StartRecovery") if call.params["tags"]["drsorch:wave"] == "1"
    ]
    assert first_wave[1].time == out.server(c).EndTime  # a went out once c was COMPLETED
    for skipped in (d, b):
        result = out.server(skipped)
        assert result.Status == "SKIPPED"
        assert result.JobId is None and result.StartTime is None
        assert result.Error == (
            f"not launched: {a} before it in the SEQUENTIAL order did not complete"
        )
    assert out.wave(1).Status == "FAILED" and out.wave(1).EndTime == failed.EndTime
    # Dependants: SKIPPED, no API call for their servers.
    sent = {sid for _, ids_ in launched_by_wave(out) for sid in ids_}
    for number, servers in ((2, [w2]), (5, [w5])):
        assert out.wave(number).Status == "SKIPPED"
        assert out.wave(number).StartTime is None
        assert all(out.server(s).Status == "SKIPPED" for s in servers)
        assert not set(servers) & sent
    # The other branch completed, including the wave that started after the failure.
    assert out.wave(3).Status == "COMPLETED" and out.wave(4).Status == "COMPLETED"
    assert out.wave(4).StartTime > out.wave(1).EndTime
    assert rec.Status == "FAILED"
    (entry,) = [e for e in rec.Errors if e.ServerId == a]
    assert entry.JobId == failed.JobId and entry.WaveNumber == 1 and reason in entry.Message
    assert not [e for e in rec.Errors if e.ServerId in (d, b)]  # skipped, not failed
    assert any(e.WaveNumber == 2 and "depends on wave 1" in e.Message for e in rec.Errors)
    assert out.store.get(rec.ExecutionId) == rec


# -- DRS quotas: first in, first out ------------------------------------------------------------


def independent_waves(sizes: list[int], seed: int) -> dict[str, Any]:
    servers = ids(sum(sizes), seed)
    waves, start = [], 0
    for number, size in enumerate(sizes, start=1):
        waves.append(wave(number, servers[start : start + size], Dependencies=[]))
        start += size
    return plan(f"independent-{seed}", waves, Defaults=NO_HEALTH)


@pytest.mark.parametrize(
    ("sizes", "held_back"),
    [
        # 26 one-server waves: DRS runs 20 jobs at once, 6 launches wait for a free one.
        ([1] * 26, list(range(21, 27))),
        # 490 servers in active jobs; wave 6 (20) would exceed 500, wave 7 (5) would fit but
        # was queued later: it must wait behind wave 6.
        ([100, 100, 100, 100, 90, 20, 5], [6, 7]),
    ],
    ids=["20-concurrent-jobs", "500-servers-in-active-jobs"],
)
def test_queued_launches_go_out_first_in_first_out(sizes: list[int], held_back: list[int]) -> None:
    """Design §4 (DRS quotas): launches that do not fit DRS's quotas wait in a queue and go
    out in the order they were queued, never overtaking one another, as soon as DRS has
    room; DRS never refuses one, and every server is launched once."""
    out = run_plan(independent_waves(sizes, seed=len(sizes)))
    assert out.record.Status == "COMPLETED", out.record.Errors
    assert [c.error_code for c in out.sim.recorder.calls if c.error_code] == []
    calls = out.calls("StartRecovery")
    # All waves started (and queued their launch) at once, in WaveNumber order: the
    # launches went out in that order, and their tokens count up.
    assert [int(c.params["tags"]["drsorch:wave"]) for c in calls] == list(range(1, len(sizes) + 1))
    seqs = [token_seq(c.params["tags"]["drsorch:token"]) for c in calls]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    times = [c.time for c in calls]
    assert times == sorted(times)
    # The quota did hold these back: they went out later, once earlier jobs had ended.
    for number in range(1, len(sizes) + 1):
        sent_at = times[number - 1]
        assert (sent_at > T0) is (number in held_back), (number, sent_at - T0)
        assert out.wave(number).StartTime == T0  # started at once, waited in the queue
    for w in out.plan.waves:
        for sid in w.server_ids:  # each server's StartTime: when its launch really went out
            assert out.server(sid).StartTime == times[w.wave_number - 1]


# -- a cancel while launches wait for DRS quota -------------------------------------------------


def test_cancel_drops_launches_queued_for_quota() -> None:
    """Design §4 / Req 4.5: a cancel while launches wait for DRS quota: the queued launches
    are never sent, their servers and waves are CANCELLED; the jobs already started are
    followed to their end and recorded; the execution ends CANCELLED."""
    data = independent_waves([1] * 30, seed=30)
    seen: dict[str, Any] = {}

    def cancel_after_the_queue_moved(runner: Runner, state: State) -> None:
        launches = state["launches"].values()
        moved = [x for x in launches if x["status"] == "ACTIVE" and x["first_sent_at"] > T0]
        queued = [token for token, x in state["launches"].items() if x["status"] == "QUEUED"]
        if moved and queued and not seen:
            seen.update(time=runner.clock.now(), queued=set(queued))
            runner.cancel("test: stop the drill")

    out = run_plan(data, observe=cancel_after_the_queue_moved)
    assert seen, "the cancel must come while some launches still wait for quota"
    rec = out.record
    assert rec.Status == "CANCELLED"
    calls = out.calls("StartRecovery")
    tokens = {c.params["tags"]["drsorch:token"] for c in calls}
    assert not tokens & seen["queued"]  # never sent, not even once DRS had room again
    assert all(c.time <= seen["time"] for c in calls)
    assert 20 < len(calls) < 30
    jobs = {j.id: j for j in out.sim.jobs if j.type == "LAUNCH"}
    assert len(jobs) == len(calls)
    for w in rec.WaveStatus:
        (result,) = w.ServerResults
        if result.JobId is None:  # its launch was still queued
            assert result.Status == "CANCELLED" and result.StartTime is None
            assert w.Status == "CANCELLED"
            continue
        # Started before the cancel: followed to its end and recorded.
        job = jobs[result.JobId]
        assert list(job.participants) == [result.ServerId]
        assert result.LaunchedTime is not None and result.RecoveryInstanceId
        assert result.Status in ("COMPLETED", "CANCELLED")
        assert job.ended is not None and job.ended <= rec.EndTime
    assert sum(w.ServerResults[0].JobId is None for w in rec.WaveStatus) == 30 - len(calls)
    assert any("execution cancelled: test: stop the drill" in e.Message for e in rec.Errors)
    assert out.store.get(rec.ExecutionId) == rec


# -- the execution timeout ----------------------------------------------------------------------

#: Fixed durations: a launch takes 2 + 60 s, so the timeline is known to the second.
FIXED = Scenario(
    timing=Timing(
        job_start=Span(min=2, max=2),
        launch=Span(min=60, max=60),
        running=Span(min=10, max=10),
        status_ok=Span(min=20, max=20),
        job_end=Span(min=5, max=5),
    )
)


def test_execution_timeout_through_the_runner() -> None:
    """Req 4.3 / design §4: once TimeoutSeconds have passed the execution is FAILED with a
    timeout error, at that very second; the wave launching then is FAILED (its servers
    named with their job), later waves CANCELLED, and nothing is launched or polled after."""
    s1, s2, s3 = ids(3, seed=7)
    timeout = 100
    data = plan(
        "times-out",
        [wave(1, [s1]), wave(2, [s2]), wave(3, [s3])],
        TimeoutSeconds=timeout,
        Defaults=NO_HEALTH,
    )
    out = run_plan(data, scenario=FIXED)
    rec = out.record
    deadline = rec.StartTime + timeout
    assert rec.Status == "FAILED"
    assert rec.EndTime == deadline and rec.Duration == timeout
    assert rec.Errors[0].Message == (
        f"execution timed out after {timeout} s (TimeoutSeconds); nothing new was launched"
    )
    # Wave 1 completed at a job poll (+60 or +90 s); wave 2 was launching at +100 s.
    assert out.wave(1).Status == "COMPLETED"
    assert out.wave(2).Status == "FAILED" and out.wave(2).EndTime == deadline
    second = out.server(s2)
    assert second.Status == "FAILED" and second.JobId
    assert second.Error == (
        f"execution ended while launching; DRS job {second.JobId} may still launch it"
    )
    assert out.wave(3).Status == "CANCELLED"
    assert out.server(s3).Status == "CANCELLED" and out.server(s3).JobId is None
    assert [ids_ for _, ids_ in launched_by_wave(out)] == [[s1], [s2]]
    assert max(c.time for c in out.sim.recorder.calls) < deadline  # nothing after it
    assert out.store.get(rec.ExecutionId) == rec


# -- the engine itself breaks: the record is finalized anyway -----------------------------------


def crash_run(store: RecordingStore, data: dict[str, Any]) -> EngineError:
    with pytest.raises(EngineError) as caught:
        run_plan(data, store=store, scenario=FIXED)
    return caught.value


def two_waves(seed: int) -> dict[str, Any]:
    s1, s2, s3 = ids(3, seed)
    return plan("crashes", [wave(1, [s1, s2]), wave(2, [s3])])


def check_finalized_failed(store: RecordingStore, message: str) -> Any:
    """The stored record is final: FAILED, EndTime, the error first, and wave 1's servers
    recorded with their job; wave 2, never started, CANCELLED."""
    (saved,) = store.query(limit=10)
    assert saved.Status == "FAILED"
    assert saved.EndTime is not None and saved.Duration == saved.EndTime - saved.StartTime
    assert saved.Errors[0].Message == message
    first, second = saved.WaveStatus
    assert first.Status == "FAILED" and second.Status == "CANCELLED"
    for result in first.ServerResults:
        assert result.Status == "FAILED" and result.JobId and result.Error
    assert store.puts[-1] == saved  # the last save is the final record
    return saved


@pytest.mark.parametrize(
    "where",
    [
        "DrsAdapter.describe_jobs",  # a DRS adapter (the first job poll, +30 s)
        "Ec2Adapter.describe_instance_status",  # the EC2 adapter (the first health poll)
        "Effects ResolveInstances",  # the handler that carries out a command of the core
        "core HealthPolled",  # the core's handler of an event
    ],
)
def test_exception_inside_the_engine_finalizes_the_record(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariant 5: a bug (here a RuntimeError) inside an adapter or a command handler ends
    the execution FAILED with a record naming the error, saved before EngineError is raised
    with that record; the servers already launching are recorded with their jobs."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"simulated bug in {where}")

    if where == "Effects ResolveInstances":
        monkeypatch.setitem(effects._HANDLERS, m.ResolveInstances, broken)
    elif where == "core HealthPolled":
        monkeypatch.setitem(scheduler._HANDLERS, m.HealthPolled, broken)
    else:
        cls = {"DrsAdapter": DrsAdapter, "Ec2Adapter": Ec2Adapter}[where.split(".")[0]]
        monkeypatch.setattr(cls, where.split(".")[1], broken)
    store = RecordingStore()
    error = crash_run(store, two_waves(seed=3))
    message = f"drsorch internal error: RuntimeError: simulated bug in {where}"
    saved = check_finalized_failed(store, message)
    assert isinstance(error.__cause__, RuntimeError)
    assert error.record is not None and error.record == saved


def test_keyboard_interrupt_finalizes_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Invariant 5: Ctrl-C (KeyboardInterrupt) while polling: the record is finalized FAILED
    saying the engine was stopped and that started jobs keep running; the interrupt goes on
    to the caller."""
    calls = 0
    real = DrsAdapter.describe_jobs

    def interrupted(self: DrsAdapter, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second poll: the first one answered normally
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DrsAdapter, "describe_jobs", interrupted)
    store = RecordingStore()
    with pytest.raises(KeyboardInterrupt):
        run_plan(two_waves(seed=4), store=store, scenario=FIXED)
    saved = check_finalized_failed(
        store,
        "drsorch was stopped (interrupted) before the execution could finish; "
        "DRS jobs already started keep running",
    )
    assert saved.EndTime == T0 + 60  # the second job poll: +30 s, +60 s
