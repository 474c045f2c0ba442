"""Properties 14-18 (seed Req 5): the history records the runner saves while it runs.

``out.puts`` is every record the runner handed to the store, in order (the harness saves
on every change, as against AWS). Plans run on the in-process simulator and the virtual
clock, so times are exact.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.engine import SHORT, Outcome, run_plan
from tests.utils.history import EXECUTION_FIELDS
from tests.utils.plans import make_plan, plans

from drsorch.clock import DEFAULT_EPOCH
from drsorch.core import advance
from drsorch.history import ExecutionRecord, json_schema
from drsorch.sim import Fault

pytestmark = pytest.mark.integration

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TERMINAL_EXECUTION = {"COMPLETED", "FAILED", "CANCELLED"}
TERMINAL_WAVE = {"COMPLETED", "FAILED", "SKIPPED", "CANCELLED"}
#: The order a wave's status moves in; it never goes back.
WAVE_RANK = {"PENDING": 0, "WAITING": 1, "PAUSED": 2, "RUNNING": 3}
REQUIRED = EXECUTION_FIELDS
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


# -- checks shared by the fixed and the generated cases ------------------------------------------


def check_first_record(out: Outcome) -> None:
    """Property 14: the first saved record is RUNNING, complete, and precedes any launch."""
    first = out.puts[0]
    data = first.to_dict()
    assert all(key in data for key in REQUIRED)
    assert first.Status.value == "RUNNING"
    assert UUID4.match(first.ExecutionId)
    assert uuid.UUID(first.ExecutionId).version == 4
    assert first.StartTime == DEFAULT_EPOCH  # the clock's start: created before anything ran
    assert first.EndTime is None and first.Duration is None
    assert first.PlanId == out.plan.plan_id and first.PlanName == out.plan.plan_name
    assert first.ExecutionType == out.plan.execution_type
    assert first.ServerCount == len(out.plan.all_server_ids())
    assert first.InitiatedBy and first.Region
    assert re.fullmatch(r"\d{12}", first.SourceAccountId)
    assert re.fullmatch(r"\d{12}", first.TargetAccountId)
    assert first.Errors == []
    numbers = sorted(w.wave_number for w in out.plan.waves)
    assert [w.WaveNumber for w in first.WaveStatus] == numbers
    assert all(w.Status.value == "PENDING" for w in first.WaveStatus)
    servers = [r for w in first.WaveStatus for r in w.ServerResults]
    assert sorted(r.ServerId for r in servers) == sorted(out.plan.all_server_ids())
    assert all(r.Status.value == "PENDING" and r.JobId is None for r in servers)
    # Every later save is the same execution.
    assert {p.ExecutionId for p in out.puts} == {first.ExecutionId}
    assert {p.StartTime for p in out.puts} == {first.StartTime}


def wave_sequences(records: list[ExecutionRecord]) -> dict[int, list[str]]:
    """Each wave's statuses across ``records``, consecutive repeats dropped."""
    seqs: dict[int, list[str]] = {}
    for rec in records:
        for w in rec.WaveStatus:
            seq = seqs.setdefault(w.WaveNumber, [])
            if not seq or seq[-1] != w.Status.value:
                seq.append(w.Status.value)
    return seqs


def replayed_sequences(out: Outcome) -> dict[int, list[str]]:
    """Each wave's statuses after every step of the core, replayed from the runner's trace."""
    state = out.fresh_state()
    seqs: dict[int, list[str]] = {w["number"]: [w["status"]] for w in state["waves"]}
    for now, event, commands in out.runner.trace:
        assert advance(state, event, now) == commands  # the core is deterministic
        for w in state["waves"]:
            if seqs[w["number"]][-1] != w["status"]:
                seqs[w["number"]].append(w["status"])
    return seqs


def check_wave_updates(out: Outcome) -> None:
    """Property 15: every wave status change is saved, in order, never going back."""
    seqs = wave_sequences(out.puts)
    for number, seq in seqs.items():
        assert seq[0] == "PENDING", (number, seq)
        *steps, last = seq
        assert last in TERMINAL_WAVE, (number, seq)
        assert all(s not in TERMINAL_WAVE for s in steps), (number, seq)
        ranks = [WAVE_RANK[s] for s in steps]
        assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks), (number, seq)
        if last in ("COMPLETED", "FAILED"):
            assert "RUNNING" in steps, (number, seq)
    # Nothing the core decided was left out of the saved records.
    assert seqs == replayed_sequences(out)
    # Each saved wave's times are recorded with its status.
    for rec in out.puts:
        for w in rec.WaveStatus:
            if w.Status.value == "RUNNING":
                assert w.StartTime is not None and w.EndTime is None
            if w.Status.value in ("COMPLETED", "FAILED"):
                assert w.StartTime is not None and w.EndTime is not None


