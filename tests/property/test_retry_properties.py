"""Seed Properties 8, 13, 28 and 30 against real boto3 clients and the wire fake.

- Property 8 / 13: k throttles or connection failures, then success: k <= 3 succeeds
  after exactly ``[2, 4, 8][:k]`` seconds of (virtual) sleep, or the longer Retry-After;
  k > 3 fails after exactly 3 sleeps with a message naming the operation.
- Property 28: wherever "processed but the answer was lost" strikes, at most one job is
  ever created, and a returned job is that job.
- Property 30: a malformed DescribeJobs / StartRecovery body is a MalformedResponseError,
  never another exception.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.aws_wire import (
    Fault,
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

from drsorch.aws import TOKEN_TAG, DrsAdapter, Ec2Adapter, RetryPolicy
from drsorch.errors import (
    AwsError,
    MalformedResponseError,
    OutcomeUnknownError,
    RetriesExhaustedError,
)

pytestmark = pytest.mark.property

WIRE = Wire()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BACKOFF = [2.0, 4.0, 8.0]


def fresh() -> tuple[Wire, DrsAdapter, Ec2Adapter]:
    WIRE.reset()
    drs_client, ec2_client = WIRE.clients()
    tokens = iter(f"tok-{n}" for n in range(1000))
    policy = RetryPolicy(WIRE.clock)
    drs = DrsAdapter(drs_client, policy, token_factory=lambda: next(tokens))
    return WIRE, drs, Ec2Adapter(ec2_client, policy)


# --- Properties 8 and 13: back-off -----------------------------------------------------------

retry_after = st.one_of(st.none(), st.integers(min_value=0, max_value=30))


@st.composite
def transient(draw: st.DrawFn) -> tuple[Fault, float]:
    """A retryable fault and the Retry-After it carries (0 when none)."""
    kind = draw(st.sampled_from(["throttle", "500", "reset", "timeout"]))
    after = draw(retry_after) if kind in ("throttle", "500") else None
    fault = {
        "throttle": lambda: throttle(after),
        "500": lambda: server_error(after),
        "reset": reset,
        "timeout": lost,  # for a read, a lost answer is just a timeout
    }[kind]()
    return fault, float(after or 0)


def expected_sleeps(afters: list[float]) -> list[float]:
    return [max(BACKOFF[i], after) for i, after in enumerate(afters[:3])]


@FAST
@given(faults=st.lists(transient(), max_size=6))
def test_property_8_13_reads_back_off_2_4_8_then_give_up(faults: list[tuple[Fault, float]]) -> None:
    wire, drs, _ = fresh()
    wire.drs.add_server(server_id(1))
    wire.fail("DescribeSourceServers", *(f for f, _ in faults))
    afters = [a for _, a in faults]
    if len(faults) <= 3:
        assert server_id(1) in drs.describe_source_servers([server_id(1)])
        assert wire.clock.sleeps == expected_sleeps(afters)
        assert len(wire.calls) == len(faults) + 1
    else:
        with pytest.raises(RetriesExhaustedError) as info:
            drs.describe_source_servers([server_id(1)])
        assert wire.clock.sleeps == expected_sleeps(afters)
        assert len(wire.calls) == 4
        assert str(info.value).startswith("DescribeSourceServers for ")
        assert "failed after 4 attempts (3 retries over " in str(info.value)


@FAST
@given(k=st.integers(min_value=0, max_value=6), kind=st.sampled_from(["throttle", "reset"]))
def test_property_13_start_recovery_retries_unsent_requests(k: int, kind: str) -> None:
    """Failures that never reached DRS: retried with back-off, one job in the end."""
    wire, drs, _ = fresh()
    wire.drs.add_server(server_id(1))
    wire.fail("StartRecovery", *[throttle() if kind == "throttle" else reset()] * k)
    if k <= 3:
        job = drs.start_recovery([server_id(1)], is_drill=True, tags={})
        assert [j["jobID"] for j in wire.drs.launch_jobs()] == [job.job_id]
    else:
        # a reset may have reached DRS: giving up then says the outcome is unknown
        expected = RetriesExhaustedError if kind == "throttle" else OutcomeUnknownError
        with pytest.raises(expected, match=r"^StartRecovery for s-\w+.*failed after 4 attempts"):
            drs.start_recovery([server_id(1)], is_drill=True, tags={})
        assert wire.drs.launch_jobs() == []
    assert wire.clock.sleeps == BACKOFF[: min(k, 3)]
    assert len(wire.calls_to("StartRecovery")) == min(k, 3) + 1


@FAST
@given(k=st.integers(min_value=0, max_value=6))
def test_property_13_ec2_connection_errors(k: int) -> None:
    wire, _, ec2 = fresh()
    wire.ec2.add("i-0123456789abcdef0")
    wire.fail("DescribeInstanceStatus", *[reset()] * k)
    if k <= 3:
        assert ec2.describe_instance_status(["i-0123456789abcdef0"])["i-0123456789abcdef0"].state
    else:
        with pytest.raises(RetriesExhaustedError, match="DescribeInstanceStatus"):
            ec2.describe_instance_status(["i-0123456789abcdef0"])
    assert wire.clock.sleeps == BACKOFF[: min(k, 3)]


# --- Property 28: no duplicate jobs ----------------------------------------------------------

FAULTS = {
    "lost": lost,
    "reset": reset,
    "500": server_error,
    "throttle": throttle,
    "lost-500": lambda: Fault("pass"),
}
start_faults = st.lists(
    st.sampled_from(["lost", "reset", "500", "throttle", "lost-500"]), max_size=5
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=start_faults,
    lag=st.integers(min_value=0, max_value=3),
    servers=st.integers(min_value=1, max_value=4),
    guard=st.booleans(),
)
def test_property_28_never_two_jobs(kinds: list[str], lag: int, servers: int, guard: bool) -> None:
    """With DescribeJobs consistent (lag 0) the adapter alone prevents duplicates, even
    if DRS did not refuse a second job for a busy server (guard off). When DescribeJobs
    lags, DRS's one-job-per-server conflict is what tells the adapter to look again."""
    if not guard:
        lag = 0
    wire, drs, _ = fresh()
    wire.drs.conflicts = guard
    ids = [server_id(i) for i in range(1, servers + 1)]
    for sid in ids:
        wire.drs.add_server(sid)

    # Faults answer (or drop) before the fake handles the call; "lost-500" is handled by
    # the fake itself: the job is made, then the answer is a 500.
    wire.fail("StartRecovery", *[FAULTS[k]() for k in kinds])

    def start(p: dict[str, Any]) -> Reply:
        n = len(wire.calls_to("StartRecovery")) - 1
        made = wire.drs.StartRecovery(p)
        if n < len(kinds) and kinds[n] == "lost-500" and made.status == 202:
            return Reply(
                500, b'{"message":"oops"}', {"x-amzn-errortype": "InternalServerException"}
            )
        return made

    wire.handlers["StartRecovery"] = start

    # DescribeJobs lags: the first `lag` looks do not list new jobs yet.
    looks = 0
    real_describe = wire.drs.DescribeJobs

    def lagging(p: dict[str, Any]) -> Reply:
        nonlocal looks
        looks += 1
        if looks <= lag:
            saved, wire.drs.jobs = wire.drs.jobs, []
            try:
                return real_describe(p)
            finally:
                wire.drs.jobs = saved
        return real_describe(p)

    wire.handlers["DescribeJobs"] = lagging

    try:
        job = drs.start_recovery(ids, is_drill=True, tags={"drsorch:execution": "e-1"})
    except OutcomeUnknownError:
        # only after an attempt that may have reached DRS; a job exists only if the
        # listing lagged behind it
        assert set(kinds) & {"lost", "reset", "500", "lost-500"}
        assert len(wire.drs.launch_jobs()) <= (1 if lag > 0 else 0)
        return
    except RetriesExhaustedError:
        assert wire.drs.launch_jobs() == [], "gave up although a job was made"
        return
    made = wire.drs.launch_jobs()
    assert len(made) == 1, f"{len(made)} jobs for one launch"
    assert job.job_id == made[0]["jobID"]
    assert job.tags[TOKEN_TAG] == "tok-0"
    assert {p.server_id for p in job.participants} == set(ids)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.integers(min_value=0, max_value=3))
