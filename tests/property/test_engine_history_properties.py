"""Seed properties 14, 16 and 17 of the execution history (Req 5.1, 5.3, 5.4), on the
records the engine itself produced.

Each example runs a generated plan through the real Runner, boto3 adapters and in-process
simulator on the virtual clock, and checks what the runner handed to its store (every
save, in order: ``out.puts``), what the store holds at the end, and the record ``run``
returned. (Records built by hand or by a generator, and ExecutionRecord's own helpers,
say nothing about what the engine writes; tests/property/test_history_properties.py keeps
the properties of the record model and the stores.)
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.engine import FAST_HEALTHY_WITHIN, Outcome, as_plan, run_plan
from tests.utils.history import EXECUTION_FIELDS
from tests.utils.plans import plans

from drsorch.clock import DEFAULT_EPOCH
from drsorch.core.state import State
from drsorch.history import json_schema
from drsorch.runner import Runner
from drsorch.sim import Fault

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VALIDATOR = jsonschema.Draft202012Validator(json_schema())
WEEK = 7 * 86_400
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def roomy(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "TimeoutSeconds": WEEK}


def small_plans(**more: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Plans in which only what a test injects can fail (every health check has time)."""
    return plans(max_waves=4, max_servers_per_wave=3, healthy_within=FAST_HEALTHY_WITHIN, **more)


# -- Property 14 -------------------------------------------------------------------------------


@SETTINGS
@given(data=small_plans(), seed=st.integers(0, 99))
def test_p14_the_first_saved_record_is_running_complete_and_precedes_any_launch(
    data: dict[str, Any], seed: int
) -> None:
    """Property 14 (Req 5.1): the first record the runner saves is RUNNING, with a uuid4
    ExecutionId, the plan's id, name, type and server count, where it runs, every field
    §5 requires, StartTime = the engine's clock at start, and nothing launched yet."""
    out = run_plan(roomy(data), seed=seed)
    plan, first = out.plan, out.puts[0]
    stored = first.to_dict()
    VALIDATOR.validate(stored)
    assert all(key in stored for key in EXECUTION_FIELDS)
    assert first.Status == "RUNNING"
    assert uuid.UUID(first.ExecutionId).version == 4
    assert first.ExecutionId == out.record.ExecutionId
    assert first.StartTime == DEFAULT_EPOCH  # the clock's start: saved before time moved
    assert first.EndTime is None and first.Duration is None
    assert (first.PlanId, first.PlanName) == (plan.plan_id, plan.plan_name)
    assert first.ExecutionType == plan.execution_type
    assert first.ServerCount == len(plan.all_server_ids())
    options = out.world.options
    assert first.InitiatedBy == options.initiated_by
    assert first.TargetAccountId == options.target_account_id
    assert first.Region == options.region
    if plan.target is not None:  # the plan's Target is where the record says it runs
        assert first.TargetAccountId == plan.target.account_id
        assert first.Region == (plan.target.region or first.Region)
    assert first.Errors == []
    assert sorted(w.WaveNumber for w in first.WaveStatus) == sorted(
        w.wave_number for w in plan.waves
    )
    for wave in first.WaveStatus:
        assert wave.Status == "PENDING" and wave.StartTime is None
        for result in wave.ServerResults:  # before any launch
            assert result.Status == "PENDING"
            assert result.JobId is None and result.StartTime is None
    # The same execution is what every later save, and the store at the end, hold.
    assert {p.ExecutionId for p in out.puts} == {first.ExecutionId}
    assert {p.StartTime for p in out.puts} == {first.StartTime}
    assert out.store.get(first.ExecutionId) == out.record


# -- Property 16 -------------------------------------------------------------------------------


@st.composite
def endings(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[Fault], int | None]:
    """A plan and how its execution is made to end: completed, a failed launch, a cancel
    after the n-th step, or a short TimeoutSeconds."""
    ending = draw(st.sampled_from(["complete", "fail", "cancel", "timeout"]))
    data = roomy(draw(small_plans()))
    faults: list[Fault] = []
    cancel_at = None
    if ending == "fail":
        rng = random.Random(draw(st.integers(0, 2**16)))
        victim = rng.choice(as_plan(data).all_server_ids())
        faults.append(Fault(kind="launch_failure", server_id=victim))
    elif ending == "cancel":
        cancel_at = draw(st.integers(1, 40))
    elif ending == "timeout":
        data["TimeoutSeconds"] = draw(st.integers(1, 900))
    return ending, data, faults, cancel_at


def canceller(at_step: int | None) -> Any:
    steps = 0

    def observe(runner: Runner, state: State) -> None:
        nonlocal steps
        steps += 1
        if steps == at_step:
            runner.cancel("test: cancelled mid-run")

    return observe if at_step is not None else None


