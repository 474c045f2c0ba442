"""Property 7 (seed Req 2.3): how the pure core reads DRS job and launch statuses.

The core is driven directly (no boto3, no simulator): a one-wave plan is started, its
launch is acknowledged, and a ``JobsPolled`` event with the status under test is fed in.
DRS jobs go PENDING -> STARTED -> COMPLETED; the seed's IN_PROGRESS / FAILED must be
understood too; anything else is logged as a notice and treated as still in progress
until the server's launch timeout (7200 s).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH
from drsorch.core import advance, new_execution, to_record
from drsorch.core import messages as m
from drsorch.core.state import State
from drsorch.history import ExecutionRecord
from drsorch.plan import parse_plan

pytestmark = pytest.mark.unit

T0 = DEFAULT_EPOCH
JOB = "drsjob-0123456789abcdef0"
RID = "i-0123456789abcdef0"
LAUNCH_TIMEOUT = 7200.0

IN_PROGRESS_JOB = ("PENDING", "STARTED", "IN_PROGRESS")
ENDED_JOB = ("COMPLETED", "FAILED")
KNOWN_JOB = IN_PROGRESS_JOB + ENDED_JOB
IN_PROGRESS_LAUNCH = (None, "PENDING", "IN_PROGRESS")

in_progress_job = st.sampled_from(IN_PROGRESS_JOB)
ended_job = st.sampled_from(ENDED_JOB)
unknown_job = st.text(
    alphabet=st.characters(codec="ascii", categories=("Lu", "Ll", "Nd", "Pc")),
    max_size=16,
).filter(lambda s: s not in KNOWN_JOB)
any_job = st.one_of(st.sampled_from(KNOWN_JOB), unknown_job)

FAST = settings(max_examples=25, deadline=None)


# -- driving the core ------------------------------------------------------------------------


def launching(
    servers: int = 1, *, health: bool = True, seed: int = 0
) -> tuple[State, list[str], float]:
    """A RUNNING one-wave execution whose servers are LAUNCHING in job ``JOB``.

    Returns the state, the server ids and the time the launch was acknowledged.
    """
    plan = parse_plan(make_plan(seed, waves=1, servers_per_wave=servers, health_check=health))
    state = new_execution(
        plan,
        execution_id=str(uuid.uuid4()),
        now=T0,
        initiated_by="tester@host",
        source_account_id="123456789012",
        target_account_id="123456789012",
        region="us-east-1",
    )
    cmds = advance(state, m.Start(), T0)
    describe = [c for c in cmds if isinstance(c, m.DescribeServers)]
    assert len(describe) == 1
    sids = describe[0].server_ids
    cmds = advance(state, m.ServersDescribed({sid: "CONTINUOUS" for sid in sids}), T0)
    starts = [c for c in cmds if isinstance(c, m.StartRecovery)]
    assert len(starts) == 1 and sorted(starts[0].server_ids) == sorted(sids)
    cmds = advance(state, m.LaunchStarted(starts[0].token, JOB), T0 + 1)
    assert cmds == [m.WakeAt(T0 + 1 + 30)]  # the first job poll, 30 s later
    for sid in sids:
        assert state["servers"][sid]["status"] == "LAUNCHING"
        assert state["servers"][sid]["job_id"] == JOB
    return state, sids, T0 + 1


def poll(
    state: State,
    now: float,
    status: str,
    participants: dict[str, dict[str, Any]] | None = None,
    reasons: dict[str, str] | None = None,
) -> list[m.Message]:
    """Tick to ``now`` (the core asks for the poll), then answer it with ``status``."""
    cmds = advance(state, m.Tick(), now)
    polls = [c for c in cmds if isinstance(c, m.PollJobs)]
    assert polls == [m.PollJobs([JOB])], cmds
    job = {"status": status, "participants": participants or {}, "reasons": reasons or {}}
    return advance(state, m.JobsPolled({JOB: job}), now)


def part(launch_status: str | None, rid: str | None = None) -> dict[str, Any]:
    return {"launch_status": launch_status, "recovery_instance_id": rid}


def unknown_notices(state: State) -> list[str]:
    return [n for n in state["notices"] if "unknown status" in n]


# -- Property 7 ------------------------------------------------------------------------------


@FAST
@given(status=in_progress_job, launch=st.sampled_from(IN_PROGRESS_LAUNCH), n=st.integers(1, 3))
def test_in_progress_job_keeps_servers_launching(status: str, launch: str | None, n: int) -> None:
    """Property 7: a job PENDING / STARTED / IN_PROGRESS (seed) with servers not launched
    yet keeps every server LAUNCHING, with no error, no notice, and the next poll 30 s on."""
    state, sids, t = launching(n)
    now = t + 30
    cmds = poll(state, now, status, {sid: part(launch) for sid in sids})
    assert [state["servers"][sid]["status"] for sid in sids] == ["LAUNCHING"] * n
    assert state["errors"] == [] and state["notices"] == []
    assert state["status"] == "RUNNING"
    assert cmds[-1] == m.WakeAt(now + 30)


@FAST
@given(status=any_job, n=st.integers(1, 3))
def test_launched_moves_to_health_check(status: str, n: int) -> None:
    """Property 7: launchStatus LAUNCHED moves the server to HEALTH_CHECK (whatever the job
    status says), records the recovery instance and LaunchedTime, and looks the instance up."""
    state, sids, t = launching(n, health=True)
    now = t + 30
    rids = {sid: f"i-{i:017x}" for i, sid in enumerate(sids)}
    cmds = poll(state, now, status, {sid: part("LAUNCHED", rids[sid]) for sid in sids})
    for sid in sids:
        s = state["servers"][sid]
        assert s["status"] == "HEALTH_CHECK"
        assert s["recovery_instance_id"] == rids[sid]
        assert s["launched_time"] == now
        assert s["error"] is None
    resolve = [c for c in cmds if isinstance(c, m.ResolveInstances)]
    assert resolve == [m.ResolveInstances(sorted(rids.values()))]
    assert state["errors"] == []


@FAST
@given(status=any_job, n=st.integers(1, 3))
def test_launched_completes_when_health_disabled(status: str, n: int) -> None:
    """Property 7 / Req 3.5: LAUNCHED with health checks disabled COMPLETES the server
    without any EC2 health call (at once, or once DRS names its EC2 instance), and the
    one-wave execution COMPLETES when its job is no longer running."""
    state, sids, t = launching(n, health=False)
    now = t + 30
    rids = {sid: f"i-{i:017x}" for i, sid in enumerate(sids)}
    cmds = poll(state, now, status, {sid: part("LAUNCHED", rids[sid]) for sid in sids})
    seen = list(cmds)
    resolve = [c for c in cmds if isinstance(c, m.ResolveInstances)]
    done_at = now
    if resolve:  # the record may name the EC2 instance first (a drill to clean up)
        assert sorted(resolve[0].recovery_instance_ids) == sorted(rids.values())
        assert all(state["servers"][sid]["status"] == "LAUNCHED" for sid in sids)
        cmds = advance(state, m.InstancesResolved({r: r for r in rids.values()}), now)
        seen += cmds
    for sid in sids:
        s = state["servers"][sid]
        assert s["status"] == "COMPLETED"
        assert s["launched_time"] == now and s["end_time"] == done_at
        assert s["healthy_time"] is None and s["error"] is None
    if status in IN_PROGRESS_JOB:  # the execution ends when its job is no longer running
        assert state["status"] == "RUNNING"
        cmds = poll(state, now + 30, "COMPLETED", {sid: part("LAUNCHED") for sid in sids})
        seen += cmds
    assert not any(isinstance(c, m.CheckHealth) for c in seen)
    assert state["status"] == "COMPLETED"
    assert cmds[-1] == m.Finish("COMPLETED")
    assert state["errors"] == []


@FAST
@given(
    status=any_job,
    launch=st.sampled_from(["FAILED", "TERMINATED"]),
    reason=st.one_of(
        st.none(), st.sampled_from(["LAUNCH_FAILED: No capacity", "CONVERSION_FAIL: x"])
    ),
)
def test_failed_launch_status_fails_server_with_reason(
    status: str, launch: str, reason: str | None
) -> None:
    """Property 7 / Property 11: launchStatus FAILED or TERMINATED fails the server with the
    job log's reason (or the launch status when the log says nothing), naming server and job."""
    state, sids, t = launching(1)
    (sid,) = sids
    now = t + 30
    reasons = {sid: reason} if reason else {}
    poll(state, now, status, {sid: part(launch)}, reasons)
    s = state["servers"][sid]
    assert s["status"] == "FAILED"
    assert s["end_time"] == now
    expected = reason if reason else f"DRS reported launchStatus {launch}"
    assert s["error"] == f"launch failed: {expected}"
    (err,) = state["errors"]
    assert err["ServerId"] == sid and err["JobId"] == JOB and err["WaveNumber"] == 1
    assert sid in err["Message"] and JOB in err["Message"] and expected in err["Message"]
    # The execution ends once the job is no longer in progress (its other work is recorded).
    assert state["status"] == ("RUNNING" if status in IN_PROGRESS_JOB else "FAILED")