def check_final_record(out: Outcome) -> None:
    """Property 16: the last saved record is the final one: terminal, with EndTime and
    Duration = EndTime - StartTime, and nothing is saved after it."""
    last = out.puts[-1]
    assert last.to_dict() == out.record.to_dict()
    assert last.Status.value in TERMINAL_EXECUTION
    assert last.EndTime is not None
    assert last.Duration == last.EndTime - last.StartTime
    assert last.EndTime == out.clock.now()  # finalized when the engine stopped
    assert all(p.Status.value not in TERMINAL_EXECUTION for p in out.puts[:-1])
    assert all(w.Status.value in TERMINAL_WAVE for w in last.WaveStatus)
    ends = [w.EndTime for w in last.WaveStatus if w.EndTime is not None]
    assert all(e <= last.EndTime for e in ends)


def check_schema(out: Outcome) -> None:
    """Property 18: every saved record validates against the published JSON Schema."""
    for rec in out.puts:
        data = rec.to_dict()
        errors = sorted(VALIDATOR.iter_errors(data), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
        assert all(key in data for key in REQUIRED)


def check_error_details(out: Outcome) -> None:
    """Property 17: a failed server has Error and (once launched) JobId; an Errors entry
    names it, its job and the reason."""
    rec = out.record
    for w in rec.WaveStatus:
        for r in w.ServerResults:
            if r.Status.value != "FAILED":
                continue
            assert r.Error
            entries = [e for e in rec.Errors if e.ServerId == r.ServerId]
            assert len(entries) == 1, (r.ServerId, rec.Errors)
            (e,) = entries
            assert e.WaveNumber == w.WaveNumber
            assert r.ServerId in e.Message and r.Error in e.Message
            assert e.JobId == r.JobId
            if r.JobId is not None:
                assert r.JobId in e.Message


# -- Property 14 -----------------------------------------------------------------------------


def test_first_record_is_running_and_complete() -> None:
    """Property 14 (Req 5.1): the execution is recorded RUNNING, with a uuid4 ExecutionId,
    StartTime = the clock's start and every required field, before any launch."""
    out = run_plan(make_plan(1, waves=3, servers_per_wave=2), scenario=SHORT)
    check_first_record(out)
    assert out.puts[0].InitiatedBy == out.world.options.initiated_by
    assert out.puts[0].Region == "us-east-1"
    assert out.puts[0].SourceAccountId == out.puts[0].TargetAccountId == "123456789012"


def test_first_record_saved_even_when_preflight_fails() -> None:
    """Property 14 / invariant 5: an execution that fails in preflight was still recorded
    RUNNING first, then finalized."""
    plan = make_plan(2, waves=2, servers_per_wave=2)
    out = run_plan(plan, missing=[plan["Waves"][0]["ServerIds"][0]], scenario=SHORT)
    assert len(out.puts) >= 2
    check_first_record(out)
    check_final_record(out)
    assert out.record.Status.value == "FAILED"


def test_execution_ids_are_unique() -> None:
    """Property 14: each execution gets its own uuid4."""
    ids = {run_plan(make_plan(3, waves=1, servers_per_wave=1)).record.ExecutionId for _ in "abc"}
    assert len(ids) == 3


# -- Property 15 -----------------------------------------------------------------------------


def test_wave_changes_saved_in_order_with_waits() -> None:
    """Property 15 (Req 5.2): a 3-wave chain with waits shows every wave going
    PENDING -> WAITING -> RUNNING -> COMPLETED across the saved records, in that order."""
    out = run_plan(make_plan(4, waves=3, servers_per_wave=2, wait_seconds=60), scenario=SHORT)
    assert out.record.Status.value == "COMPLETED"
    check_wave_updates(out)
    seqs = wave_sequences(out.puts)
    assert seqs[1] == ["PENDING", "RUNNING", "COMPLETED"]  # no dependency: starts at once
    assert seqs[2] == seqs[3] == ["PENDING", "WAITING", "RUNNING", "COMPLETED"]
    # Waves change one after another: wave 2 is WAITING only once wave 1 is COMPLETED.
    for rec in out.puts:
        w1, w2 = rec.wave(1), rec.wave(2)
        assert w1 is not None and w2 is not None
        if w2.Status.value != "PENDING":
            assert w1.Status.value == "COMPLETED"


def test_wave_changes_saved_when_a_wave_fails() -> None:
    """Property 15: a failed wave and its SKIPPED dependants are each saved."""
    plan = make_plan(5, waves=3, servers_per_wave=2)
    bad = plan["Waves"][0]["ServerIds"][1]
    out = run_plan(plan, faults=[Fault(kind="launch_failure", server_id=bad)], scenario=SHORT)
    check_wave_updates(out)
    seqs = wave_sequences(out.puts)
    assert seqs[1] == ["PENDING", "RUNNING", "FAILED"]
    assert seqs[2] == ["PENDING", "SKIPPED"] and seqs[3] == ["PENDING", "SKIPPED"]


# -- Property 16 -----------------------------------------------------------------------------


@pytest.mark.parametrize("fail", [False, True])
def test_final_record(fail: bool) -> None:
    """Property 16 (Req 5.3): the last record is COMPLETED or FAILED with EndTime and
    Duration = EndTime - StartTime."""
    plan = make_plan(6, waves=2, servers_per_wave=2, wait_seconds=30)
    faults = [Fault(kind="launch_failure", server_id=plan["Waves"][1]["ServerIds"][0])]
    out = run_plan(plan, faults=faults if fail else [], scenario=SHORT)
    check_final_record(out)
    assert out.record.Status.value == ("FAILED" if fail else "COMPLETED")
    if not fail:
        assert out.record.EndTime == max(w.EndTime for w in out.record.WaveStatus)
    assert out.store.get(out.record.ExecutionId).to_dict() == out.record.to_dict()


# -- Property 17 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("launch_failure", "LAUNCH_FAILED: Not enough capacity"),
        ("stuck_pending", "not running after 10 polls"),
        ("impaired", "not running with status checks ok after 10 polls"),
    ],
)
def test_failed_server_error_details(kind: str, reason: str) -> None:
    """Property 17 (Req 5.4): a failed server's ServerResult has its Error and JobId, and
    the Errors list has an entry with ServerId, JobId and a message naming both."""
    plan = make_plan(7, waves=1, servers_per_wave=3)
    if kind == "impaired":
        plan["Defaults"]["HealthCheck"]["Require"] = "STATUS_OK"
    sids = plan["Waves"][0]["ServerIds"]
    bad = sids[1]
    fault = Fault(kind=kind, server_id=bad, raw_error="Not enough capacity")
    out = run_plan(plan, faults=[fault], scenario=SHORT)
    assert out.record.Status.value == "FAILED"
    r = out.server(bad)
    assert r.Status.value == "FAILED"
    assert r.JobId is not None and r.JobId.startswith("drsjob-")
    assert reason in r.Error
    (entry,) = [e for e in out.record.Errors if e.ServerId == bad]
    assert entry.JobId == r.JobId and entry.WaveNumber == 1
    assert bad in entry.Message and r.JobId in entry.Message and reason in entry.Message
    for sid in sids:
        if sid != bad:
            assert out.server(sid).Status.value == "COMPLETED" and out.server(sid).Error is None
    check_error_details(out)
    # The error detail is in the saved record, not only in memory.
    saved = out.store.get(out.record.ExecutionId)
    assert [e.to_dict() for e in saved.Errors] == [e.to_dict() for e in out.record.Errors]


