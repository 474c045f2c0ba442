"""Contract: real boto3 clients against the simulator, in-process and over HTTP.

Each test runs twice — through the botocore before-send hook and through ``SimServer`` with
``endpoint_url`` — and every DRS response body is checked against botocore's output shape
(unknown fields, enums, types, id patterns), which botocore's parser alone would not catch.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from drsorch.clock import VirtualClock
from drsorch.sim import Scenario, SimRegion
from drsorch.sim.server import SimServer
from drsorch.sim.testing import body_problems, capture_bodies, clients, parsed_problems

pytestmark = pytest.mark.integration

HOUR = 3600.0


class Env:
    def __init__(self, region: SimRegion, drs: Any, ec2: Any) -> None:
        self.region = region
        self.clock = region.clock
        assert isinstance(self.clock, VirtualClock)
        self.drs = drs
        self.ec2 = ec2
        self.bodies = capture_bodies(drs)

    def sleep(self, seconds: float) -> None:
        assert isinstance(self.clock, VirtualClock)
        self.clock.sleep(seconds)


@pytest.fixture(params=["in-process", "http"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    region = SimRegion(clock=VirtualClock(), scenario=Scenario(generate_servers=5), seed=3)
    if request.param == "in-process":
        drs, ec2 = clients(region)
        yield Env(region, drs, ec2)
        return
    with SimServer(region) as server:
        drs, ec2 = clients(region, endpoint_url=server.url)
        yield Env(region, drs, ec2)


@pytest.fixture(autouse=True)
def _bodies_fit_the_model(env: Env) -> Iterator[None]:
    yield
    for operation, _status, body, error_type in env.bodies:
        assert body_problems("drs", operation, body, error_type) == [], operation


def _start(env: Env, ids: list[str], **kw: Any) -> dict[str, Any]:
    servers = [{"sourceServerID": i} for i in ids]
    response = env.drs.start_recovery(sourceServers=servers, **kw)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    job: dict[str, Any] = response["job"]
    return job


def test_describe_source_servers_lists_filters_and_pages(env: Env) -> None:
    ids = env.region.source_server_ids
    items = env.drs.describe_source_servers()["items"]
    assert [s["sourceServerID"] for s in items] == ids
    first = items[0]
    assert first["arn"] == f"arn:aws:drs:us-east-1:123456789012:source-server/{ids[0]}"
    assert first["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert first["lastLaunchResult"] == "NOT_STARTED"

    one = env.drs.describe_source_servers(filters={"sourceServerIDs": [ids[2]]})["items"]
    assert [s["sourceServerID"] for s in one] == [ids[2]]
    unknown = env.drs.describe_source_servers(filters={"sourceServerIDs": ["s-" + "0" * 17]})
    assert unknown["items"] == []

    pages = env.drs.get_paginator("describe_source_servers").paginate(
        PaginationConfig={"PageSize": 2}
    )
    sizes = [len(p["items"]) for p in pages]
    assert sizes == [2, 2, 1]


def test_drill_runs_to_completion_with_tags_log_and_instances(env: Env) -> None:
    ids = env.region.source_server_ids[:3]
    job = _start(env, ids, isDrill=True, tags={"drsorch:execution": "e-1", "wave": "1"})
    assert job["status"] == "PENDING"
    assert job["type"] == "LAUNCH"
    assert job["initiatedBy"] == "START_DRILL"
    assert job["tags"] == {"drsorch:execution": "e-1", "wave": "1"}
    assert {p["launchStatus"] for p in job["participatingServers"]} == {"PENDING"}

    env.sleep(60)
    (seen,) = env.drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
    assert seen["status"] == "STARTED"

    env.sleep(2 * HOUR)
    (done,) = env.drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
    assert done["status"] == "COMPLETED"
    assert done["tags"] == job["tags"]
    assert "endDateTime" in done
    assert {p["launchStatus"] for p in done["participatingServers"]} == {"LAUNCHED"}

    events = [i["event"] for i in env.drs.describe_job_log_items(jobID=job["jobID"])["items"]]
    assert events[0] == "JOB_START" and events[-1] == "JOB_END"
    for name in ("SNAPSHOT_START", "SNAPSHOT_END", "CONVERSION_START", "CONVERSION_END"):
        assert events.count(name) == 3
    assert events.count("LAUNCH_START") == 3

    ris = env.drs.describe_recovery_instances(filters={"sourceServerIDs": ids})["items"]
    assert sorted(r["sourceServerID"] for r in ris) == sorted(ids)
    assert all(r["isDrill"] and r["jobID"] == job["jobID"] for r in ris)
    assert all(r["ec2InstanceID"] == r["recoveryInstanceID"] for r in ris)
    ec2_ids = [r["ec2InstanceID"] for r in ris]
    statuses = env.ec2.describe_instance_status(InstanceIds=ec2_ids, IncludeAllInstances=True)
    assert parsed_problems("ec2", "DescribeInstanceStatus", statuses) == []
    for status in statuses["InstanceStatuses"]:
        assert status["InstanceState"] == {"Code": 16, "Name": "running"}
        assert status["InstanceStatus"]["Status"] == "ok"
        assert status["SystemStatus"]["Status"] == "ok"

    server = env.drs.describe_source_servers(filters={"sourceServerIDs": [ids[0]]})["items"][0]
    assert server["lastLaunchResult"] == "SUCCEEDED"
    assert server["lifeCycle"]["lastLaunch"]["initiated"]["jobID"] == job["jobID"]
    assert server["lifeCycle"]["lastLaunch"]["initiated"]["type"] == "DRILL"
    assert server["recoveryInstanceId"] in ec2_ids


def test_describe_jobs_newest_first_date_filters_and_pages(env: Env) -> None:
    ids = env.region.source_server_ids
    first = _start(env, ids[:1])
    env.sleep(120)
    second = _start(env, ids[1:2])
    env.sleep(120)
    third = _start(env, ids[2:3])
    assert first["initiatedBy"] == "START_RECOVERY"
    items = env.drs.describe_jobs()["items"]
    assert [j["jobID"] for j in items] == [third["jobID"], second["jobID"], first["jobID"]]

    since = datetime.fromisoformat(second["creationDateTime"]).astimezone(UTC)
    from_date = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = env.drs.describe_jobs(filters={"fromDate": from_date})["items"]
    assert [j["jobID"] for j in recent] == [third["jobID"], second["jobID"]]
    older = env.drs.describe_jobs(filters={"toDate": from_date})["items"]
    assert [j["jobID"] for j in older] == [second["jobID"], first["jobID"]]

    pages = env.drs.get_paginator("describe_jobs").paginate(PaginationConfig={"PageSize": 2})
    assert [len(p["items"]) for p in pages] == [2, 1]


def test_terminate_recovery_instances_is_an_asynchronous_job(env: Env) -> None:
    ids = env.region.source_server_ids[:2]
    launch = _start(env, ids, isDrill=True)
    env.sleep(2 * HOUR)
    ris = env.drs.describe_recovery_instances()["items"]
    ri_ids = [r["recoveryInstanceID"] for r in ris]
    job = env.drs.terminate_recovery_instances(recoveryInstanceIDs=ri_ids)["job"]
    assert job["type"] == "TERMINATE"
    assert job["initiatedBy"] == "TERMINATE_RECOVERY_INSTANCES"
    assert job["status"] == "PENDING"
    env.sleep(30)
    states = {r["ec2InstanceState"] for r in env.drs.describe_recovery_instances()["items"]}
    assert states == {"SHUTTING-DOWN"}
    env.sleep(HOUR)
    (done,) = env.drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
    assert done["status"] == "COMPLETED"
    assert {p["launchStatus"] for p in done["participatingServers"]} == {"TERMINATED"}
    assert env.drs.describe_recovery_instances()["items"] == []
    statuses = env.ec2.describe_instance_status(InstanceIds=ri_ids, IncludeAllInstances=True)
    assert {s["InstanceState"]["Name"] for s in statuses["InstanceStatuses"]} == {"terminated"}
    (old,) = env.drs.describe_jobs(filters={"jobIDs": [launch["jobID"]]})["items"]
    assert {p["launchStatus"] for p in old["participatingServers"]} == {"TERMINATED"}


def test_requests_are_validated_against_the_drs_model(env: Env) -> None:
    with pytest.raises(env.drs.exceptions.ValidationException) as bad:
        env.drs.start_recovery(sourceServers=[{"sourceServerID": "s-short-and-bad!!!!"}])
    response = bad.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["reason"] == "fieldValidationFailed"
    assert response["fieldList"][0]["name"] == "sourceServers[0].sourceServerID"

    too_many = [{"sourceServerID": f"s-{i:017d}"} for i in range(201)]
    with pytest.raises(env.drs.exceptions.ValidationException):
        env.drs.start_recovery(sourceServers=too_many)
    with pytest.raises(env.drs.exceptions.ValidationException):
        env.drs.describe_jobs(filters={"jobIDs": ["drsjob-" + "!" * 17]})
    assert env.region.recorder.count("StartRecovery", outcome="error") == 2
    assert env.region.model.jobs == {}


def test_quotas_are_answered_as_drs_answers_them(env: Env) -> None:
    region = env.region
    extra = region.generate_source_servers(120)
    with pytest.raises(env.drs.exceptions.ServiceQuotaExceededException) as big:
        _start(env, extra[:101])
    assert big.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert big.value.response["quotaCode"] == "L-B827C881"

    _start(env, extra[:10])
    with pytest.raises(env.drs.exceptions.ConflictException) as busy:
        _start(env, [extra[0], extra[50]])
    assert busy.value.response["resourceId"] == extra[0]
    assert len(region.model.jobs) == 1


def test_unknown_server_in_start_recovery_is_skipped_in_the_job(env: Env) -> None:
    known = env.region.source_server_ids[0]
    ghost = "s-0000000000000000a"
    job = _start(env, [known, ghost], isDrill=True)
    env.sleep(2 * HOUR)
    (done,) = env.drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
    status = {p["sourceServerID"]: p["launchStatus"] for p in done["participatingServers"]}
    assert status == {known: "LAUNCHED", ghost: "FAILED"}
    log = env.drs.describe_job_log_items(jobID=job["jobID"])["items"]
    skipped = [i for i in log if i["event"] == "SERVER_SKIPPED"]
    assert skipped[0]["eventData"]["sourceServerID"] == ghost
    assert "not found" in skipped[0]["eventData"]["rawError"]


def test_ec2_operations_and_errors(env: Env) -> None:
    ids = env.region.source_server_ids[:2]
    _start(env, ids, isDrill=True)
    # find the moment DRS says LAUNCHED but EC2 is still pending
    while not env.region.model.instances:
        env.sleep(10)
        env.region.sync()  # the model moves on requests; bring it up to the clock
    ec2_ids = list(env.region.model.instances)
    running_only = env.ec2.describe_instance_status(InstanceIds=ec2_ids)
    assert running_only["InstanceStatuses"] == []
    pending = env.ec2.describe_instance_status(InstanceIds=ec2_ids, IncludeAllInstances=True)
    states = {s["InstanceState"]["Name"] for s in pending["InstanceStatuses"]}
    assert "pending" in states
    assert {s["InstanceStatus"]["Status"] for s in pending["InstanceStatuses"]} <= {
        "not-applicable",
        "initializing",
    }

    env.sleep(HOUR)
    reservations = env.ec2.describe_instances(InstanceIds=ec2_ids)["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert {i["State"]["Name"] for i in instances} == {"running"}
    tags = {t["Key"]: t["Value"] for t in instances[0]["Tags"]}
    assert tags["AWSElasticDisasterRecoveryManaged"] == "drs.amazonaws.com"
    filtered = env.ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]
    assert len(filtered) == 2

    with pytest.raises(ClientError) as missing:
        env.ec2.describe_instance_status(InstanceIds=["i-0123456789abcdef0"])
    assert missing.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as malformed:
        env.ec2.describe_instances(InstanceIds=["i-xyz"])
    assert malformed.value.response["Error"]["Code"] == "InvalidInstanceID.Malformed"
    too_many = [f"i-{n:017x}" for n in range(101)]
    with pytest.raises(ClientError) as over:
        env.ec2.describe_instance_status(InstanceIds=too_many)
    assert over.value.response["Error"]["Code"] == "InvalidParameterValue"

    changed = env.ec2.terminate_instances(InstanceIds=ec2_ids[:1])["TerminatingInstances"]
    assert changed[0]["PreviousState"]["Name"] == "running"
    assert changed[0]["CurrentState"]["Name"] == "shutting-down"
    env.sleep(120)
    (ri,) = env.drs.describe_recovery_instances(filters={"recoveryInstanceIDs": ec2_ids[:1]})[
        "items"
    ]
    assert ri["ec2InstanceState"] == "TERMINATED"


def test_source_server_tags_through_tag_untag_and_list(env: Env) -> None:
    """TagResource / UntagResource / ListTagsForResource on a source server's ARN, as DRS's
    REST API has them (``/tags/{resourceArn}``, tagKeys in the query), and the tags then
    show in DescribeSourceServers."""
    server = env.drs.describe_source_servers()["items"][0]
    arn, sid = server["arn"], server["sourceServerID"]
    assert env.drs.list_tags_for_resource(resourceArn=arn)["tags"] == {}
    env.drs.tag_resource(resourceArn=arn, tags={"Tier": "db", "App": "shop", "Env": ""})
    env.drs.tag_resource(resourceArn=arn, tags={"App": "crm"})  # an existing key: replaced
    assert env.drs.list_tags_for_resource(resourceArn=arn)["tags"] == {
        "Tier": "db",
        "App": "crm",
        "Env": "",
    }
    env.drs.untag_resource(resourceArn=arn, tagKeys=["App", "Env", "Absent"])  # absent: no error
    assert env.drs.list_tags_for_resource(resourceArn=arn)["tags"] == {"Tier": "db"}
    (described,) = env.drs.describe_source_servers(filters={"sourceServerIDs": [sid]})["items"]
    assert described["tags"] == {"Tier": "db"}

    gone = arn.rsplit("/", 1)[0] + "/s-00000000000000000"
    for call in (
        lambda: env.drs.list_tags_for_resource(resourceArn=gone),
        lambda: env.drs.tag_resource(resourceArn=gone, tags={"a": "b"}),
        lambda: env.drs.untag_resource(resourceArn=gone, tagKeys=["a"]),
    ):
        with pytest.raises(ClientError) as missing:
            call()
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as too_long:
        env.drs.tag_resource(resourceArn=arn, tags={"k" * 257: "v"})
    assert too_long.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as too_many:
        env.drs.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    assert env.drs.list_tags_for_resource(resourceArn=arn)["tags"] == {"Tier": "db"}