@FAST
@given(
    status=ended_job,
    launch=st.sampled_from((*IN_PROGRESS_LAUNCH, "ABSENT")),
)
def test_ended_job_without_launch_fails_server(status: str, launch: str | None) -> None:
    """Property 7: a job COMPLETED (or the seed's FAILED) in which the server was not
    launched fails it, saying how the job ended and that it did not launch the server."""
    state, sids, t = launching(1)
    (sid,) = sids
    now = t + 30
    participants = {} if launch == "ABSENT" else {sid: part(launch)}
    cmds = poll(state, now, status, participants)
    s = state["servers"][sid]
    assert s["status"] == "FAILED"
    why = "did not include this server" if launch == "ABSENT" else f"left it {launch}"
    assert s["error"] == f"job ended {status} but {why}"
    assert state["errors"][0]["JobId"] == JOB
    assert cmds[-1] == m.Finish("FAILED")


@FAST
@given(status=unknown_job, launch=st.sampled_from(IN_PROGRESS_LAUNCH))
def test_unknown_job_status_is_a_notice_then_times_out(status: str, launch: str | None) -> None:
    """Property 7 / Req 2.3: an unknown job status keeps the server LAUNCHING with a notice
    naming the status (no error), and fails it when polled at the launch timeout (7200 s)."""
    state, sids, t = launching(1)
    (sid,) = sids
    now = t + 30
    cmds = poll(state, now, status, {sid: part(launch)})
    assert state["servers"][sid]["status"] == "LAUNCHING"
    assert state["errors"] == []
    (note,) = unknown_notices(state)
    assert repr(status) in note and JOB in note
    assert cmds[-1] == m.WakeAt(now + 30)

    # The next poll still in time: still LAUNCHING, the notice is not repeated.
    poll(state, now + 30, status, {sid: part(launch)})
    assert state["servers"][sid]["status"] == "LAUNCHING"
    assert len(unknown_notices(state)) == 1

    # A poll at start + timeout (start = when StartRecovery was sent, T0): FAILED.
    start = state["servers"][sid]["start_time"]
    assert start == T0
    late = start + LAUNCH_TIMEOUT
    state["next_job_poll"] = late  # jump straight to the poll due at the timeout
    poll(state, late, status, {sid: part(launch)})
    s = state["servers"][sid]
    assert s["status"] == "FAILED"
    assert s["error"].startswith(f"still launching after {LAUNCH_TIMEOUT:.0f} s")
    assert f"job status {status}" in s["error"]
    assert state["status"] == "FAILED"