@SETTINGS
@given(case=endings(), seed=st.integers(0, 99))
def test_p16_the_last_saved_record_is_final(
    case: tuple[str, dict[str, Any], list[Fault], int | None], seed: int
) -> None:
    """Property 16 (Req 5.3): however the execution ends, the last record the runner saved
    is the one it returned and the store holds: a terminal Status (the right one for how
    it ended), EndTime = the engine's clock when it stopped, Duration = EndTime - StartTime,
    every wave and server terminal; no earlier save was terminal."""
    ending, data, faults, cancel_at = case
    out = run_plan(data, seed=seed, faults=faults, observe=canceller(cancel_at))
    final = out.puts[-1]
    assert final == out.record == out.store.get(final.ExecutionId)
    assert final.Status in TERMINAL
    assert all(p.Status not in TERMINAL for p in out.puts[:-1])
    assert final.EndTime == out.clock.now()
    assert final.Duration == final.EndTime - final.StartTime
    for wave in final.WaveStatus:
        assert wave.Status.terminal, (wave.WaveNumber, wave.Status)
        assert wave.EndTime is None or wave.EndTime <= final.EndTime
        assert all(r.Status.terminal for r in wave.ServerResults), wave.WaveNumber
    assert final.Status == expected_status(ending, out)
    VALIDATOR.validate(final.to_dict())


def expected_status(ending: str, out: Outcome) -> str:
    if ending == "fail":
        return "FAILED"
    if ending == "cancel" and out.runner.state["cancel_requested"]:
        return "CANCELLED"
    if ending == "timeout":
        timed_out = any("timed out" in e.Message for e in out.record.Errors)
        limit = out.record.StartTime + out.plan.timeout_seconds
        assert (out.record.EndTime == limit) is timed_out
        return "FAILED" if timed_out else "COMPLETED"
    return "COMPLETED"


# -- Property 17 -------------------------------------------------------------------------------

#: Ways a server fails: at launch (a DRS job, its log's reason), at its health check (a job,
#: the last state seen), and before any job exists (StartRecovery refused 4 times).
FAILURES = {
    "launch_failure": lambda sid: Fault(kind="launch_failure", server_id=sid, raw_error="no AZ"),
    "stuck_pending": lambda sid: Fault(kind="stuck_pending", server_id=sid),
    "start_refused": lambda sid: Fault(
        kind="internal_error", operation="StartRecovery", server_id=sid
    ),
}


def carried(call: Any) -> list[str]:
    return [s["sourceServerID"] for s in call.params["sourceServers"]]


@st.composite
def failing_plans(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    data = roomy(draw(small_plans()))
    plan = as_plan(data)
    victims = draw(
        st.lists(st.sampled_from(plan.all_server_ids()), min_size=1, max_size=3, unique=True)
    )
    checked = {sid for w in plan.waves if plan.health_check_for(w).enabled for sid in w.server_ids}
    # An instance that never runs fails only a server whose wave checks its health.
    kinds = {
        sid: sorted(k for k in FAILURES if k != "stuck_pending" or sid in checked)
        for sid in victims
    }
    return data, {sid: draw(st.sampled_from(kinds[sid])) for sid in victims}


@SETTINGS
@given(case=failing_plans(), seed=st.integers(0, 99))
def test_p17_every_failed_server_is_named_with_its_job_and_reason(
    case: tuple[dict[str, Any], dict[str, str]], seed: int
) -> None:
    """Property 17 (Req 5.4): in the record the engine stored, every FAILED server has its
    Error, its DRS JobId once a job was started, and exactly one Errors entry naming the
    server, its wave, its job and the reason; only the injected failures fail (a refused
    StartRecovery fails all the servers it carried)."""
    data, victims = case
    out = run_plan(data, seed=seed, faults=[FAILURES[kind](sid) for sid, kind in victims.items()])
    record = out.store.get(out.record.ExecutionId)
    assert record is not None and record == out.record
    failed = [(w, r) for w in record.WaveStatus for r in w.ServerResults if r.Status == "FAILED"]
    assert failed, "at least the first victim to be launched fails"
    assert record.Status == "FAILED"
    jobs = {j.id: j for j in out.sim.jobs if j.type == "LAUNCH"}
    # A refused StartRecovery fails every server it carried (one request per chunk).
    launched = {sid for c in out.calls("StartRecovery", ok_only=True) for sid in carried(c)}
    refused = {sid for c in out.calls("StartRecovery") for sid in carried(c)} - launched
    for wave, result in failed:
        sid = result.ServerId
        assert result.Error
        if sid in refused:
            assert any(victims.get(other) == "start_refused" for other in refused)
            assert result.JobId is None and "StartRecovery" in result.Error
        else:  # launched: the job that launched it, as DRS knows it
            assert victims.get(sid) in ("launch_failure", "stuck_pending"), (
                f"{sid} failed but nothing was injected for it"
            )
            assert result.JobId is not None and sid in jobs[result.JobId].participants
        (entry,) = [e for e in record.Errors if e.ServerId == sid]
        assert entry.WaveNumber == wave.WaveNumber
        assert entry.JobId == result.JobId
        assert sid in entry.Message and result.Error in entry.Message
        if result.JobId is not None:
            assert result.JobId in entry.Message
    # Nobody else is named as a failed server.
    named = {e.ServerId for e in record.Errors if e.ServerId is not None}
    assert named == {r.ServerId for _, r in failed}
