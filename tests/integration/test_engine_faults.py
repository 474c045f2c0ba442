"""The engine against a misbehaving region: preflight, malformed answers, expired
credentials, retry exhaustion, unknown job statuses (seed Req 2.3, 2.5, 9.5; Properties
7 and 30). Real boto3 clients, the in-process simulator, the virtual clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from tests.utils.engine import SHORT, Outcome, RecordingStore, run_plan
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.history import ExecutionRecord
from drsorch.plan import parse_plan
from drsorch.runner import Runner
from drsorch.sim import Fault, Scenario
from drsorch.sim.scenario import Quotas
from drsorch.sim.timing import Span, Timing
from drsorch.wiring import simulated

pytestmark = pytest.mark.integration

T0 = DEFAULT_EPOCH
JOB_POLL = 30.0
OFFSETS = (0.0, 2.0, 6.0, 14.0)


def plan_data(seed: int = 3, waves: int = 2, servers: int = 2, **kw: Any) -> dict[str, Any]:
    return make_plan(seed, waves=waves, servers_per_wave=servers, **kw)


def sids_of(plan: dict[str, Any]) -> list[str]:
    return [sid for w in plan["Waves"] for sid in w["ServerIds"]]


def no_traceback(out: Outcome) -> None:
    for e in out.record.Errors:
        assert "Traceback" not in e.Message and "internal error" not in e.Message, e.Message


# -- Req 2.5 / preflight -----------------------------------------------------------------------


def test_missing_server_fails_preflight_before_any_launch() -> None:
    """Req 2.5: a server DRS does not know fails the execution in preflight, before any
    StartRecovery, with an error naming the server (and where it was looked for)."""
    plan = plan_data()
    sids = sids_of(plan)
    missing = sids[2]
    out = run_plan(plan, missing=[missing], scenario=SHORT)
    assert out.record.Status.value == "FAILED"
    assert out.calls("StartRecovery") == []
    assert [c.operation for c in out.sim.recorder.calls] == ["DescribeSourceServers"]
    assert out.record.EndTime == T0  # at once
    named = [e for e in out.record.Errors if e.ServerId == missing]
    assert len(named) == 1
    assert named[0].Message == (
        f"{missing}: preflight: no such DRS source server in account 123456789012 region us-east-1"
    )
    assert named[0].WaveNumber == 2
    assert out.server(missing).Error.startswith("preflight: no such DRS source server")
    assert any("preflight failed for 1 server(s)" in e.Message for e in out.record.Errors)
    # Nothing ran: every wave CANCELLED, no server launched.
    assert [w.Status.value for w in out.record.WaveStatus] == ["CANCELLED", "CANCELLED"]
    assert all(r.JobId is None for w in out.record.WaveStatus for r in w.ServerResults)


@pytest.mark.parametrize("state", ["STALLED", "DISCONNECTED", "INITIAL_SYNC", "PAUSED"])
def test_replication_not_continuous_fails_preflight(state: str) -> None:
    """Req 2.5 / preflight: a server whose replication is not CONTINUOUS fails the execution
    before any launch; the error names the server and its replication state."""
    plan = plan_data(seed=4)
    sids = sids_of(plan)
    bad = sids[0]
    out = run_plan(plan, replication={bad: state}, scenario=SHORT)
    assert out.record.Status.value == "FAILED"
    assert out.calls("StartRecovery") == []
    (entry,) = [e for e in out.record.Errors if e.ServerId == bad]
    assert entry.Message == f"{bad}: preflight: replication is {state}, not CONTINUOUS"
    assert all(e.ServerId in (None, bad) for e in out.record.Errors)


def test_every_offending_server_is_named() -> None:
    """Req 2.5: preflight names each offending server, not just the first one."""
    plan = plan_data(seed=5, waves=2, servers=2)
    sids = sids_of(plan)
    out = run_plan(plan, missing=[sids[0]], replication={sids[3]: "STALLED"}, scenario=SHORT)
    assert out.record.Status.value == "FAILED"
    assert sorted(e.ServerId for e in out.record.Errors if e.ServerId) == sorted([sids[0], sids[3]])
    assert any("preflight failed for 2 server(s)" in e.Message for e in out.record.Errors)
    assert out.calls("StartRecovery") == []


# -- expired credentials ---------------------------------------------------------------------


def test_expired_credentials_on_poll_fail_at_once() -> None:
    """Req 6.4 / design §4: expired credentials are not retried: the first DescribeJobs
    that meets them fails the execution at once, naming ExpiredToken, and records the
    servers left launching with their job."""
    plan = plan_data(seed=6, waves=2, servers=2, health_check=False)
    out = run_plan(plan, faults=[Fault(kind="expired_credentials", operation="DescribeJobs")])
    polls = out.calls("DescribeJobs")
    assert len(polls) == 1 and polls[0].outcome == "fault"
    launched = out.calls("StartRecovery")
    assert len(launched) == 1  # wave 2 never started
    assert polls[0].time == launched[0].time + JOB_POLL
    assert out.record.Status.value == "FAILED"
    assert out.record.EndTime == polls[0].time
    first = out.record.Errors[0]
    assert first.Message.startswith("DescribeJobs failed: DescribeJobs for job ")
    assert "ExpiredToken" in first.Message
    assert "times in a row" not in first.Message  # fatal, not counted
    job = out.server(plan["Waves"][0]["ServerIds"][0]).JobId
    for sid in plan["Waves"][0]["ServerIds"]:
        r = out.server(sid)
        assert r.Status.value == "FAILED" and r.JobId == job
        assert r.Error == f"execution ended while launching; DRS job {job} may still launch it"
    assert out.wave(2).Status.value == "CANCELLED"
    no_traceback(out)


# -- Req 9.5: retry exhaustion on every poll ---------------------------------------------------


def test_describe_jobs_failing_five_polls_fails_execution() -> None:
    """Req 9.5 / Property 13: a job poll that fails after 3 retries (2, 4, 8 s) is tried
    again at the next poll; the 5th consecutive failed poll fails the execution with a
    message naming DescribeJobs, the attempts and the last error."""
    plan = plan_data(seed=7, waves=1, servers=1, health_check=False)
    out = run_plan(plan, faults=[Fault(kind="internal_error", operation="DescribeJobs")])
    launched = out.calls("StartRecovery")[0].time
    first = launched + JOB_POLL
    times = [c.time - first for c in out.calls("DescribeJobs")]
    assert times == [p * JOB_POLL + o for p in range(5) for o in OFFSETS]
    assert out.record.Status.value == "FAILED"
    assert out.record.EndTime == first + 4 * JOB_POLL + 14
    (sid,) = sids_of(plan)
    job = out.server(sid).JobId
    message = out.record.Errors[0].Message
    assert message.startswith(
        f"DescribeJobs failed (5 times in a row): DescribeJobs for job {job} failed after "
        "4 attempts (3 retries over 14 s): InternalServerException"
    )
    notices = [n for n in out.runner.state["notices"] if n.startswith("DescribeJobs failed")]
    assert notices, "the first failed polls are notices, not errors"
    assert len(out.record.Errors) == 2  # the abort, and the server left launching
    assert out.server(sid).Status.value == "FAILED"
    no_traceback(out)


def test_four_failed_polls_then_success_do_not_fail() -> None:
    """Req 9.5: only *consecutive* failures count: 4 failed polls and then a good one
    leave the execution to complete."""
    plan = plan_data(seed=8, waves=1, servers=1, health_check=False)
    fault = Fault(kind="throttle", operation="DescribeJobs", times=16)  # 4 polls x 4 attempts
    out = run_plan(plan, faults=[fault])
    assert out.record.Status.value == "COMPLETED"
    calls = out.calls("DescribeJobs")
    assert [c.outcome for c in calls[:17]] == ["fault"] * 16 + ["ok"]
    assert out.record.Errors == []


def test_ec2_health_poll_exhaustion_message() -> None:
    """Req 9.5: the same policy and message for EC2 (DescribeInstanceStatus)."""
    plan = plan_data(seed=9, waves=1, servers=1, health_check=True)
    out = run_plan(
        plan,
        faults=[Fault(kind="throttle", operation="DescribeInstanceStatus")],
        scenario=SHORT,
    )
    assert out.record.Status.value == "FAILED"
    checks = out.calls("DescribeInstanceStatus")
    assert len(checks) == 20  # 5 polls x 4 attempts
    msg = out.record.Errors[0].Message
    assert msg.startswith("DescribeInstanceStatus failed (5 times in a row): ")
    assert "failed after 4 attempts (3 retries over 14 s)" in msg
    assert "RequestLimitExceeded" in msg or "Throttl" in msg


# -- DRS quotas: refused launches are queued again -----------------------------------------------


def one_job_region(launch: float) -> Scenario:
    """A region allowing one job at a time, whose launches take exactly ``launch`` s."""
    return Scenario(
        quotas=Quotas(concurrent_jobs=1),
        timing=Timing(
            job_start=Span(min=2, max=2),
            launch=Span(min=launch, max=launch),
            running=Span(min=10, max=10),
            status_ok=Span(min=20, max=20),
            job_end=Span(min=5, max=5),
        ),
    )


TWO_BRANCHES: dict[str, Any] = {
    "PlanId": "two-branches",
    "PlanName": "Two independent waves",
    "Defaults": {"HealthCheck": {"Enabled": False}},
    "Waves": [
        {"WaveNumber": 1, "ServerIds": ["s-0a1b2c3d4e5f60718"], "Dependencies": []},
        {"WaveNumber": 2, "ServerIds": ["s-0a1b2c3d4e5f60719"], "Dependencies": []},
    ],
}


def test_quota_refusal_is_queued_again_every_60_s() -> None:
    """Design §4 (DRS quotas): a StartRecovery refused with ServiceQuotaExceeded is not a
    failure: it is queued again 60 s later until DRS accepts it; the execution COMPLETES
    and the refusal is a notice."""
    out = run_plan(TWO_BRANCHES, scenario=one_job_region(200))
    assert out.record.Status.value == "COMPLETED", out.record.Errors
    calls = out.calls("StartRecovery")
    t0 = out.record.StartTime
    assert [(c.time - t0, c.outcome) for c in calls] == [
        (0.0, "ok"),
        (0.0, "error"),
        (60.0, "error"),
        (120.0, "error"),
        (180.0, "error"),
        (240.0, "ok"),  # the first job ended at 200 + 5 s
    ]
    assert {c.error_code for c in calls if c.outcome == "error"} == {
        "ServiceQuotaExceededException"
    }
    second = out.server("s-0a1b2c3d4e5f60719")
    assert second.StartTime == t0 + 240  # when the accepted StartRecovery was sent
    assert out.record.Errors == []
    assert any("queued again" in n for n in out.runner.state["notices"])


def test_quota_refusal_fails_after_ten_requeues() -> None:
    """Design §4: after 10 requeues (600 s) a launch DRS still refuses fails its servers,
    naming StartRecovery and the quota error; the other branch completes."""
    out = run_plan(TWO_BRANCHES, scenario=one_job_region(1000))
    refused = [c for c in out.calls("StartRecovery") if c.outcome == "error"]
    t0 = out.record.StartTime
    assert [c.time - t0 for c in refused] == [60.0 * i for i in range(11)]
    assert out.record.Status.value == "FAILED"
    second = out.server("s-0a1b2c3d4e5f60719")
    assert second.Status.value == "FAILED" and second.JobId is None
    assert second.Error.startswith("StartRecovery failed: StartRecovery for s-0a1b2c3d4e5f60719")
    assert "ServiceQuotaExceededException" in second.Error
    assert out.server("s-0a1b2c3d4e5f60718").Status.value == "COMPLETED"
    assert [w.Status.value for w in out.record.WaveStatus] == ["COMPLETED", "FAILED"]


# -- Req 9.3: a lost answer whose job cannot be looked up ------------------------------------------


def test_lost_answer_with_lookup_briefly_failing_is_adopted() -> None:
    """Property 28: the token lookup after a lost StartRecovery answer is itself retried
    (2, 4 s); once it answers, the job is adopted and nothing is sent again."""
    plan = plan_data(seed=16, waves=1, servers=2, health_check=False)
    out = run_plan(
        plan,
        faults=[
            Fault(kind="connection_reset", operation="StartRecovery", phase="after", nth=1),
            Fault(kind="throttle", operation="DescribeJobs", times=2),
        ],
        scenario=SHORT,
    )
    assert out.record.Status.value == "COMPLETED", out.record.Errors
    assert len(out.calls("StartRecovery")) == 1
    lookups = [c.time - out.record.StartTime for c in out.calls("DescribeJobs")][:3]
    assert lookups == [0.0, 2.0, 6.0]
    (job,) = out.sim.jobs
    assert {out.server(sid).JobId for sid in sids_of(plan)} == {job.id}


def test_lost_answer_with_lookup_failing_says_outcome_unknown() -> None:
    """Req 9.3 / Req 9.5: when the answer was lost and the token lookup fails after its
    retries too, the servers fail with "outcome unknown", naming the token to look for;
    StartRecovery is not sent again (DRS did create one job)."""
    plan = plan_data(seed=17, waves=1, servers=1, health_check=False)
    out = run_plan(
        plan,
        faults=[
            Fault(kind="connection_reset", operation="StartRecovery", phase="after", nth=1),
            Fault(kind="throttle", operation="DescribeJobs", times=4),
        ],
        scenario=SHORT,
    )
    assert out.record.Status.value == "FAILED"
    starts = out.calls("StartRecovery")
    assert len(starts) == 1 and starts[0].processed
    assert len(out.sim.jobs) == 1
    token = starts[0].params["tags"]["drsorch:token"]
    (sid,) = sids_of(plan)
    error = out.server(sid).Error
    assert error.startswith(f"StartRecovery failed: StartRecovery for {sid}: outcome unknown")
    assert f"drsorch:token={token}" in error
    assert "DescribeJobs failed after 4 attempts (3 retries over 14 s)" in error
    no_traceback(out)


# -- Property 7 in integration: unknown job status -------------------------------------------


@pytest.mark.parametrize("sticky", [False, True])
def test_unknown_job_status_still_completes(sticky: bool) -> None:
    """Property 7 (Req 2.3): DescribeJobs showing a status DRS never documented is logged
    as a notice naming the status, the launch goes on and the execution COMPLETES — also
    when the job keeps showing that status after it ended (sticky)."""
    plan = plan_data(seed=10, waves=2, servers=2)
    fault = Fault(kind="unknown_job_status", status="REBOOTING_GREMLINS", sticky=sticky)
    out = run_plan(plan, faults=[fault], scenario=SHORT)
    assert out.record.Status.value == "COMPLETED", out.record.Errors
    assert out.record.Errors == []
    notes = [n for n in out.runner.state["notices"] if "REBOOTING_GREMLINS" in n]
    jobs = {out.server(sid).JobId for sid in sids_of(plan)}
    assert len(notes) == len(jobs) == 2  # one notice per job, not one per poll
    for job in jobs:
        assert any(job in n and "unknown status 'REBOOTING_GREMLINS'" in n for n in notes)
    for sid in sids_of(plan):
        assert out.server(sid).Status.value == "COMPLETED"


def test_unknown_job_status_with_failed_launch_fails_server() -> None:
    """Property 7: an unknown job status does not hide a failed launch."""
    plan = plan_data(seed=11, waves=1, servers=2)
    bad = sids_of(plan)[1]
    out = run_plan(
        plan,
        faults=[
            Fault(kind="unknown_job_status", status="WEIRD", sticky=True),
            Fault(kind="launch_failure", server_id=bad, raw_error="No capacity in AZ"),
        ],
        scenario=SHORT,
    )
    assert out.record.Status.value == "FAILED"
    assert out.server(bad).Status.value == "FAILED"
    assert "No capacity in AZ" in out.server(bad).Error
    assert out.server(sids_of(plan)[0]).Status.value == "COMPLETED"


# -- Property 30: malformed responses ------------------------------------------------------------


Mutation = Callable[[dict[str, Any]], None]


def run_mutated(
    plan: dict[str, Any], operation: str, mutate: Mutation, **more: Mutation
) -> tuple[ExecutionRecord, Any, Runner]:
    """Run ``plan`` with ``mutate(parsed)`` applied to every ``operation`` answer (and
    ``more[op](parsed)`` to every ``op`` answer)."""
    the_plan = parse_plan(plan)
    clock = VirtualClock(start=T0)
    world = simulated(the_plan, clock=clock, scenario=SHORT)
    for op, fn in {operation: mutate, **more}.items():

        def hook(parsed: dict[str, Any], fn: Mutation = fn, **_: Any) -> None:
            fn(parsed)

        world.drs._client.meta.events.register(f"after-call.drs.{op}", hook)
    runner = Runner(
        drs=world.drs, ec2=world.ec2, store=RecordingStore(), clock=clock, approve=lambda w: True
    )
    record = runner.run(the_plan, world.options)
    return record, world.sim, runner


def _drop_job_id(parsed: dict[str, Any]) -> None:
    for item in parsed.get("items", []):
        item.pop("jobID", None)


def _bad_participants(parsed: dict[str, Any]) -> None:
    for item in parsed.get("items", []):
        item["participatingServers"] = "all of them"


def _int_launch_status(parsed: dict[str, Any]) -> None:
    for item in parsed.get("items", []):
        for p in item.get("participatingServers", []):
            p["launchStatus"] = 3


def _items_not_a_list(parsed: dict[str, Any]) -> None:
    parsed["items"] = {"oops": True}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_drop_job_id, "items[0].jobID: required field is missing"),
        (_bad_participants, "items[0].participatingServers: expected a list, got str"),
        (
            _int_launch_status,
            "items[0].participatingServers[0].launchStatus: expected a string, got int",
        ),
        (_items_not_a_list, "items: expected a list, got dict"),
    ],
)
def test_malformed_describe_jobs_fails_cleanly(
    mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    """Property 30: a DescribeJobs answer the engine cannot read is a clear failure naming
    the operation and the field — never a traceback; it is tried again at each poll and
    the 5th consecutive bad answer fails the execution."""
    plan = plan_data(seed=12, waves=1, servers=1, health_check=False)
    record, sim, runner = run_mutated(plan, "DescribeJobs", mutate)
    polls = [c for c in sim.recorder.calls if c.operation == "DescribeJobs"]
    start = next(c for c in sim.recorder.calls if c.operation == "StartRecovery").time
    assert [c.time - start for c in polls] == [JOB_POLL * (i + 1) for i in range(5)]
    assert record.Status.value == "FAILED"
    message = record.Errors[0].Message
    assert message == (
        f"DescribeJobs failed (5 times in a row): DescribeJobs: malformed response: {field}"
    )
    assert "Traceback" not in message and "internal error" not in message
    notes = [n for n in runner.state["notices"] if "malformed response" in n]
    assert notes and field in notes[0]


def _drop_job(parsed: dict[str, Any]) -> None:
    parsed.pop("job", None)


def _job_without_id(parsed: dict[str, Any]) -> None:
    parsed["job"].pop("jobID", None)


def _job_is_a_list(parsed: dict[str, Any]) -> None:
    parsed["job"] = ["drsjob-1"]


def _hide_tags(parsed: dict[str, Any]) -> None:
    for item in parsed.get("items", []):
        item.pop("tags", None)


MALFORMED_START = [
    (_drop_job, "job: required field is missing"),
    (_job_without_id, "job.jobID: required field is missing"),
    (_job_is_a_list, "job: expected an object, got list"),
]


@pytest.mark.parametrize(("mutate", "field"), MALFORMED_START)
def test_malformed_start_recovery_answer_adopts_its_job(mutate: Mutation, field: str) -> None:
    """Property 30 / Property 28 / invariant 5: DRS processed the StartRecovery (a job
    exists and launches the servers); only its answer could not be read. The engine finds
    that job by its drsorch:token tag and adopts it: one job per server, named in the
    record, not sent again, and the execution COMPLETES."""
    plan = plan_data(seed=13, waves=2, servers=2, health_check=False)
    record, sim, _ = run_mutated(plan, "StartRecovery", mutate)
    assert record.Status.value == "COMPLETED", record.Errors
    starts = [c for c in sim.recorder.calls if c.operation == "StartRecovery"]
    assert len(starts) == 2  # one per wave: nothing re-sent
    jobs = [j for j in sim.jobs if j.type == "LAUNCH"]
    assert len(jobs) == 2
    by_id = {r.ServerId: r for w in record.WaveStatus for r in w.ServerResults}
    for job in jobs:
        for sid in job.participants:
            assert by_id[sid].JobId == job.id and by_id[sid].Status.value == "COMPLETED"
    assert sorted(by_id) == sorted(sids_of(plan))


@pytest.mark.parametrize(("mutate", "field"), MALFORMED_START)
def test_malformed_start_recovery_without_its_job_fails_servers(
    mutate: Mutation, field: str
) -> None:
    """Property 30: a StartRecovery answer the engine cannot read, whose job cannot be
    found either, fails that launch's servers with a message naming StartRecovery and the
    field — not a traceback — and the dependent wave is SKIPPED."""
    plan = plan_data(seed=13, waves=2, servers=2, health_check=False)
    record, sim, _ = run_mutated(plan, "StartRecovery", mutate, DescribeJobs=_hide_tags)
    assert record.Status.value == "FAILED"
    by_id = {r.ServerId: r for w in record.WaveStatus for r in w.ServerResults}
    for sid in plan["Waves"][0]["ServerIds"]:
        assert by_id[sid].Status.value == "FAILED"
        assert by_id[sid].Error.startswith("StartRecovery failed: StartRecovery")
        assert f"malformed response: {field}" in by_id[sid].Error
    assert record.wave(2) is not None and record.wave(2).Status.value == "SKIPPED"
    assert len([c for c in sim.recorder.calls if c.operation == "StartRecovery"]) == 1
    assert all("Traceback" not in e.Message for e in record.Errors)


def test_malformed_start_recovery_without_its_job_says_outcome_unknown() -> None:
    """Property 30 / Req 9.3 / invariant 5: when the answer was unreadable and the job
    cannot be found, the failure says the outcome is unknown and names the token to look
    for before anyone launches these servers again (a DRS job does exist)."""
    plan = plan_data(seed=15, waves=1, servers=2, health_check=False)
    record, sim, _ = run_mutated(plan, "StartRecovery", _job_without_id, DescribeJobs=_hide_tags)
    assert len([j for j in sim.jobs if j.type == "LAUNCH"]) == 1  # DRS did launch
    by_id = {r.ServerId: r for w in record.WaveStatus for r in w.ServerResults}
    for sid in plan["Waves"][0]["ServerIds"]:
        assert "outcome unknown" in by_id[sid].Error
        assert "drsorch:token=" in by_id[sid].Error


def test_malformed_instance_status_fails_cleanly() -> None:
    """Property 30: an EC2 DescribeInstanceStatus answer the engine cannot read (EC2's XML
    protocol) is a clear failure naming the operation and the field, retried at each
    health poll; the 5th consecutive bad answer fails the execution."""
    plan = plan_data(seed=20, waves=1, servers=1, health_check=True)
    the_plan = parse_plan(plan)
    clock = VirtualClock(start=T0)
    world = simulated(the_plan, clock=clock, scenario=SHORT)

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        for item in parsed.get("InstanceStatuses", []):
            item["InstanceState"] = "running"  # a string where EC2 gives a structure

    world.ec2._client.meta.events.register("after-call.ec2.DescribeInstanceStatus", hook)
    runner = Runner(
        drs=world.drs, ec2=world.ec2, store=RecordingStore(), clock=clock, approve=lambda w: True
    )
    record = runner.run(the_plan, world.options)
    assert world.sim is not None
    checks = [c.time for c in world.sim.recorder.calls if c.operation == "DescribeInstanceStatus"]
    assert len(checks) == 5
    assert [b - a for a, b in itertools.pairwise(checks)] == [30.0] * 4
    assert record.Status.value == "FAILED"
    assert record.Errors[0].Message == (
        "DescribeInstanceStatus failed (5 times in a row): DescribeInstanceStatus: malformed "
        "response: InstanceStatuses[0].InstanceState: expected an object, got str"
    )
    (sid,) = sids_of(plan)
    result = next(r for w in record.WaveStatus for r in w.ServerResults if r.ServerId == sid)
    assert result.Status.value == "FAILED" and result.JobId is not None
