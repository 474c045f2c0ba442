"""Every scripted fault surfaces in boto3 as what a user of real DRS/EC2 would catch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from drsorch.clock import VirtualClock
from drsorch.sim import Fault, Scenario, SimRegion
from drsorch.sim.server import SimServer
from drsorch.sim.testing import clients
from drsorch.sim.wire import Dropped

pytestmark = pytest.mark.integration

HOUR = 3600.0


class Env:
    def __init__(self, region: SimRegion, drs: Any, ec2: Any, mode: str) -> None:
        self.region, self.drs, self.ec2, self.mode = region, drs, ec2, mode
        clock = region.clock
        assert isinstance(clock, VirtualClock)
        self.clock = clock

    def start(self, ids: list[str], **kw: Any) -> dict[str, Any]:
        servers = [{"sourceServerID": i} for i in ids]
        job: dict[str, Any] = self.drs.start_recovery(sourceServers=servers, **kw)["job"]
        return job

    def job(self, job_id: str) -> dict[str, Any]:
        (item,) = self.drs.describe_jobs(filters={"jobIDs": [job_id]})["items"]
        return dict(item)


def _region() -> SimRegion:
    return SimRegion(clock=VirtualClock(), scenario=Scenario(generate_servers=4), seed=11)


@pytest.fixture(params=["in-process", "http"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    region = _region()
    if request.param == "in-process":
        drs, ec2 = clients(region)
        yield Env(region, drs, ec2, "in-process")
        return
    with SimServer(region) as server:
        drs, ec2 = clients(endpoint_url=server.url)
        yield Env(region, drs, ec2, "http")


def test_throttle_is_a_429_throttling_exception_with_retry_after(env: Env) -> None:
    env.region.faults.add(Fault(kind="throttle", operation="DescribeJobs", nth=1, retry_after=7))
    with pytest.raises(env.drs.exceptions.ThrottlingException) as caught:
        env.drs.describe_jobs()
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["retryAfterSeconds"] == "7"
    assert env.drs.describe_jobs()["items"] == []  # only the first call
    calls = env.region.recorder.select("DescribeJobs")
    assert [(c.outcome, c.fault) for c in calls] == [("fault", "throttle"), ("ok", None)]


def test_ec2_throttle_and_internal_error_use_ec2_codes(env: Env) -> None:
    env.region.faults.add(Fault(kind="throttle", service="ec2", nth=1))
    env.region.faults.add(Fault(kind="internal_error", service="ec2", nth=2))
    with pytest.raises(ClientError) as throttled:
        env.ec2.describe_instance_status()
    assert throttled.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    with pytest.raises(ClientError) as broken:
        env.ec2.describe_instances()
    assert broken.value.response["Error"]["Code"] == "InternalError"
    assert broken.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_internal_error_is_a_500_internal_server_exception(env: Env) -> None:
    env.region.faults.add(Fault(kind="internal_error", operation="DescribeSourceServers"))
    with pytest.raises(env.drs.exceptions.InternalServerException) as caught:
        env.drs.describe_source_servers()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_expired_credentials(env: Env) -> None:
    env.region.faults.add(Fault(kind="expired_credentials"))
    with pytest.raises(ClientError) as drs_error:
        env.drs.describe_source_servers()
    assert drs_error.value.response["Error"]["Code"] == "ExpiredTokenException"
    assert drs_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as ec2_error:
        env.ec2.describe_instance_status()
    assert ec2_error.value.response["Error"]["Code"] == "RequestExpired"


def test_connection_reset_before_processing_creates_nothing(env: Env) -> None:
    env.region.faults.add(Fault(kind="connection_reset", operation="StartRecovery", nth=1))
    with pytest.raises(ConnectionClosedError):
        env.start(env.region.source_server_ids[:1], tags={"run": "r1"})
    assert env.drs.describe_jobs()["items"] == []
    (call,) = env.region.recorder.select("StartRecovery")
    assert call.outcome == "fault" and not call.processed


def test_endpoint_unreachable(env: Env) -> None:
    env.region.faults.add(Fault(kind="endpoint_unreachable", service="ec2", times=1))
    expected = EndpointConnectionError if env.mode == "in-process" else ConnectionClosedError
    with pytest.raises(expected):
        env.ec2.describe_instance_status()
    assert env.ec2.describe_instance_status()["InstanceStatuses"] == []


def test_read_timeout_after_processing_leaves_a_job_to_find_by_tags(env: Env) -> None:
    env.region.faults.add(
        Fault(kind="read_timeout", operation="StartRecovery", phase="after", nth=1)
    )
    expected = ReadTimeoutError if env.mode == "in-process" else ConnectionClosedError
    with pytest.raises(expected):
        env.start(env.region.source_server_ids[:2], isDrill=True, tags={"execution": "e-42"})
    (job,) = env.drs.describe_jobs(filters={"fromDate": "2025-11-25T00:00:00Z"})["items"]
    assert job["tags"] == {"execution": "e-42"}
    (call,) = env.region.recorder.select("StartRecovery")
    assert call.outcome == "fault" and call.processed
    # sending it again is refused: the servers are already in that job
    with pytest.raises(env.drs.exceptions.ConflictException):
        env.start(env.region.source_server_ids[:2], isDrill=True, tags={"execution": "e-42"})


def test_launch_failure_fails_that_server_with_a_raw_error(env: Env) -> None:
    bad, good = env.region.source_server_ids[:2]
    env.region.faults.add(Fault(kind="launch_failure", server_id=bad, raw_error="No capacity"))
    job = env.start([bad, good], isDrill=True)
    env.clock.sleep(2 * HOUR)
    done = env.job(job["jobID"])
    assert done["status"] == "COMPLETED"  # DRS jobs never say FAILED
    status = {p["sourceServerID"]: p["launchStatus"] for p in done["participatingServers"]}
    assert status == {bad: "FAILED", good: "LAUNCHED"}
    log = env.drs.describe_job_log_items(jobID=job["jobID"])["items"]
    (failed,) = [i for i in log if i["event"] == "LAUNCH_FAILED"]
    assert failed["eventData"] == {"sourceServerID": bad, "rawError": "No capacity"}
    server = env.drs.describe_source_servers(filters={"sourceServerIDs": [bad]})["items"][0]
    assert server["lastLaunchResult"] == "FAILED"


def test_stuck_pending_and_impaired_instances(env: Env) -> None:
    stuck, sick = env.region.source_server_ids[:2]
    env.region.faults.add(Fault(kind="stuck_pending", server_id=stuck))
    env.region.faults.add(Fault(kind="impaired", server_id=sick, checks="both"))
    env.start([stuck, sick], isDrill=True)
    env.clock.sleep(24 * HOUR)
    ris = {r["sourceServerID"]: r for r in env.drs.describe_recovery_instances()["items"]}
    assert ris[stuck]["ec2InstanceState"] == "PENDING"
    ids = [ris[stuck]["ec2InstanceID"], ris[sick]["ec2InstanceID"]]
    statuses = env.ec2.describe_instance_status(InstanceIds=ids, IncludeAllInstances=True)
    by_id = {s["InstanceId"]: s for s in statuses["InstanceStatuses"]}
    assert by_id[ids[0]]["InstanceState"]["Name"] == "pending"
    assert by_id[ids[1]]["InstanceState"]["Name"] == "running"
    assert by_id[ids[1]]["InstanceStatus"]["Status"] == "impaired"
    assert by_id[ids[1]]["SystemStatus"]["Status"] == "impaired"
    assert by_id[ids[1]]["InstanceStatus"]["Details"][0]["Status"] == "failed"


@pytest.mark.parametrize("sticky", [False, True])
def test_unknown_job_status(env: Env, sticky: bool) -> None:
    env.region.faults.add(Fault(kind="unknown_job_status", status="SUSPENDED", sticky=sticky))
    job = env.start(env.region.source_server_ids[:1], isDrill=True)
    assert env.job(job["jobID"])["status"] == "SUSPENDED"
    env.clock.sleep(2 * HOUR)
    assert env.job(job["jobID"])["status"] == ("SUSPENDED" if sticky else "COMPLETED")


def test_targeting_by_server_window_and_rate(env: Env) -> None:
    a, b = env.region.source_server_ids[:2]
    faults = env.region.faults
    faults.add(Fault(kind="internal_error", operation="DescribeSourceServers", server_id=a))
    with pytest.raises(env.drs.exceptions.InternalServerException):
        env.drs.describe_source_servers(filters={"sourceServerIDs": [a]})
    assert env.drs.describe_source_servers(filters={"sourceServerIDs": [b]})["items"]
    faults.clear()

    faults.add(Fault(kind="throttle", operation="DescribeJobs", after=600, before=1200))
    env.drs.describe_jobs()
    env.clock.sleep(700)
    with pytest.raises(env.drs.exceptions.ThrottlingException):
        env.drs.describe_jobs()
    env.clock.sleep(600)
    env.drs.describe_jobs()
    faults.clear()

    faults.add(Fault(kind="throttle", operation="DescribeJobs", rate=1.0, burst=2))
    env.drs.describe_jobs()
    env.drs.describe_jobs()
    with pytest.raises(env.drs.exceptions.ThrottlingException):
        env.drs.describe_jobs()
    env.clock.sleep(1.0)
    env.drs.describe_jobs()


def test_faults_from_a_scenario_file(tmp_path: Any) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "generate_servers: 2\n"
        "faults:\n"
        "  - {kind: throttle, operation: StartRecovery, nth: 1, retry_after: 4}\n"
        "  - {kind: launch_failure, probability: 1.0, raw_error: boom}\n"
    )
    region = SimRegion(clock=VirtualClock(), scenario=Scenario.from_file(path))
    drs, _ = clients(region)
    servers = [{"sourceServerID": i} for i in region.source_server_ids]
    with pytest.raises(drs.exceptions.ThrottlingException):
        drs.start_recovery(sourceServers=servers)
    job = drs.start_recovery(sourceServers=servers)["job"]
    assert isinstance(region.clock, VirtualClock)
    region.clock.sleep(2 * HOUR)
    (done,) = drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
    assert {p["launchStatus"] for p in done["participatingServers"]} == {"FAILED"}


@pytest.mark.parametrize("size", ["x", "7.5", "", "<5>"])
def test_an_ec2_max_results_that_is_no_integer_is_invalid_parameter_value(size: str) -> None:
    # botocore only sends integers: a raw client (curl, another SDK) may send anything
    region = _region()
    form = urlencode(
        {"Action": "DescribeInstanceStatus", "Version": "2016-11-15", "MaxResults": size}
    )
    answer = region.handle("POST", "/", {"Authorization": "x"}, form.encode())
    assert not isinstance(answer, Dropped)
    assert answer.status == 400
    root = ElementTree.fromstring(answer.body)
    assert root.findtext("Errors/Error/Code") == "InvalidParameterValue"
    assert f"Value ( {size} ) for parameter maxResults" in (
        root.findtext("Errors/Error/Message") or ""
    )


def test_sim_serve_answers_500_to_a_request_the_simulator_breaks_on_and_serves_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    region = _region()
    real = region.handle
    calls = iter([True, False])

    def breaks_once(*args: Any) -> Any:
        if next(calls):
            raise TypeError("a simulator bug")
        return real(*args)

    monkeypatch.setattr(region, "handle", breaks_once)
    with SimServer(region) as server:
        drs, _ = clients(endpoint_url=server.url)
        with pytest.raises(ClientError) as caught:
            drs.describe_jobs()
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert drs.describe_jobs()["items"] == []  # the server still serves
    err = capsys.readouterr().err
    assert "a simulator bug" in err and "Traceback" not in err
