"""The pure core on its own: purity, determinism, JSON state, quotas, waits, timeouts,
cancellation and approvals — driven by hand-made events, no simulator, no boto3."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

from tests.utils.plans import make_plan

from drsorch.core import advance, decide, new_execution, to_record
from drsorch.core import messages as m
from drsorch.history import ExecutionRecord
from drsorch.plan import parse_plan

T0 = 1_000_000.0
EXEC_ID = "0b5c4f57-8d0e-4c49-9a55-2b8f0f6f2f11"


def state_for(data: dict[str, Any]) -> dict[str, Any]:
    return new_execution(
        parse_plan(data),
        execution_id=EXEC_ID,
        now=T0,
        initiated_by="tester",
        source_account_id="111122223333",
        target_account_id="111122223333",
        region="us-east-1",
    )


def started(data: dict[str, Any]) -> tuple[dict[str, Any], list[m.Message]]:
    state = state_for(data)
    advance(state, m.Start(), T0)
    ids = list(state["servers"])
    cmds = advance(state, m.ServersDescribed(dict.fromkeys(ids, "CONTINUOUS")), T0)
    return state, cmds


def of(cmds: list[m.Message], kind: type[m.Message]) -> list[Any]:
    return [c for c in cmds if isinstance(c, kind)]


def test_core_imports_no_boto3_and_reads_no_clock() -> None:
    """Invariant 2: importing the core loads neither boto3 nor botocore."""
    code = (
        "import sys, drsorch.core, drsorch.core.scheduler, drsorch.core.timekeeping;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3','botocore')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    import drsorch.core.scheduler as scheduler
    import drsorch.core.timekeeping as progress

    for module in (scheduler, progress):
        source = open(module.__file__ or "").read()  # noqa: SIM115
        assert "time.time" not in source and "datetime.now" not in source
        assert "import random" not in source and "uuid" not in source


def test_state_is_plain_json() -> None:
    """Invariant 2: the state survives a JSON round trip unchanged, at every step."""
    state, _ = started(make_plan(1, waves=2, servers_per_wave=2))
    assert json.loads(json.dumps(state)) == state


def test_decide_is_pure_and_equals_advance() -> None:
    """decide() leaves its input alone and returns what advance() would do in place."""
    state = state_for(make_plan(2, waves=2, servers_per_wave=3))
    before = copy.deepcopy(state)
    new, cmds = decide(state, m.Start(), T0)
    assert state == before
    again = copy.deepcopy(state)
    assert advance(again, m.Start(), T0) == cmds and again == new
    assert decide(state, m.Start(), T0) == (new, cmds)  # deterministic


def test_preflight_describes_every_server_before_any_launch() -> None:
    state = state_for(make_plan(3, waves=2, servers_per_wave=2))
    cmds = advance(state, m.Start(), T0)
    assert [type(c) for c in cmds] == [m.DescribeServers, m.WakeAt]
    assert sorted(cmds[0].server_ids) == sorted(state["servers"])


def test_preflight_failure_names_each_server_and_launches_nothing() -> None:
    """Preflight: a missing server and one not replicating fail the execution at once."""
    state = state_for(make_plan(4, waves=2, servers_per_wave=2))
    advance(state, m.Start(), T0)
    a, b, *rest = list(state["servers"])
    cmds = advance(
        state, m.ServersDescribed({b: "STALLED", **dict.fromkeys(rest, "CONTINUOUS")}), T0
    )
    assert cmds == [m.Finish("FAILED")]
    messages = [e["Message"] for e in state["errors"]]
    assert any(a in msg and "no such DRS source server" in msg for msg in messages)
    assert any(b in msg and "STALLED" in msg for msg in messages)
    record = ExecutionRecord.from_dict(to_record(state))
    assert all(w.Status == "CANCELLED" for w in record.WaveStatus)


def test_quota_queues_launches_instead_of_failing() -> None:
    """DRS quotas: at most 20 concurrent jobs and 500 servers in active jobs; the rest
    waits its turn and goes out as jobs finish."""
    data = make_plan(5, waves=30, servers_per_wave=1, health_check=False)
    for wave in data["Waves"]:
        wave["Dependencies"] = []
    state, cmds = started(data)
    first = of(cmds, m.StartRecovery)
    assert len(first) == 20
    for i, cmd in enumerate(first):
        advance(state, m.LaunchStarted(cmd.token, f"drsjob-{i:017d}"), T0)
    job = "drsjob-00000000000000000"
    sid = first[0].server_ids[0]
    done = {
        "status": "COMPLETED",
        "participants": {sid: {"launch_status": "LAUNCHED", "recovery_instance_id": None}},
    }
    cmds = advance(state, m.JobsPolled({job: done}), T0 + 30)
    assert len(of(cmds, m.StartRecovery)) == 1  # one finished, one more may start


def test_big_parallel_wave_respects_500_servers_in_active_jobs() -> None:
    _state, cmds = started(make_plan(6, waves=1, servers_per_wave=700, health_check=False))
    sent = of(cmds, m.StartRecovery)
    assert [len(c.server_ids) for c in sent] == [100] * 5
    assert len({c.token for c in sent}) == 5


def test_wait_time_and_timeout_are_exact() -> None:
    """Req 1.3 and 4.3: the next wave starts exactly WaitTimeSeconds after the previous
    one ended; past TimeoutSeconds the execution FAILS and nothing more is launched."""
    data = make_plan(7, waves=2, servers_per_wave=1, health_check=False)
    data["Waves"][0]["WaitTimeSeconds"] = 300
    data["TimeoutSeconds"] = 1000
    state, cmds = started(data)
    (cmd,) = of(cmds, m.StartRecovery)
    advance(state, m.LaunchStarted(cmd.token, "drsjob-aaaaaaaaaaaaaaaaa"), T0)
    sid = cmd.server_ids[0]
    job = {
        "status": "COMPLETED",
        "participants": {sid: {"launch_status": "LAUNCHED", "recovery_instance_id": None}},
    }
    cmds = advance(state, m.JobsPolled({"drsjob-aaaaaaaaaaaaaaaaa": job}), T0 + 600)
    assert of(cmds, m.WakeAt) == [m.WakeAt(T0 + 900)]
    assert of(advance(state, m.Tick(), T0 + 899.9), m.StartRecovery) == []
    cmds = advance(state, m.Tick(), T0 + 1000)
    assert cmds == [m.Finish("FAILED")]
    assert "timed out" in state["errors"][-1]["Message"]


def test_cancel_stops_new_launches_and_records_cancelled() -> None:
    """Req 4.5: after a cancel nothing new is launched, started jobs are followed to their
    end, and the execution ends CANCELLED."""
    state, cmds = started(make_plan(8, waves=2, servers_per_wave=2, health_check=False))
    (cmd,) = of(cmds, m.StartRecovery)
    advance(state, m.LaunchStarted(cmd.token, "drsjob-bbbbbbbbbbbbbbbbb"), T0)
    cmds = advance(state, m.Cancel("drill window closed"), T0 + 10)
    assert not of(cmds, m.StartRecovery) and not of(cmds, m.Finish)
    parts = {
        sid: {"launch_status": "LAUNCHED", "recovery_instance_id": None} for sid in cmd.server_ids
    }
    cmds = advance(
        state,
        m.JobsPolled({"drsjob-bbbbbbbbbbbbbbbbb": {"status": "COMPLETED", "participants": parts}}),
        T0 + 30,
    )
    assert cmds == [m.Finish("CANCELLED")]
    record = to_record(state)
    assert [w["Status"] for w in record["WaveStatus"]] == ["CANCELLED", "CANCELLED"]
    assert all(s["JobId"] for s in record["WaveStatus"][0]["ServerResults"])


def test_pause_before_waits_for_approval() -> None:
    data = make_plan(9, waves=1, servers_per_wave=1, health_check=False)
    data["Waves"][0]["PauseBefore"] = True
    state, cmds = started(data)
    assert of(cmds, m.AwaitApproval) == [m.AwaitApproval(1)]
    assert state["status"] == "PAUSED" and not of(cmds, m.StartRecovery)
    cmds = advance(state, m.Approve(1), T0 + 5)
    assert len(of(cmds, m.StartRecovery)) == 1 and state["status"] == "RUNNING"


def test_requeue_after_quota_refusal() -> None:
    state, cmds = started(make_plan(10, waves=1, servers_per_wave=1, health_check=False))
    (cmd,) = of(cmds, m.StartRecovery)
    cmds = advance(state, m.LaunchFailed(cmd.token, "ServiceQuotaExceeded", requeue=True), T0)
    assert of(cmds, m.WakeAt) == [m.WakeAt(T0 + 60)]
    assert len(of(advance(state, m.Tick(), T0 + 60), m.StartRecovery)) == 1


# -- failure tolerance (issue 11, item 8) ---------------------------------------------------


def _launch(
    state: dict[str, Any], cmd: m.StartRecovery, job: str, failed: set[str], at: float
) -> list[m.Command]:
    """Start ``cmd``'s job and end it: the servers in ``failed`` FAILED, the rest LAUNCHED."""
    advance(state, m.LaunchStarted(cmd.token, job), at)
    parts = {
        sid: {
            "launch_status": "FAILED" if sid in failed else "LAUNCHED",
            "recovery_instance_id": None,
        }
        for sid in cmd.server_ids
    }
    return advance(state, m.JobsPolled({job: {"status": "COMPLETED", "participants": parts}}), at)