def test_property_28_lost_answer_at_any_attempt_gives_exactly_one_job(where: int) -> None:
    """Throttled ``where`` times, then processed-but-lost: exactly one job, and it is ours."""
    wire, drs, _ = fresh()
    wire.drs.add_server(server_id(1))
    wire.fail("StartRecovery", *[throttle()] * min(where, 3), lost())
    if where <= 3:
        job = drs.start_recovery([server_id(1)], is_drill=False, tags={})
        made = wire.drs.launch_jobs()
        assert len(made) == 1 and job.job_id == made[0]["jobID"]


# --- Property 30: malformed bodies -----------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)

participant = st.fixed_dictionaries(
    {},
    optional={
        "sourceServerID": json_values | st.just("s-00000000000000001"),
        "launchStatus": json_values | st.sampled_from(["LAUNCHED", "FAILED"]),
        "recoveryInstanceID": json_values,
    },
)
job = st.fixed_dictionaries(
    {},
    optional={
        "jobID": json_values | st.just("drsjob-00000000000000001"),
        "status": json_values | st.sampled_from(["PENDING", "COMPLETED"]),
        "participatingServers": json_values | st.lists(participant, max_size=3),
        "creationDateTime": json_values | st.just("2025-11-25T11:26:40Z"),
        "tags": json_values,
    },
)


