"""The engine end to end on the in-process simulator: health-check requirements, quotas
against the simulated DRS, replay of a recorded execution, cancellation and approvals."""

from __future__ import annotations

import itertools
import json

from tests.utils.engine import RecordingStore, run_plan
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.core import advance
from drsorch.core.messages import message_from_dict
from drsorch.plan import parse_plan
from drsorch.runner import Runner
from drsorch.wiring import simulated


def plan_with_health(**health: object) -> dict[str, object]:
    data = make_plan(11, waves=1, servers_per_wave=2)
    data["Defaults"] = {"HealthCheck": health}
    return data


def test_req_3_2_running_is_enough_for_require_running() -> None:
    """Req 3.2: with Require RUNNING a server is COMPLETED once EC2 says running, even
    while its status checks still initialize."""
    out = run_plan(plan_with_health(Require="RUNNING"), fast=False)
    assert out.record.Status == "COMPLETED"
    for sid in out.plan.all_server_ids():
        result = out.server(sid)
        # The simulator's instances run 30-90 s after launch; a poll follows within 30 s.
        assert result.HealthyTime is not None
        assert 30 <= result.HealthyTime - result.LaunchedTime <= 90 + 30


def test_status_ok_waits_for_both_status_checks() -> None:
    """STATUS_OK also needs instance and system checks ok: it takes longer than RUNNING."""
    running = run_plan(plan_with_health(Require="RUNNING"), seed=3, fast=False)
    status_ok = run_plan(plan_with_health(Require="STATUS_OK"), seed=3, fast=False)
    for sid in running.plan.all_server_ids():
        assert status_ok.server(sid).HealthyTime > running.server(sid).HealthyTime


def test_req_3_4_health_check_times_out_after_five_minutes() -> None:
    """Req 3.4: an instance that never runs fails its server 10 polls x 30 s = 300 s after
    the launch was seen; the last state seen is in the error."""
    data = make_plan(12, waves=1, servers_per_wave=1)
    sid = data["Waves"][0]["ServerIds"][0]
    out = run_plan(data, faults=[{"kind": "stuck_pending", "server_id": sid}])
    result = out.server(sid)
    assert result.Status == "FAILED"
    assert result.EndTime - result.LaunchedTime == 300
    assert "10 polls" in result.Error and "pending" in result.Error
    assert out.record.Status == "FAILED"


def test_impaired_instance_fails_status_ok_but_passes_running() -> None:
    data = make_plan(13, waves=1, servers_per_wave=1)
    sid = data["Waves"][0]["ServerIds"][0]
    fault = {"kind": "impaired", "server_id": sid, "checks": "both"}
    data["Defaults"] = {"HealthCheck": {"Require": "STATUS_OK"}}
    assert run_plan(data, faults=[fault]).server(sid).Status == "FAILED"
    data["Defaults"] = {"HealthCheck": {"Require": "RUNNING"}}
    assert run_plan(data, faults=[fault]).server(sid).Status == "COMPLETED"


def test_req_3_5_disabled_health_check_makes_no_ec2_call() -> None:
    """Req 3.5: with health checks disabled, no EC2 API is called at all."""
    out = run_plan(make_plan(14, waves=2, servers_per_wave=3, health_check=False))
    assert out.record.Status == "COMPLETED"
    assert [c for c in out.sim.recorder.calls if c.service == "ec2"] == []
    for sid in out.plan.all_server_ids():
        assert out.server(sid).Ec2InstanceId  # still recorded, from DRS


def test_large_plan_stays_within_drs_quotas() -> None:
    """The engine queues instead of failing: 700 servers in one wave and 30 one-server
    waves at once never meet a DRS quota error."""
    big = run_plan(make_plan(15, waves=1, servers_per_wave=700, health_check=False))
    data = make_plan(16, waves=30, servers_per_wave=1, health_check=False)
    for wave in data["Waves"]:
        wave["Dependencies"] = []
    many = run_plan(data)
    for out in (big, many):
        assert out.record.Status == "COMPLETED"
        errors = [c.error_code for c in out.sim.recorder.calls if c.error_code]
        assert errors == []
    assert max(len(c.params["sourceServers"]) for c in big.calls("StartRecovery")) == 100


