"""Seed properties 1-6 and 9-12 of the execution engine, on generated plans.

Every example runs the real engine through the real boto3 adapters against the in-process
simulator on a virtual clock, then checks the property on what the simulator recorded
(the API calls and their virtual times) and on the final history record.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.engine import FAST_HEALTHY_WITHIN, Outcome, as_plan, run_plan
from tests.utils.plans import make_plan, plans

from drsorch.plan import Plan

SETTINGS = settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow])
WEEK = 7 * 86_400


def roomy(data: dict[str, Any]) -> dict[str, Any]:
    """The plan with the longest allowed TimeoutSeconds: these properties are not about it."""
    return {**data, "TimeoutSeconds": WEEK}


def starts(out: Outcome) -> list[tuple[float, int, list[str], dict[str, Any]]]:
    """(time, wave, server ids, params) of every StartRecovery the simulator answered."""
    return [
        (
            c.time,
            int(c.params["tags"]["drsorch:wave"]),
            [s["sourceServerID"] for s in c.params["sourceServers"]],
            c.params,
        )
        for c in out.calls("StartRecovery", ok_only=True)
    ]


def deps(plan: Plan) -> dict[int, list[int]]:
    return {w.wave_number: plan.dependencies_of(w) for w in plan.waves}


def ancestors(plan: Plan, number: int) -> set[int]:
    graph, seen, todo = deps(plan), set(), [number]
    while todo:
        for d in graph[todo.pop()]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


@SETTINGS
@given(data=plans(max_waves=4, max_servers_per_wave=3, dag=False), seed=st.integers(0, 99))
def test_p1_waves_run_in_order(data: dict[str, Any], seed: int) -> None:
    """Property 1: without Dependencies, waves run strictly in WaveNumber order (Req 1.1)."""
    out = run_plan(roomy(data), seed=seed)
    waves = sorted(out.record.WaveStatus, key=lambda w: w.WaveNumber)
    for before, after in itertools.pairwise(waves):
        if after.StartTime is not None:  # it ran: the one before it completed first
            assert before.Status == "COMPLETED" and after.StartTime >= before.EndTime
        else:  # a generated health check may be too short: then the rest is skipped
            assert after.Status == "SKIPPED" and before.Status in ("FAILED", "SKIPPED")
    launch_waves = [wave for _, wave, _, _ in sorted(starts(out), key=lambda s: s[0])]
    assert launch_waves == sorted(launch_waves)


@SETTINGS
@given(data=plans(max_waves=5, max_servers_per_wave=2, dag=True), seed=st.integers(0, 99))
def test_p2_p3_dependencies_and_waits(data: dict[str, Any], seed: int) -> None:
    """Property 2 and 3: a wave starts only after all its (transitive) dependencies
    completed, exactly max(dependency EndTime + its WaitTimeSeconds) (Req 1.2, 1.3)."""
    out = run_plan(roomy(data), seed=seed)
    plan = out.plan
    end = {w.WaveNumber: w.EndTime for w in out.record.WaveStatus}
    wait = {w.wave_number: w.wait_time_seconds for w in plan.waves}
    status = {w.WaveNumber: w.Status for w in out.record.WaveStatus}
    for w in out.record.WaveStatus:
        if w.StartTime is None:  # never ran: some ancestor did not complete
            assert any(status[a] != "COMPLETED" for a in ancestors(plan, w.WaveNumber))
            continue
        for a in ancestors(plan, w.WaveNumber):
            assert status[a] == "COMPLETED"
            assert w.StartTime >= end[a]
        direct = deps(plan)[w.WaveNumber]
        expected = max((end[d] + wait[d] for d in direct), default=out.record.StartTime)
        assert w.StartTime == expected  # exact in virtual time, so within any tolerance
    first_launch = {}
    for time, wave, _, _ in starts(out):
        first_launch.setdefault(wave, time)
    for wave, time in first_launch.items():
        assert time == out.wave(wave).StartTime


@SETTINGS
@given(size=st.integers(1, 250), seed=st.integers(0, 99))
def test_p4_parallel_wave_launches_at_one_instant(size: int, seed: int) -> None:
    """Property 4: every StartRecovery of a PARALLEL wave is sent at the same instant, in
    chunks of at most 100 servers that together cover the wave once (Req 1.4).

    Two waves of at most 250 stay within DRS's 500 servers in active jobs even while the
    first wave's jobs are still finishing; beyond that the engine queues (tested apart)."""
    data = make_plan(seed, waves=2, servers_per_wave=size, health_check=False)
    out = run_plan(roomy(data), seed=seed)
    assert out.record.Status == "COMPLETED"
    for wave in out.plan.waves:
        calls = [s for s in starts(out) if s[1] == wave.wave_number]
        assert len({time for time, *_ in calls}) == 1
        assert all(len(ids) <= 100 for _, _, ids, _ in calls)
        assert len(calls) == -(-size // 100)
        launched = [sid for _, _, ids, _ in calls for sid in ids]
        assert sorted(launched) == sorted(wave.server_ids)


@SETTINGS
@given(n=st.integers(2, 5), seed=st.integers(0, 99))
def test_p5_sequential_wave_launches_one_at_a_time(n: int, seed: int) -> None:
    """Property 5: a SEQUENTIAL wave launches its servers one at a time in ExecutionOrder;
    server i+1 starts only when server i is COMPLETED (launched and healthy) (Req 1.5)."""
    data = make_plan(seed, waves=1, servers_per_wave=n, execution_type="SEQUENTIAL")
    out = run_plan(roomy(data), seed=seed)
    wave = out.plan.waves[0]
    calls = sorted(starts(out), key=lambda s: s[0])
    assert [ids for _, _, ids, _ in calls] == [[sid] for sid in wave.launch_order()]
    for (time, *_), previous in zip(calls[1:], wave.launch_order(), strict=False):
        result = out.server(previous)
        assert result.Status == "COMPLETED"
        assert time == result.EndTime


@SETTINGS
@given(data=plans(max_waves=3, max_servers_per_wave=3), seed=st.integers(0, 99))
def test_p6_start_recovery_parameters(data: dict[str, Any], seed: int) -> None:
    """Property 6 / Req 2.1, 2.2: each server is sent once with its own sourceServerID, no
    recoverySnapshotID (latest data), isDrill matching the execution type, and job tags."""
    out = run_plan(roomy(data), seed=seed)
    sent = []
    for _, wave, ids, params in starts(out):
        assert params["isDrill"] is (out.plan.execution_type == "DRILL")
        assert all(set(s) == {"sourceServerID"} for s in params["sourceServers"])
        tags = params["tags"]
        assert tags["drsorch:execution-id"] == out.record.ExecutionId
        assert tags["drsorch:plan-id"] == out.plan.plan_id
        assert set(ids) <= set(out.plan.wave(wave).server_ids)
        sent += ids
    assert len(sent) == len(set(sent))  # never twice
    for sid in out.plan.all_server_ids():  # not sent: only because a wave could not run
        assert sid in sent or out.server(sid).Status in ("SKIPPED", "CANCELLED")


@SETTINGS
@given(data=plans(max_waves=3, max_servers_per_wave=4), seed=st.integers(0, 99))
def test_p9_health_checks_the_recovered_instances(data: dict[str, Any], seed: int) -> None:
    """Property 9 / Req 3.1: DescribeInstanceStatus asks about exactly the recovered EC2
    instances of health-checked waves, at most 100 per call, including non-running ones."""
    out = run_plan(roomy(data), seed=seed)
    checked: set[str] = set()
    for call in out.calls("DescribeInstanceStatus"):
        ids = call.params["InstanceIds"]
        assert 1 <= len(ids) <= 100
        assert call.params.get("IncludeAllInstances") in (True, "true")
        checked |= set(ids)
    expected = set()
    for wave in out.plan.waves:
        enabled = out.plan.health_check_for(wave).enabled
        for sid in wave.server_ids:
            result = out.server(sid)
            if result.LaunchedTime is None:  # e.g. its wave was skipped
                continue
            assert result.Ec2InstanceId
            if enabled:
                expected.add(result.Ec2InstanceId)
            else:
                assert result.Ec2InstanceId not in checked
                assert result.Status == "COMPLETED" and result.HealthyTime is None
    assert checked == expected


@SETTINGS
@given(
    interval=st.integers(5, 60),
    polls=st.integers(1, 12),
    seed=st.integers(0, 99),
    require=st.sampled_from(["RUNNING", "STATUS_OK"]),
)
def test_p10_health_polls_interval_and_limit(
    interval: int, polls: int, seed: int, require: str
) -> None:
    """Property 10 / Req 3.3, 3.4: an instance that never comes up is polled every
    PollIntervalSeconds, exactly MaxPolls times, then its server FAILS with the last state."""
    data = make_plan(seed, waves=1, servers_per_wave=2)
    data["Defaults"] = {
        "HealthCheck": {"PollIntervalSeconds": interval, "MaxPolls": polls, "Require": require}
    }
    stuck = data["Waves"][0]["ServerIds"][0]
    out = run_plan(data, seed=seed, faults=[{"kind": "stuck_pending", "server_id": stuck}])
    result = out.server(stuck)
    assert result.Status == "FAILED" and "pending" in result.Error
    times = [
        c.time
        for c in out.calls("DescribeInstanceStatus")
        if result.Ec2InstanceId in c.params["InstanceIds"]
    ]
    assert times == [result.LaunchedTime + k * interval for k in range(1, polls + 1)]
    assert result.EndTime == result.LaunchedTime + polls * interval
    if interval * polls >= FAST_HEALTHY_WITHIN:  # FAST_TIMING's longest time to checks ok
        assert out.server(data["Waves"][0]["ServerIds"][1]).Status == "COMPLETED"


@SETTINGS
@given(
    # Only the injected launch failure may fail a server: a health check too short for the
    # simulated instances would skip the victim's wave before it is launched.
    data=plans(max_waves=3, max_servers_per_wave=3, healthy_within=FAST_HEALTHY_WITHIN),
    seed=st.integers(0, 99),
    pick=st.randoms(use_true_random=False),
)
def test_p11_launch_failure_is_recorded_with_job_and_server(
    data: dict[str, Any], seed: int, pick: random.Random
) -> None:
    """Property 11 / Req 4.1, 5.4: a failed launch is in the record with the server id,
    the DRS job id and the job log's reason, in the server result and in Errors."""
    plan = as_plan(roomy(data))
    victim = pick.choice(plan.all_server_ids())
    raw = "EC2 capacity unavailable in us-east-1a (simulated)"
    out = run_plan(
        plan, seed=seed, faults=[{"kind": "launch_failure", "server_id": victim, "raw_error": raw}]
    )
    result = out.server(victim)
    assert result.Status == "FAILED" and result.JobId and raw in result.Error
    entries = [e for e in out.record.Errors if e.ServerId == victim]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.JobId == result.JobId
    assert victim in entry.Message and result.JobId in entry.Message and raw in entry.Message
    assert out.record.Status == "FAILED"


@SETTINGS
@given(
    # Other branches must complete: no health check may be too short to pass.
    data=plans(
        min_waves=2,
        max_waves=5,
        max_servers_per_wave=2,
        dag=True,
        healthy_within=FAST_HEALTHY_WITHIN,
    ),
    seed=st.integers(0, 99),
    pick=st.randoms(use_true_random=False),
)
def test_p12_failure_cascades_as_skipped(
    data: dict[str, Any], seed: int, pick: random.Random
) -> None:
    """Property 12 / Req 4.2: every wave that depends, even transitively, on a failed wave
    is SKIPPED without any API call for its servers; other branches complete."""
    plan = as_plan(roomy(data))
    failed_wave = pick.choice(plan.waves)
    victim = failed_wave.server_ids[0]
    out = run_plan(plan, seed=seed, faults=[{"kind": "launch_failure", "server_id": victim}])
    launched = {sid for _, _, ids, _ in starts(out) for sid in ids}
    for wave in plan.waves:
        status = out.wave(wave.wave_number).Status
        if wave.wave_number == failed_wave.wave_number:
            assert status == "FAILED"
        elif failed_wave.wave_number in ancestors(plan, wave.wave_number):
            assert status == "SKIPPED"
            assert not set(wave.server_ids) & launched
            assert all(out.server(s).Status == "SKIPPED" for s in wave.server_ids)
        else:
            assert status == "COMPLETED"
    assert out.record.Status == "FAILED"