@FAST
@given(
    body=st.one_of(
        json_values, st.fixed_dictionaries({"items": json_values | st.lists(job, max_size=3)})
    )
)
def test_property_30_malformed_describe_jobs(body: object) -> None:
    wire, drs, _ = fresh()
    wire.fail("DescribeJobs", raw_body(json.dumps(body).encode()))
    try:
        drs.describe_jobs(["drsjob-00000000000000001"])
    except MalformedResponseError as err:
        assert err.operation == "DescribeJobs"
        assert str(err).startswith("DescribeJobs")
    except AwsError as err:
        pytest.fail(f"unexpected {type(err).__name__}: {err}")


@FAST
@given(body=st.one_of(json_values, st.fixed_dictionaries({"job": json_values | job})))
def test_property_30_malformed_start_recovery(body: object) -> None:
    wire, drs, _ = fresh()
    wire.drs.add_server(server_id(1))
    wire.fail("StartRecovery", raw_body(json.dumps(body).encode(), status=202))
    try:
        result = drs.start_recovery([server_id(1)], is_drill=True, tags={})
    except OutcomeUnknownError as err:  # unreadable, and its job cannot be found
        assert err.operation == "StartRecovery"
        assert "StartRecovery" in str(err)
        assert isinstance(err.__cause__, MalformedResponseError)
    else:
        assert result.job_id  # a body good enough to read gives a real JobInfo


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": "abc"}',
        b'{"items": [1]}',
        b"[]",
        b'{"items":[{"jobID": 5}]}',
        b'{"items":[{"jobID":"drsjob-1","participatingServers":"x"}]}',
        b'{"items":[{"jobID":"drsjob-1","participatingServers":[{"sourceServerID":"s","launchStatus":3}]}]}',
        b'{"items":[{"jobID":"drsjob-1","tags":[1]}]}',
        b"not json at all",
    ],
)
def test_property_30_examples(body: bytes) -> None:
    wire, drs, _ = fresh()
    wire.fail("DescribeJobs", raw_body(body))
    result: object
    try:
        result = drs.describe_jobs(["drsjob-00000000000000001"])
    except MalformedResponseError as err:
        result = err
    # "not json" parses as an empty page in botocore: no job, no crash
    assert isinstance(result, MalformedResponseError) or result == {}


def test_unknown_error_code_is_still_an_aws_error() -> None:
    wire, drs, _ = fresh()
    wire.fail("DescribeJobs", error(418, "TeapotException", "short and stout"))
    with pytest.raises(AwsError, match="TeapotException: short and stout"):
        drs.describe_jobs(["drsjob-00000000000000001"])