def test_a_parallel_wave_within_its_tolerance_completes_and_releases_its_dependents() -> None:
    data = make_plan(11, waves=2, servers_per_wave=4, health_check=False)
    data["Waves"][0]["MaxFailedServers"] = 1
    state, cmds = started(data)
    (cmd,) = of(cmds, m.StartRecovery)
    bad = cmd.server_ids[2]
    cmds = _launch(state, cmd, "drsjob-aaaaaaaaaaaaaaaaa", {bad}, T0 + 30)
    assert [w["status"] for w in state["waves"]] == ["COMPLETED", "RUNNING"]
    assert len(of(cmds, m.StartRecovery)) == 1  # wave 2 was released
    assert any("within the 1 it tolerates" in n for n in state["notices"])
    (cmd,) = of(cmds, m.StartRecovery)
    assert _launch(state, cmd, "drsjob-bbbbbbbbbbbbbbbbb", set(), T0 + 60) == [
        m.Finish("COMPLETED")
    ]
    record = ExecutionRecord.from_dict(to_record(state))
    assert record.Status == "COMPLETED" and record.FailedServerCount == 1
    assert record.completed_with_failures
    failed = [s for w in record.WaveStatus for s in w.ServerResults if s.Status == "FAILED"]
    assert [s.ServerId for s in failed] == [bad] and failed[0].Error
    assert [e.ServerId for e in record.Errors] == [bad]