def test_replay_of_the_recorded_events_gives_the_same_commands() -> None:
    """The core is deterministic: the events of an execution fed to a fresh state at
    their times give the very same commands, step by step."""
    data = make_plan(17, waves=3, servers_per_wave=3, execution_type="MIXED", dag=True)
    sid = data["Waves"][1]["ServerIds"][0]
    out = run_plan(
        data,
        faults=[
            {"kind": "launch_failure", "server_id": sid},
            {"kind": "throttle", "operation": "DescribeJobs", "nth": 2},
        ],
    )
    state = out.fresh_state()
    assert len(out.runner.trace) > 10
    for time, event, commands in out.runner.trace:
        shipped = message_from_dict(json.loads(json.dumps(event.to_dict())))  # as JSON
        assert advance(state, shipped, time) == commands
    assert state == out.runner.state


def test_cancel_during_a_run_ends_cancelled_with_started_jobs_recorded() -> None:
    """Req 4.5: a cancel during wave 1 stops the plan; wave 1's job is followed to its end
    and recorded; later waves are CANCELLED; nothing else is launched."""
    plan = parse_plan(make_plan(18, waves=3, servers_per_wave=2))
    clock = VirtualClock(start=DEFAULT_EPOCH)
    world = simulated(plan, clock=clock)
    store = RecordingStore()

    class CancelOnFirstJob:
        def update(self, state: dict[str, object]) -> None:
            launches = state["launches"]
            if any(x["job_id"] for x in launches.values()):  # type: ignore[attr-defined]
                runner.cancel("test")

    runner = Runner(
        drs=world.drs, ec2=world.ec2, store=store, clock=clock, observer=CancelOnFirstJob()
    )
    record = runner.run(plan, world.options)
    assert record.Status == "CANCELLED"
    assert [w.Status for w in record.WaveStatus] == ["CANCELLED"] * 3
    assert all(s.JobId for s in record.WaveStatus[0].ServerResults)
    assert world.sim is not None
    assert sum(1 for c in world.sim.recorder.calls if c.operation == "StartRecovery") == 1
    assert any("cancelled" in e.Message for e in record.Errors)


def test_pause_before_without_approval_cancels() -> None:
    data = make_plan(19, waves=2, servers_per_wave=1)
    data["Waves"][1]["PauseBefore"] = True
    refused = run_plan(data, approve=False)
    assert refused.record.Status == "CANCELLED"
    assert refused.wave(1).Status == "COMPLETED" and refused.wave(2).Status == "CANCELLED"
    assert "approval" in " ".join(e.Message for e in refused.record.Errors)
    assert run_plan(data, approve=True).record.Status == "COMPLETED"


def test_poll_seconds_sets_the_time_between_describe_jobs_and_is_kept_in_the_state() -> None:
    """``run --poll-seconds``: one DescribeJobs per interval while jobs are active, and the
    interval is saved with the state, so a resumed execution polls as it ran."""
    from drsorch.store import MemoryStore

    plan = parse_plan(make_plan(23, waves=2, servers_per_wave=2))
    polls: dict[float, list[float]] = {}
    for interval in (10.0, 45.0):
        clock = VirtualClock(start=DEFAULT_EPOCH)
        world = simulated(plan, clock=clock)
        world.options.job_poll_seconds = interval
        world.options.keep_state = True
        store = MemoryStore()
        runner = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=clock)
        record = runner.run(plan, world.options)
        assert record.Status == "COMPLETED"
        saved = store.get_state(record.ExecutionId)
        assert saved is not None and saved["config"]["job_poll_seconds"] == interval
        assert world.sim is not None
        calls = world.sim.recorder.calls
        polls[interval] = [c.time for c in calls if c.operation == "DescribeJobs"]
    for interval, times in polls.items():
        gaps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
        # every gap is the interval, or longer where no job was active (between waves)
        assert min(gaps) == interval, (interval, sorted(gaps))
    assert len(polls[10.0]) > len(polls[45.0])
