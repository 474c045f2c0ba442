"""Ec2Adapter: batches of 100, IncludeAllInstances, and one unknown id poisons nothing."""

from __future__ import annotations

import pytest
from tests.utils.aws_wire import Wire, instance_id, throttle

from drsorch.aws import NOT_FOUND, Ec2Adapter, RetryPolicy
from drsorch.aws.types import InstanceHealth
from drsorch.errors import RetriesExhaustedError

pytestmark = pytest.mark.unit


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def ec2(wire: Wire) -> Ec2Adapter:
    _, client = wire.clients()
    return Ec2Adapter(client, RetryPolicy(wire.clock))


def instances(wire: Wire, n: int, start: int = 1) -> list[str]:
    ids = [instance_id(i) for i in range(start, start + n)]
    for iid in ids:
        wire.ec2.add(iid, "running", "ok", "initializing")
    return ids


def test_250_ids_take_3_calls_of_at_most_100(wire: Wire, ec2: Ec2Adapter) -> None:
    ids = instances(wire, 250)
    health = ec2.describe_instance_status(ids)
    calls = wire.calls_to("DescribeInstanceStatus")
    assert [len(c.params["InstanceId"]) for c in calls] == [100, 100, 50]
    assert all(c.params["IncludeAllInstances"] == "true" for c in calls)
    assert list(health) == ids
    assert health[ids[0]] == InstanceHealth(ids[0], "running", "ok", "initializing")


def test_unknown_id_is_not_found_and_the_rest_still_answer(wire: Wire, ec2: Ec2Adapter) -> None:
    ids = instances(wire, 5)
    young = [instance_id(900), instance_id(901)]
    health = ec2.describe_instance_status([ids[0], young[0], *ids[1:], young[1]])
    assert {iid: h.state for iid, h in health.items() if h.state == NOT_FOUND} == {
        young[0]: NOT_FOUND,
        young[1]: NOT_FOUND,
    }
    assert all(health[i].state == "running" for i in ids)
    # one failed call naming both, then one call without them
    assert [len(c.params["InstanceId"]) for c in wire.calls] == [7, 5]


def test_not_found_without_ids_in_the_message_splits_the_batch(wire: Wire, ec2: Ec2Adapter) -> None:
    wire.ec2.name_missing_ids = False
    ids = instances(wire, 8)
    bad = instance_id(999)
    health = ec2.describe_instance_status([*ids, bad])
    assert health[bad].state == NOT_FOUND
    assert all(health[i].state == "running" for i in ids)
    assert len(wire.calls) <= 2 * 9  # a binary search, not one call per id and repeat


def test_every_id_answered_even_when_ec2_omits_one(wire: Wire, ec2: Ec2Adapter) -> None:
    ids = instances(wire, 2)
    real = wire.ec2.DescribeInstanceStatus
    wire.handlers["DescribeInstanceStatus"] = lambda p: real({"InstanceId": p["InstanceId"][:1]})
    health = ec2.describe_instance_status(ids)
    assert health[ids[1]].state == NOT_FOUND and health[ids[0]].state == "running"


def test_throttling_is_retried_then_exhausted(wire: Wire, ec2: Ec2Adapter) -> None:
    ids = instances(wire, 1)
    wire.fail("DescribeInstanceStatus", *[throttle()] * 4)
    wire.faults["DescribeInstanceStatus"][0].code = "RequestLimitExceeded"
    with pytest.raises(RetriesExhaustedError, match=r"DescribeInstanceStatus .*failed after 4"):
        ec2.describe_instance_status(ids)
    assert wire.clock.sleeps == [2.0, 4.0, 8.0]


def test_empty_request_makes_no_call(wire: Wire, ec2: Ec2Adapter) -> None:
    assert ec2.describe_instance_status([]) == {}
    assert wire.calls == []


def test_terminate_instances_in_batches(wire: Wire, ec2: Ec2Adapter) -> None:
    ids = instances(wire, 120)
    states = ec2.terminate_instances(ids)
    assert set(states.values()) == {"shutting-down"} and len(states) == 120
    assert [len(c.params["InstanceId"]) for c in wire.calls_to("TerminateInstances")] == [100, 20]
