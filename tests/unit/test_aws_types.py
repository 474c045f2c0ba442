"""Parsers of DRS / EC2 responses: the fields we need, typed, or a clear error."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drsorch.aws.types import (
    InstanceHealth,
    _checked_participant,
    _participant,
    parse_instance_health,
    parse_iso_time,
    parse_job,
    parse_job_log_item,
    parse_recovery_instance,
    parse_source_server,
    read_items,
    read_job_field,
)
from drsorch.errors import MalformedResponseError

pytestmark = pytest.mark.unit

JOB: dict[str, Any] = {
    "jobID": "drsjob-0123456789abcdef0",
    "status": "STARTED",
    "type": "LAUNCH",
    "initiatedBy": "START_DRILL",
    "creationDateTime": "2025-11-25T11:26:40Z",
    "endDateTime": "2025-11-25T11:36:40+00:00",
    "tags": {"drsorch:execution": "e-1"},
    "participatingServers": [
        {
            "sourceServerID": "s-0123456789abcdef0",
            "launchStatus": "LAUNCHED",
            "recoveryInstanceID": "i-0123456789abcdef0",
        },
        {"sourceServerID": "s-0123456789abcdef1"},
    ],
}


def test_parse_job_reads_every_field() -> None:
    job = parse_job(JOB, operation="DescribeJobs")
    assert job.job_id == "drsjob-0123456789abcdef0"
    assert (job.status, job.type, job.initiated_by) == ("STARTED", "LAUNCH", "START_DRILL")
    assert job.created == 1_764_070_000.0
    assert job.ended == 1_764_070_600.0
    assert job.tags == {"drsorch:execution": "e-1"}
    launched = job.participant("s-0123456789abcdef0")
    assert launched is not None and launched.launch_status == "LAUNCHED"
    assert launched.recovery_instance_id == "i-0123456789abcdef0"
    pending = job.participant("s-0123456789abcdef1")
    assert pending is not None and pending.launch_status == "" and not pending.recovery_instance_id
    assert job.participant("s-nope") is None


def test_minimal_job_has_only_its_id() -> None:
    job = parse_job({"jobID": "drsjob-x"}, operation="DescribeJobs")
    assert job.status == "" and job.participants == () and job.created is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda j: j.pop("jobID"), "job.jobID: required field is missing"),
        (lambda j: j.update(jobID=7), "job.jobID: expected a non-empty string, got int"),
        (lambda j: j.update(participatingServers="x"), "job.participatingServers: expected a list"),
        (
            lambda j: j["participatingServers"][0].update(launchStatus=3),
            "job.participatingServers[0].launchStatus: expected a string, got int",
        ),
        (
            lambda j: j["participatingServers"][1].pop("sourceServerID"),
            "job.participatingServers[1].sourceServerID: required field is missing",
        ),
        (lambda j: j.update(creationDateTime="yesterday"), "not an ISO-8601 date-time"),
        (lambda j: j.update(tags=["a"]), "job.tags: expected a string map"),
        (lambda j: j.update(tags={"a": 1}), "job.tags: expected a string map"),
    ],
)
def test_malformed_job_names_operation_and_field(mutate: Any, field: str) -> None:

    job = copy.deepcopy(JOB)
    mutate(job)
    with pytest.raises(MalformedResponseError) as info:
        parse_job(job, operation="DescribeJobs")
    assert field in str(info.value)
    assert str(info.value).startswith("DescribeJobs: malformed response: ")
    assert info.value.operation == "DescribeJobs"


def test_job_field_of_start_recovery() -> None:
    assert read_job_field({"job": JOB}, operation="StartRecovery").job_id == JOB["jobID"]
    with pytest.raises(MalformedResponseError, match=r"StartRecovery: .*job: required"):
        read_job_field({}, operation="StartRecovery")
    with pytest.raises(MalformedResponseError, match="expected an object, got list"):
        read_job_field({"job": []}, operation="StartRecovery")


def test_items_and_token() -> None:
    assert read_items({"items": [1], "nextToken": "t"}, operation="X") == ([1], "t")
    assert read_items({}, operation="X") == ([], None)
    assert read_items(
        {"InstanceStatuses": [], "NextToken": ""}, operation="X", key="InstanceStatuses"
    ) == ([], None)
    with pytest.raises(MalformedResponseError, match="items: expected a list"):
        read_items({"items": "abc"}, operation="X")


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2025-11-25T11:26:40Z", 1_764_070_000.0),
        ("2025-11-25T11:26:40+00:00", 1_764_070_000.0),
        ("2025-11-25T11:26:40.500Z", 1_764_070_000.5),
        ("2025-11-25T12:26:40+01:00", 1_764_070_000.0),
        ("2025-11-25T11:26:40", 1_764_070_000.0),
    ],
)
def test_iso_times(text: str, epoch: float) -> None:
    assert parse_iso_time(text) == epoch


def test_source_server() -> None:
    info = parse_source_server(
        {
            "sourceServerID": "s-1",
            "arn": "arn:aws:drs:us-east-1:1:source-server/s-1",
            "dataReplicationInfo": {"dataReplicationState": "CONTINUOUS"},
            "sourceProperties": {"identificationHints": {"fqdn": "db1.example.com"}},
            "lifeCycle": {"lastLaunch": {"initiated": {"jobID": "drsjob-1"}}},
            "tags": {"tier": "db"},
        },
        operation="DescribeSourceServers",
        path="items[0]",
    )
    assert info.hostname == "db1.example.com"
    assert info.replication_state == "CONTINUOUS"
    assert info.last_launch_job_id == "drsjob-1"
    assert info.tags == {"tier": "db"}
    bare = parse_source_server({"sourceServerID": "s-2"}, operation="X", path="items[1]")
    assert bare.replication_state == "" and bare.hostname is None
    with pytest.raises(MalformedResponseError, match=r"items\[3\].dataReplicationInfo"):
        parse_source_server(
            {"sourceServerID": "s-2", "dataReplicationInfo": "x"}, operation="X", path="items[3]"
        )


def test_log_item_and_recovery_instance() -> None:
    item = parse_job_log_item(
        {
            "logDateTime": "2025-11-25T11:26:40Z",
            "event": "LAUNCH_FAILED",
            "eventData": {"sourceServerID": "s-1", "rawError": "no capacity"},
        },
        operation="DescribeJobLogItems",
        path="items[0]",
    )
    assert (item.time, item.event, item.server_id, item.raw_error) == (
        1_764_070_000.0,
        "LAUNCH_FAILED",
        "s-1",
        "no capacity",
    )
    ri = parse_recovery_instance(
        {"recoveryInstanceID": "i-1", "ec2InstanceID": "i-2", "isDrill": True, "jobID": "j"},
        operation="DescribeRecoveryInstances",
        path="items[0]",
    )
    assert (ri.ec2_instance_id, ri.is_drill, ri.job_id) == ("i-2", True, "j")
    with pytest.raises(MalformedResponseError, match="isDrill: expected a boolean"):
        parse_recovery_instance(
            {"recoveryInstanceID": "i-1", "isDrill": "yes"}, operation="X", path="items[0]"
        )


def test_instance_health() -> None:
    health = parse_instance_health(
        {
            "InstanceId": "i-1",
            "InstanceState": {"Code": 16, "Name": "running"},
            "InstanceStatus": {"Status": "ok"},
            "SystemStatus": {"Status": "initializing"},
        },
        operation="DescribeInstanceStatus",
        path="InstanceStatuses[0]",
    )
    assert health == InstanceHealth("i-1", "running", "ok", "initializing")
    assert not health.status_ok
    assert InstanceHealth("i-1", "running", "ok", "ok").status_ok


_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=4,
)
_FIELDS = st.sampled_from(["sourceServerID", "launchStatus", "recoveryInstanceID", "other"])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        _ANY_JSON,
        st.dictionaries(_FIELDS, _ANY_JSON | st.text(min_size=1, max_size=6), max_size=4),
    )
)
def test_a_participant_reads_the_same_at_once_as_field_by_field(item: Any) -> None:
    """The fast read of a polled job's servers gives what the field-by-field read gives, and
    leaves to it whatever that one refuses (with its message naming the path)."""
    try:
        expected = _checked_participant("DescribeJobs", item, "job", 3)
    except MalformedResponseError as exc:
        assert _participant(item) is None
        assert "job.participatingServers[3]" in str(exc)
    else:
        fast = _participant(item)
        assert fast is None or fast == expected
        assert parse_job(
            {"jobID": "j", "participatingServers": [item]}, operation="DescribeJobs"
        ).participants == (expected,)