def test_a_wave_past_its_tolerance_fails_and_skips_its_dependents() -> None:
    data = make_plan(12, waves=2, servers_per_wave=4, health_check=False)
    data["Waves"][0]["MaxFailedPercent"] = 25  # 1 of 4
    state, cmds = started(data)
    (cmd,) = of(cmds, m.StartRecovery)
    cmds = _launch(state, cmd, "drsjob-aaaaaaaaaaaaaaaaa", set(cmd.server_ids[:2]), T0 + 30)
    assert cmds == [m.Finish("FAILED")]
    assert [w["status"] for w in state["waves"]] == ["FAILED", "SKIPPED"]
    record = ExecutionRecord.from_dict(to_record(state))
    assert record.FailedServerCount == 2 and not record.completed_with_failures


def test_a_sequential_wave_goes_on_after_a_failure_within_its_tolerance() -> None:
    data = make_plan(13, waves=1, servers_per_wave=4, health_check=False)
    data["Waves"][0].update(ExecutionType="SEQUENTIAL", MaxFailedServers=1)
    data["Waves"][0].pop("ExecutionOrder", None)
    state, cmds = started(data)
    order = state["waves"][0]["order"]
    outcomes = []
    for i, sid in enumerate(order):
        (cmd,) = of(cmds, m.StartRecovery)
        assert cmd.server_ids == [sid]  # the failure of the 2nd did not stop the 3rd
        cmds = _launch(state, cmd, f"drsjob-{i:017d}", {order[1]}, T0 + 30 * (i + 1))
        outcomes.append(state["servers"][sid]["status"])
    assert outcomes == ["COMPLETED", "FAILED", "COMPLETED", "COMPLETED"]
    assert cmds == [m.Finish("COMPLETED")]