# -- Property 18 (and 14-17 on generated plans) ------------------------------------------------


@st.composite
def faults_for(draw: st.DrawFn, plan: dict[str, Any]) -> list[Fault]:
    sids = [sid for w in plan["Waves"] for sid in w["ServerIds"]]
    kind = draw(
        st.sampled_from(
            [
                None,
                "launch_failure",
                "stuck_pending",
                "impaired",
                "throttle",
                "internal_error",
                "connection_reset",
                "unknown_job_status",
            ]
        )
    )
    if kind is None:
        return []
    if kind in ("launch_failure", "stuck_pending", "impaired"):
        return [Fault(kind=kind, server_id=draw(st.sampled_from(sids)))]
    if kind == "unknown_job_status":
        return [Fault(kind=kind, status=draw(st.sampled_from(["PAUSED", "?", "UNKNOWN"])))]
    operation = draw(st.sampled_from(["StartRecovery", "DescribeJobs", "DescribeInstanceStatus"]))
    return [Fault(kind=kind, operation=operation, times=draw(st.integers(1, 6)))]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(plan=plans(max_waves=3, max_servers_per_wave=4), data=st.data())
def test_history_properties_on_generated_plans(plan: dict[str, Any], data: st.DataObject) -> None:
    """Property 18 (Req 5.5): every saved record of any small plan, with any one fault,
    validates against drsorch.history.json_schema(); Properties 14-17 hold as well."""
    faults = data.draw(faults_for(plan), label="faults")
    seed = data.draw(st.integers(0, 1000), label="seed")
    out = run_plan(plan, faults=faults, seed=seed, scenario=SHORT)
    check_schema(out)
    check_first_record(out)
    check_wave_updates(out)
    check_final_record(out)
    check_error_details(out)