@FAST
@given(status=unknown_job)
def test_unknown_job_status_just_before_timeout_keeps_waiting(status: str) -> None:
    """Property 7: one second before the launch timeout the server is still LAUNCHING."""
    state, sids, _ = launching(1)
    (sid,) = sids
    state["next_job_poll"] = T0 + LAUNCH_TIMEOUT - 1
    poll(state, T0 + LAUNCH_TIMEOUT - 1, status, {sid: part("PENDING")})
    assert state["servers"][sid]["status"] == "LAUNCHING"
    assert state["errors"] == []


@pytest.mark.parametrize("status", KNOWN_JOB)
def test_known_job_statuses_never_give_a_notice(status: str) -> None:
    """Property 7: the documented and the seed's statuses are understood (no notice)."""
    state, sids, t = launching(2)
    poll(state, t + 30, status, {sids[0]: part("LAUNCHED", RID), sids[1]: part("PENDING")})
    assert unknown_notices(state) == []


def test_status_parsing_records_validate() -> None:
    """Property 7 / Property 18: the record derived after a mixed poll is a valid record."""
    state, sids, t = launching(3)
    poll(
        state,
        t + 30,
        "STARTED",
        {sids[0]: part("LAUNCHED", RID), sids[1]: part("FAILED"), sids[2]: part("PENDING")},
        {sids[1]: "LAUNCH_FAILED: no capacity"},
    )
    record = ExecutionRecord.from_dict(to_record(state))
    statuses = {r.ServerId: r.Status.value for r in record.WaveStatus[0].ServerResults}
    assert statuses == {sids[0]: "HEALTH_CHECK", sids[1]: "FAILED", sids[2]: "LAUNCHING"}
    assert record.Status.value == "RUNNING"


@FAST
@given(launch=st.sampled_from(["WEIRD", "QUEUED", "launched"]), status=in_progress_job)
def test_unknown_launch_status_is_a_notice_then_times_out(launch: str, status: str) -> None:
    """Property 7: an unknown launchStatus keeps the server LAUNCHING with a notice naming
    it (no error), and is bounded by the launch timeout like an unknown job status."""
    state, sids, t = launching(1)
    (sid,) = sids
    poll(state, t + 30, status, {sid: part(launch)})
    assert state["servers"][sid]["status"] == "LAUNCHING"
    assert state["errors"] == []
    assert any(sid in n and repr(launch) in n for n in state["notices"])
    state["next_job_poll"] = T0 + LAUNCH_TIMEOUT
    poll(state, T0 + LAUNCH_TIMEOUT, status, {sid: part(launch)})
    s = state["servers"][sid]
    assert s["status"] == "FAILED"
    assert f"launch status {launch}" in s["error"]


def test_job_missing_from_describe_jobs_is_bounded_by_launch_timeout() -> None:
    """Property 7 / Req 2.3: a job DescribeJobs does not return (unknown to DRS) is no
    better than an unknown status: the server fails at the launch timeout (7200 s after
    its StartRecovery), naming the job, rather than waiting for the execution timeout."""
    state, sids, t = launching(1)
    (sid,) = sids
    now = t
    while now < T0 + LAUNCH_TIMEOUT:
        now += 30
        cmds = advance(state, m.Tick(), now)
        if any(isinstance(c, m.PollJobs) for c in cmds):
            advance(state, m.JobsPolled({}), now)  # DescribeJobs returns no such job
    assert state["status"] != "RUNNING" or state["servers"][sid]["status"] == "FAILED"
    s = state["servers"][sid]
    assert s["status"] == "FAILED"
    assert JOB in (state["errors"][0]["Message"] if state["errors"] else "")