def test_a_sequential_wave_past_its_tolerance_skips_the_rest() -> None:
    data = make_plan(14, waves=1, servers_per_wave=4, health_check=False)
    data["Waves"][0].update(ExecutionType="SEQUENTIAL", MaxFailedServers=1)
    data["Waves"][0].pop("ExecutionOrder", None)
    state, cmds = started(data)
    order = state["waves"][0]["order"]
    for i in range(2):
        (cmd,) = of(cmds, m.StartRecovery)
        cmds = _launch(state, cmd, f"drsjob-{i:017d}", set(order), T0 + 30 * (i + 1))
    assert cmds == [m.Finish("FAILED")]
    assert [state["servers"][sid]["status"] for sid in order] == [
        "FAILED",
        "FAILED",
        "SKIPPED",
        "SKIPPED",
    ]
    assert "more than the 1 it tolerates" in (state["servers"][order[2]]["error"] or "")


def test_a_sequential_failure_without_tolerance_still_skips_the_rest() -> None:
    """The seed's rule is unchanged when no tolerance is given (and its wording too)."""
    data = make_plan(15, waves=1, servers_per_wave=3, health_check=False)
    data["Waves"][0].update(ExecutionType="SEQUENTIAL")
    data["Waves"][0].pop("ExecutionOrder", None)
    state, cmds = started(data)
    order = state["waves"][0]["order"]
    (cmd,) = of(cmds, m.StartRecovery)
    assert _launch(state, cmd, "drsjob-aaaaaaaaaaaaaaaaa", {order[0]}, T0 + 30) == [
        m.Finish("FAILED")
    ]
    assert [state["servers"][sid]["status"] for sid in order] == ["FAILED", "SKIPPED", "SKIPPED"]
    assert "did not complete" in (state["servers"][order[1]]["error"] or "")


def test_a_cancelled_server_is_never_tolerated() -> None:
    data = make_plan(16, waves=2, servers_per_wave=2, health_check=False)
    data["Waves"][0]["MaxFailedServers"] = 2
    state, cmds = started(data)
    (cmd,) = of(cmds, m.StartRecovery)
    advance(state, m.LaunchStarted(cmd.token, "drsjob-aaaaaaaaaaaaaaaaa"), T0)
    advance(state, m.Cancel("test"), T0 + 5)
    parts = {
        sid: {"launch_status": "LAUNCHED", "recovery_instance_id": None} for sid in cmd.server_ids
    }
    job = {"status": "COMPLETED", "participants": parts}
    assert advance(state, m.JobsPolled({"drsjob-aaaaaaaaaaaaaaaaa": job}), T0 + 30) == [
        m.Finish("CANCELLED")
    ]
    assert [w["status"] for w in state["waves"]] == ["CANCELLED", "CANCELLED"]


def test_a_state_saved_without_max_failed_runs_with_no_tolerance() -> None:
    """States saved before issue 11.8 lack the wave key ``max_failed``: they load, and
    run with the seed's rule."""
    from drsorch.core import load_state

    data = make_plan(17, waves=2, servers_per_wave=2, health_check=False)
    data["Waves"][0]["MaxFailedServers"] = 1
    state = state_for(data)
    assert state["waves"][0]["max_failed"] == 1
    for w in state["waves"]:
        del w["max_failed"]
    state = load_state(json.loads(json.dumps(state)))
    advance(state, m.Start(), T0)
    cmds = advance(state, m.ServersDescribed(dict.fromkeys(state["servers"], "CONTINUOUS")), T0)
    (cmd,) = of(cmds, m.StartRecovery)
    bad = cmd.server_ids[0]
    assert _launch(state, cmd, "drsjob-aaaaaaaaaaaaaaaaa", {bad}, T0 + 30) == [m.Finish("FAILED")]
