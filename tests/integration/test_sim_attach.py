"""Attaching the simulator to boto3 sessions and clients (the in-process way in)."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from drsorch.clock import VirtualClock
from drsorch.sim import Scenario, SimRegion, attach, detach, sim_session

pytestmark = pytest.mark.integration

NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=1)


def _region(seed: int = 0) -> SimRegion:
    return SimRegion(clock=VirtualClock(), scenario=Scenario(generate_servers=2), seed=seed)


def _session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")


def test_clients_made_from_an_attached_session_talk_to_the_region() -> None:
    region = _region()
    session = _session()
    attach(session, region)
    drs = session.client("drs", config=NO_RETRIES)
    ec2 = session.client("ec2", config=NO_RETRIES)
    assert len(drs.describe_source_servers()["items"]) == 2
    assert ec2.describe_instances()["Reservations"] == []
    assert [c.operation for c in region.recorder.calls] == [
        "DescribeSourceServers",
        "DescribeInstances",
    ]
    assert region.recorder.calls[0].time == region.clock.now()


def test_attaching_again_replaces_the_region_and_detach_unroutes() -> None:
    first, second = _region(1), _region(2)
    # a local port nobody listens on: once detached, calls fail here, never reach AWS
    drs = _session().client("drs", endpoint_url="http://127.0.0.1:9", config=NO_RETRIES)
    attach(drs, first)
    attach(drs, second)
    ids = [s["sourceServerID"] for s in drs.describe_source_servers()["items"]]
    assert ids == second.source_server_ids != first.source_server_ids
    assert first.recorder.calls == []
    detach(drs)
    with pytest.raises(EndpointConnectionError):
        drs.describe_source_servers()


def test_sim_session_has_credentials_and_the_regions_name() -> None:
    region = SimRegion(clock=VirtualClock(), region_name="ap-southeast-2")
    session = sim_session(region)
    assert session.region_name == "ap-southeast-2"
    assert session.client("drs", config=NO_RETRIES).describe_jobs()["items"] == []


def test_attach_refuses_what_it_cannot_hook() -> None:
    with pytest.raises(TypeError):
        attach(object(), _region())
