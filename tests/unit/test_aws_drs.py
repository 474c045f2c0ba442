"""DrsAdapter over a real boto3 client and the wire fake."""

from __future__ import annotations

from typing import Any

import pytest
from tests.utils.aws_wire import (
    Reply,
    Wire,
    error,
    lost,
    raw_body,
    reset,
    server_error,
    server_id,
    throttle,
)

from drsorch.aws import TOKEN_TAG, DrsAdapter, RetryPolicy
from drsorch.errors import (
    ConflictError,
    MalformedResponseError,
    NotFoundError,
    OutcomeUnknownError,
    RequestInvalidError,
    RetriesExhaustedError,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def drs(wire: Wire) -> DrsAdapter:
    client, _ = wire.clients()
    tokens = iter(f"tok-{n}" for n in range(1000))
    return DrsAdapter(client, RetryPolicy(wire.clock), token_factory=lambda: next(tokens))


def servers(wire: Wire, n: int) -> list[str]:
    ids = [server_id(i) for i in range(1, n + 1)]
    for sid in ids:
        wire.drs.add_server(sid)
    return ids


# --- StartRecovery parameters (Property 6, Req 2.1, 2.2) -------------------------------------


@pytest.mark.parametrize(
    ("is_drill", "initiated_by"), [(True, "START_DRILL"), (False, "START_RECOVERY")]
)
def test_start_recovery_sends_each_server_latest_data_and_drill_flag(
    wire: Wire, drs: DrsAdapter, is_drill: bool, initiated_by: str
) -> None:
    ids = servers(wire, 3)
    job = drs.start_recovery(ids, is_drill=is_drill, tags={"drsorch:execution": "e-1"})
    (call,) = wire.calls_to("StartRecovery")
    assert call.params["sourceServers"] == [{"sourceServerID": s} for s in ids]
    assert all("recoverySnapshotID" not in s for s in call.params["sourceServers"])
    assert call.params["isDrill"] is is_drill
    assert call.params["tags"] == {"drsorch:execution": "e-1", TOKEN_TAG: "tok-0"}
    assert job.initiated_by == initiated_by
    assert [p.server_id for p in job.participants] == ids


def test_a_given_token_is_kept(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 1)
    job = drs.start_recovery(ids, is_drill=True, tags={TOKEN_TAG: "mine"})
    assert job.tags[TOKEN_TAG] == "mine"


def test_start_recovery_refuses_more_than_100_servers(wire: Wire, drs: DrsAdapter) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        drs.start_recovery([server_id(i) for i in range(101)], is_drill=True, tags={})
    with pytest.raises(ValueError):
        drs.start_recovery([], is_drill=True, tags={})
    with pytest.raises(ValueError, match="twice"):
        drs.start_recovery([server_id(1)] * 2, is_drill=True, tags={})
    assert wire.calls == []


def test_unknown_server_is_named_in_the_error(wire: Wire, drs: DrsAdapter) -> None:
    """Req 2.5."""
    unknown = "s-0000000000000dead"
    with pytest.raises(RequestInvalidError) as info:
        drs.start_recovery([unknown], is_drill=True, tags={})
    assert unknown in str(info.value)
    assert info.value.server_id == unknown
    assert len(wire.calls_to("StartRecovery")) == 1


def test_require_source_servers_names_every_missing_one(wire: Wire, drs: DrsAdapter) -> None:
    """Req 2.5 at preflight: every missing server is listed."""
    ids = servers(wire, 2)
    missing = ["s-0000000000000dead", "s-0000000000000beef"]
    with pytest.raises(NotFoundError) as info:
        drs.require_source_servers([*ids, *missing])
    assert all(m in str(info.value) for m in missing)
    assert drs.require_source_servers(ids).keys() == set(ids)


# --- no duplicate jobs (Req 9.3) -----------------------------------------------------------


def test_lost_answer_adopts_the_job_instead_of_launching_again(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 2)
    wire.fail("StartRecovery", lost())
    job = drs.start_recovery(ids, is_drill=True, tags={})
    assert len(wire.drs.launch_jobs()) == 1
    assert job.job_id == wire.drs.jobs[0]["jobID"]
    assert [c.operation for c in wire.calls] == ["StartRecovery", "DescribeJobs"]
    assert wire.clock.sleeps == []


def test_reset_before_send_is_retried_after_looking(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 1)
    wire.fail("StartRecovery", reset(), server_error())
    job = drs.start_recovery(ids, is_drill=False, tags={})
    assert len(wire.drs.launch_jobs()) == 1
    assert job.job_id == wire.drs.jobs[0]["jobID"]
    assert [c.operation for c in wire.calls] == [
        "StartRecovery",
        "DescribeJobs",
        "StartRecovery",
        "DescribeJobs",
        "StartRecovery",
    ]
    assert wire.clock.sleeps == [2.0, 4.0]


def test_throttling_is_retried_without_looking(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 1)
    wire.fail("StartRecovery", throttle(), throttle(retry_after="6"))
    drs.start_recovery(ids, is_drill=True, tags={})
    assert wire.calls_to("DescribeJobs") == []
    assert wire.clock.sleeps == [2.0, 6.0]


def test_lookup_ignores_other_jobs_and_older_jobs(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 1)
    now = wire.clock.now()
    wire.drs.add_job(now - 5000, {TOKEN_TAG: "tok-0"})  # too old to be ours
    wire.drs.add_job(now, {TOKEN_TAG: "someone-else"})
    wire.drs.add_job(now, {}).pop("tags")
    wire.fail("StartRecovery", reset())
    job = drs.start_recovery(ids, is_drill=True, tags={})
    assert job.tags[TOKEN_TAG] == "tok-0"
    assert len([j for j in wire.drs.jobs if (j.get("tags") or {}).get(TOKEN_TAG) == "tok-0"]) == 2


def test_conflict_after_a_lost_answer_adopts_the_late_job(wire: Wire, drs: DrsAdapter) -> None:
    """The first request created a job that DescribeJobs did not show yet."""
    ids = servers(wire, 1)
    hidden: list[dict[str, Any]] = []
    real_describe = wire.drs.DescribeJobs

    def describe_jobs_lagging(params: dict[str, Any]) -> Reply:
        if not hidden:  # first look: the job is not visible yet
            hidden.append({})
            saved, wire.drs.jobs = wire.drs.jobs, []
            try:
                return real_describe(params)
            finally:
                wire.drs.jobs = saved
        return real_describe(params)

    wire.handlers["DescribeJobs"] = describe_jobs_lagging
    wire.fail("StartRecovery", lost())
    job = drs.start_recovery(ids, is_drill=True, tags={})
    assert len(wire.drs.launch_jobs()) == 1
    assert job.job_id == wire.drs.jobs[0]["jobID"]
    assert len(wire.calls_to("StartRecovery")) == 2  # the second one met a conflict


def test_unreadable_answer_adopts_the_job_drs_created(wire: Wire, drs: DrsAdapter) -> None:
    """DRS made the job but its answer cannot be read: record that job, never relaunch."""
    ids = servers(wire, 2)

    def made_but_garbled(params: dict[str, Any]) -> Reply:
        wire.drs.StartRecovery(params)
        return Reply(202, b'{"job": {"status": "PENDING"}}', {"content-type": "application/json"})

    wire.handlers["StartRecovery"] = made_but_garbled
    job = drs.start_recovery(ids, is_drill=True, tags={})
    assert [j["jobID"] for j in wire.drs.launch_jobs()] == [job.job_id]
    assert len(wire.calls_to("StartRecovery")) == 1


def test_unreadable_answer_without_a_job_is_an_unknown_outcome(wire: Wire, drs: DrsAdapter) -> None:
    """DRS answered, so it may well have launched: never report "nothing happened"."""
    ids = servers(wire, 1)
    wire.fail("StartRecovery", raw_body(b'{"job": []}', status=202))
    with pytest.raises(OutcomeUnknownError, match=r"StartRecovery.*could not be read") as info:
        drs.start_recovery(ids, is_drill=True, tags={})
    assert isinstance(info.value.__cause__, MalformedResponseError)
    assert "drsorch:token=tok-0" in str(info.value)
    assert wire.drs.jobs == [] and len(wire.calls_to("DescribeJobs")) == 1


def test_a_plain_conflict_is_not_retried(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 1)
    wire.fail("StartRecovery", error(409, "ConflictException", "busy", resourceId=ids[0]))
    with pytest.raises(ConflictError):
        drs.start_recovery(ids, is_drill=True, tags={})
    assert wire.calls_to("DescribeJobs") == []


def test_failed_lookup_reports_outcome_unknown(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 1)
    wire.fail("StartRecovery", lost())
    wire.fail("DescribeJobs", *[throttle()] * 4)
    with pytest.raises(OutcomeUnknownError) as info:
        drs.start_recovery(ids, is_drill=True, tags={})
    assert "tok-0" in str(info.value) and ids[0] in str(info.value)
    assert len(wire.calls_to("StartRecovery")) == 1  # never re-sent blindly


def test_exhausted_start_recovery_names_server_and_attempts(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 1)
    wire.fail("StartRecovery", *[throttle()] * 4)
    with pytest.raises(RetriesExhaustedError) as info:
        drs.start_recovery(ids, is_drill=True, tags={})
    assert str(info.value).startswith(f"StartRecovery for {ids[0]} failed after 4 attempts")
    assert wire.drs.jobs == []


def test_exhausted_after_ambiguous_failures_is_outcome_unknown(wire: Wire, drs: DrsAdapter) -> None:
    """A 500 may come after DRS acted: giving up then must not read as "nothing launched"."""
    ids = servers(wire, 1)
    wire.fail("StartRecovery", *[server_error()] * 4)
    with pytest.raises(OutcomeUnknownError) as info:
        drs.start_recovery(ids, is_drill=True, tags={})
    message = str(info.value)
    assert message.startswith(f"StartRecovery for {ids[0]}: outcome unknown: ")
    assert "failed after 4 attempts (3 retries over 14 s): InternalServerException" in message
    assert "drsorch:token=tok-0" in message
    assert isinstance(info.value.__cause__, RetriesExhaustedError)
    assert len(wire.calls_to("DescribeJobs")) == 4  # looked after every failure
    assert wire.drs.jobs == []


def test_botocore_does_not_retry_on_its_own(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 1)
    wire.fail("StartRecovery", server_error())
    drs.start_recovery(ids, is_drill=True, tags={})
    # one 500, one lookup, one successful re-send: nothing hidden inside botocore
    assert len(wire.calls_to("StartRecovery")) == 2


# --- reads: chunks and pages ---------------------------------------------------------------


def test_describe_source_servers_chunks_by_200_and_pages(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 450)
    wire.drs.page_size = 60
    found = drs.describe_source_servers([*ids, "s-0000000000000dead"])
    assert set(found) == set(ids)
    sizes = [len(c.params["filters"]["sourceServerIDs"]) for c in wire.calls]
    # 451 ids -> chunks of 200, 200, 51; 60 per page -> 4 + 4 + 1 calls
    assert sizes == [200] * 8 + [51]


def test_empty_id_lists_never_ask_for_everything(wire: Wire, drs: DrsAdapter) -> None:
    assert drs.describe_source_servers([]) == {}
    assert drs.describe_jobs([]) == {}
    assert drs.describe_recovery_instances([]) == {}
    assert wire.calls == []


def test_describe_jobs_and_job_log(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 2)
    job = drs.start_recovery(ids, is_drill=True, tags={})
    wire.drs.job_logs[job.job_id] = [
        {"logDateTime": "2025-11-25T11:26:40Z", "event": "JOB_START"},
        {
            "logDateTime": "2025-11-25T11:30:00Z",
            "event": "LAUNCH_FAILED",
            "eventData": {"sourceServerID": ids[1], "rawError": "InsufficientInstanceCapacity"},
        },
    ]
    wire.drs.page_size = 1
    assert drs.describe_jobs([job.job_id, "drsjob-0000000000000dead"]).keys() == {job.job_id}
    log = drs.job_log(job.job_id)
    assert [i.event for i in log] == ["JOB_START", "LAUNCH_FAILED"]
    assert log[1].server_id == ids[1] and "Capacity" in (log[1].raw_error or "")
    assert len(wire.calls_to("DescribeJobLogItems")) == 2


def test_page_retry_only_repeats_that_page(wire: Wire, drs: DrsAdapter) -> None:
    ids = servers(wire, 5)
    wire.drs.page_size = 2
    calls = 0
    real = wire.drs.DescribeSourceServers

    def flaky(params: dict[str, Any]) -> Reply:
        nonlocal calls
        calls += 1
        if calls == 2:
            return Reply(
                503, b'{"message":"slow down"}', {"x-amzn-errortype": "ServiceUnavailable"}
            )
        return real(params)

    wire.handlers["DescribeSourceServers"] = flaky
    assert set(drs.describe_source_servers(ids)) == set(ids)
    tokens = [c.params.get("nextToken") for c in wire.calls]
    assert tokens == [None, "2", "2", "4"]
    assert wire.clock.sleeps == [2.0]


def test_repeating_next_token_is_malformed(wire: Wire, drs: DrsAdapter) -> None:
    wire.fail("DescribeJobs", raw_body(b'{"items": [], "nextToken": "same"}'))
    wire.fail("DescribeJobs", raw_body(b'{"items": [], "nextToken": "same"}'))
    with pytest.raises(MalformedResponseError, match="nextToken repeats"):
        drs.describe_jobs(["drsjob-00000000000000001"])


def test_recovery_instances_and_termination(wire: Wire, drs: DrsAdapter) -> None:
    rids = [f"i-{n:017x}" for n in range(1, 251)]
    for n, rid in enumerate(rids):
        wire.drs.recovery_instances[rid] = {
            "recoveryInstanceID": rid,
            "ec2InstanceID": rid,
            "sourceServerID": server_id(n),
            "jobID": "drsjob-00000000000000001",
            "ec2InstanceState": "RUNNING",
            "isDrill": True,
        }
    found = drs.describe_recovery_instances(rids)
    assert len(found) == 250 and found[rids[7]].source_server_id == server_id(7)
    jobs = drs.terminate_recovery_instances(rids)
    assert [j.type for j in jobs] == ["TERMINATE", "TERMINATE"]
    sizes = [
        len(c.params["recoveryInstanceIDs"]) for c in wire.calls_to("TerminateRecoveryInstances")
    ]
    assert sizes == [200, 50]
