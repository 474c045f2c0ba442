"""Properties 8, 13 and 28 through the whole engine: runner, adapters, boto3, simulator.

Every retry is timed on the virtual clock, so the back-off (2 s, 4 s, 8 s, or the
service's Retry-After when longer) is checked exactly, from the times the simulator
recorded each call.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.utils.engine import SHORT, Outcome, run_plan
from tests.utils.plans import make_plan

from drsorch.sim import Fault

pytestmark = pytest.mark.property

#: Offsets of attempt 1..4 from the first: back-off 2, 4, 8 s.
OFFSETS = (0.0, 2.0, 6.0, 14.0)
RETRYABLE = ("throttle", "internal_error", "connection_reset")
#: The error each fault kind reaches the engine as.
ERROR_NAME = {
    "throttle": "ThrottlingException",
    "internal_error": "InternalServerException",
    "connection_reset": "ConnectionClosedError",
}
JOB_POLL = 30.0

SETTINGS = settings(max_examples=12, deadline=None)


def offsets(out: Outcome, operation: str, since: float | None = None) -> list[float]:
    calls = out.calls(operation)
    start = calls[0].time if since is None else since
    return [c.time - start for c in calls]


def launch_jobs(out: Outcome) -> list[object]:
    return [j for j in out.sim.jobs if j.type == "LAUNCH"]


# -- Properties 8 and 13: StartRecovery ------------------------------------------------------


@SETTINGS
@given(kind=st.sampled_from(RETRYABLE), k=st.integers(0, 5), n=st.integers(1, 3))
def test_start_recovery_backoff(kind: str, k: int, n: int) -> None:
    """Property 8 (throttling) / Property 13 (5xx, connection reset): k failures of
    StartRecovery are retried after exactly 2, 4, 8 s; with k <= 3 the execution COMPLETES;
    with k > 3 the servers FAIL after 4 attempts with a message naming StartRecovery,
    the attempts and the last error (Req 9.5), and no job exists."""
    plan = make_plan(k * 10 + n, waves=1, servers_per_wave=n, health_check=False)
    faults = [Fault(kind=kind, operation="StartRecovery", times=k)] if k else []
    out = run_plan(plan, faults=faults, scenario=SHORT)
    calls = out.calls("StartRecovery")
    t0 = out.record.StartTime
    assert calls[0].time == t0  # launched at once after the preflight
    attempts = min(k + 1, 4)
    assert offsets(out, "StartRecovery") == list(OFFSETS[:attempts])
    assert [c.outcome for c in calls] == ["fault"] * min(k, 4) + ["ok"] * (k <= 3)
    assert all(not c.processed for c in calls if c.outcome == "fault")
    sids = plan["Waves"][0]["ServerIds"]
    if k <= 3:
        assert out.record.Status.value == "COMPLETED"
        (job,) = launch_jobs(out)
        assert sorted(job.participants) == sorted(sids)
        for sid in sids:
            result = out.server(sid)
            assert result.JobId == job.id
            assert result.StartTime == t0  # when StartRecovery was first sent
        assert out.record.Errors == []
        return
    assert out.record.Status.value == "FAILED"
    assert launch_jobs(out) == []
    for sid in sids:
        result = out.server(sid)
        assert result.Status.value == "FAILED"
        assert result.JobId is None
        assert result.Error.startswith("StartRecovery failed: StartRecovery for ")
        assert "failed after 4 attempts (3 retries over 14 s)" in result.Error
        assert ERROR_NAME[kind] in result.Error
    errors = [e for e in out.record.Errors if e.ServerId is not None]
    assert sorted(e.ServerId for e in errors) == sorted(sids)
    assert all("4 attempts" in e.Message and "StartRecovery" in e.Message for e in errors)


@settings(max_examples=10, deadline=None)
@given(k=st.integers(1, 3), retry_after=st.integers(0, 30))
def test_start_recovery_honours_retry_after(k: int, retry_after: int) -> None:
    """Property 8: a Retry-After longer than the back-off is waited out instead; a shorter
    one leaves the back-off as it is (delay i = max(2**i, Retry-After))."""
    plan = make_plan(retry_after, waves=1, servers_per_wave=1, health_check=False)
    fault = Fault(kind="throttle", operation="StartRecovery", times=k, retry_after=retry_after)
    out = run_plan(plan, faults=[fault], scenario=SHORT)
    delays = [max(base, float(retry_after)) for base in (2.0, 4.0, 8.0)[:k]]
    expected = [0.0]
    for d in delays:
        expected.append(expected[-1] + d)
    assert offsets(out, "StartRecovery") == expected
    assert out.record.Status.value == "COMPLETED"


def test_start_recovery_exhaustion_message_names_retry_after_wait() -> None:
    """Property 8 / Req 9.5: exhausted after Retry-After waits, the message counts the time
    actually waited (3 retries over 3 x 20 s) and the last error."""
    plan = make_plan(7, waves=1, servers_per_wave=1, health_check=False)
    fault = Fault(kind="throttle", operation="StartRecovery", retry_after=20)
    out = run_plan(plan, faults=[fault], scenario=SHORT)
    assert offsets(out, "StartRecovery") == [0.0, 20.0, 40.0, 60.0]
    (sid,) = plan["Waves"][0]["ServerIds"]
    error = out.server(sid).Error
    assert error == (
        f"StartRecovery failed: StartRecovery for {sid} failed after 4 attempts "
        f"(3 retries over 60 s): ThrottlingException: {error.split('ThrottlingException: ')[1]}"
    )
    assert out.record.Status.value == "FAILED"


# -- Properties 8 and 13: DescribeJobs -------------------------------------------------------


@SETTINGS
@given(kind=st.sampled_from(RETRYABLE), k=st.integers(0, 5), n=st.integers(1, 3))
def test_describe_jobs_backoff(kind: str, k: int, n: int) -> None:
    """Property 8 / Property 13: a job poll failing k times is retried after 2, 4, 8 s;
    after 4 failed attempts the poll is given up with a notice (not an error) and the
    next poll, 30 s after the first, goes on; the execution COMPLETES for every k."""
    plan = make_plan(k * 10 + n, waves=1, servers_per_wave=n, health_check=False)
    faults = [Fault(kind=kind, operation="DescribeJobs", times=k)] if k else []
    out = run_plan(plan, faults=faults, scenario=SHORT)
    assert out.record.Status.value == "COMPLETED"
    assert out.record.Errors == []
    launched = out.calls("StartRecovery")[-1].time
    first_poll = launched + JOB_POLL
    calls = out.calls("DescribeJobs")
    rel = offsets(out, "DescribeJobs", since=first_poll)
    if k <= 3:
        assert rel[: k + 1] == list(OFFSETS[: k + 1])
        assert [c.outcome for c in calls[: k + 1]] == ["fault"] * k + ["ok"]
        assert not any("DescribeJobs failed" in n for n in out.runner.state["notices"])
    else:
        # Poll 1: four failed attempts; poll 2 at +30 s: the rest of the faults, then ok.
        again = [JOB_POLL + o for o in OFFSETS[: k - 4 + 1]]
        assert rel[: 4 + len(again)] == [*OFFSETS, *again]
        assert [c.outcome for c in calls[: k + 1]] == ["fault"] * k + ["ok"]
        (note,) = [x for x in out.runner.state["notices"] if x.startswith("DescribeJobs failed")]
        assert "failed after 4 attempts (3 retries over 14 s)" in note
        assert ERROR_NAME[kind] in note
    # The polls after the retried one keep the 30 s rhythm: one DescribeJobs each.
    later = rel[k + 1 :]
    assert later, "the job must be polled again until it ends"
    assert later[0] % JOB_POLL == 0
    assert later == [later[0] + JOB_POLL * i for i in range(len(later))]


@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(RETRYABLE), k=st.integers(0, 3))
def test_health_poll_backoff(kind: str, k: int) -> None:
    """Property 8 / Property 13: EC2 DescribeInstanceStatus failing k <= 3 times is retried
    after exactly 2, 4, 8 s within the same health poll; the server is still checked and
    the execution COMPLETES."""
    plan = make_plan(k + 100, waves=1, servers_per_wave=1, health_check=True)
    faults = [Fault(kind=kind, operation="DescribeInstanceStatus", times=k)] if k else []
    out = run_plan(plan, faults=faults, scenario=SHORT)
    assert out.record.Status.value == "COMPLETED", out.record.Errors
    calls = out.calls("DescribeInstanceStatus")
    assert offsets(out, "DescribeInstanceStatus")[: k + 1] == list(OFFSETS[: k + 1])
    assert [c.outcome for c in calls[: k + 1]] == ["fault"] * k + ["ok"]


# -- Property 28: no duplicate jobs ------------------------------------------------------------


@SETTINGS
@given(
    kind=st.sampled_from(["read_timeout", "connection_reset", "internal_error"]),
    waves=st.integers(1, 3),
    servers=st.integers(1, 3),
    execution_type=st.sampled_from(["PARALLEL", "SEQUENTIAL"]),
    data=st.data(),
)
def test_lost_start_recovery_answer_never_duplicates_a_job(
    kind: str, waves: int, servers: int, execution_type: str, data: st.DataObject
) -> None:
    """Property 28 (Req 9.3): a StartRecovery that DRS processed but whose answer was lost
    (read timeout, connection reset, or a 5xx after the fact)
    is found again by its drsorch:token tag and adopted: exactly one DRS job per server,
    the server's JobId is that job, no re-send, and the execution COMPLETES."""
    plan = make_plan(
        waves * 10 + servers, waves=waves, servers_per_wave=servers,
        execution_type=execution_type, health_check=False,
    )  # fmt: skip
    launches = waves * (servers if execution_type == "SEQUENTIAL" else 1)
    nth = data.draw(st.integers(1, launches), label="nth")
    fault = Fault(kind=kind, operation="StartRecovery", phase="after", nth=nth)
    out = run_plan(plan, faults=[fault], scenario=SHORT)

    assert out.record.Status.value == "COMPLETED", out.record.Errors
    calls = out.calls("StartRecovery")
    assert len(calls) == launches  # the lost one was adopted, not sent again
    assert all(c.processed for c in calls)
    lost = [c for c in calls if c.outcome == "fault"]
    assert len(lost) == 1 and lost[0].fault == kind and lost[0] is calls[nth - 1]
    jobs = launch_jobs(out)
    assert len(jobs) == launches
    all_sids = [sid for w in plan["Waves"] for sid in w["ServerIds"]]
    for sid in all_sids:
        holding = [j for j in jobs if sid in j.participants]
        assert len(holding) == 1, (sid, [j.id for j in holding])
        assert out.server(sid).JobId == holding[0].id
        assert out.server(sid).Status.value == "COMPLETED"
    # The adopted job carries the token of the launch that was lost.
    token = lost[0].params["tags"]["drsorch:token"]
    assert [j.tags["drsorch:token"] for j in jobs].count(token) == 1
