"""The end of every execution is announced to the plan's SNS topic (Req 8.1-8.5), through
the runner, and the record says what became of it; a failed notification changes neither
the execution's status nor its exit code (Req 8.4). Everything runs inside moto: the
simulator answers DRS/EC2 below boto3, moto's SNS delivers to moto's SQS."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tests.utils.engine import SHORT
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.plan import parse_plan
from drsorch.runner import EngineError, Runner
from drsorch.store import MemoryStore
from drsorch.wiring import _announcer, simulated

pytestmark = pytest.mark.integration

REGION = "us-east-1"


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )


def subscribed_queue(session: Any, topic: str) -> str:
    sqs = session.client("sqs")
    url: str = sqs.create_queue(QueueName="drsorch-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    session.client("sns").subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return url


def run_with_topic(session: Any, topic: str | None, **runner_kw: Any) -> tuple[Any, Any, Any]:
    raw = make_plan(4, waves=2, servers_per_wave=2)
    if topic is not None:
        raw["Notifications"] = {"SnsTopicArn": topic}
    plan = parse_plan(raw)
    world = simulated(plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=SHORT, seed=4)
    store = MemoryStore()
    logged: list[str] = []
    runner = Runner(
        drs=world.drs,
        ec2=world.ec2,
        store=store,
        clock=world.clock,
        log=logged.append,
        notify=_announcer(session, plan, world.clock, None),
        **runner_kw,
    )
    return runner, (plan, world, store), logged


def test_the_end_is_announced_and_noted_in_the_record(aws: Any) -> None:
    topic = aws.client("sns").create_topic(Name="dr-events")["TopicArn"]
    queue = subscribed_queue(aws, topic)
    runner, (plan, world, store), logged = run_with_topic(aws, topic)
    record = runner.run(plan, world.options)
    assert record.Status == "COMPLETED"
    assert record.Notification is not None and record.Notification.Status == "SENT"
    assert record.Notification.TopicArn == topic and record.Notification.MessageId
    assert store.get(record.ExecutionId) == record
    (message,) = aws.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)[
        "Messages"
    ]
    body = json.loads(message["Body"])
    assert body["ExecutionId"] == record.ExecutionId and body["Status"] == "COMPLETED"
    assert any("notification sent" in line for line in logged)


def test_a_failed_publish_is_noted_and_changes_nothing_else(aws: Any) -> None:
    missing = f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    runner, (plan, world, _store), logged = run_with_topic(aws, missing)
    record = runner.run(plan, world.options)
    assert record.Status == "COMPLETED" and record.Errors == []
    assert record.Notification is not None and record.Notification.Status == "FAILED"
    assert missing in (record.Notification.Error or "")
    assert any("FAILED" in line and missing in line for line in logged)


def test_no_topic_no_call(aws: Any) -> None:
    runner, (plan, world, _store), _ = run_with_topic(aws, None)
    assert runner.notify is None
    record = runner.run(plan, world.options)
    assert record.Notification is None


def test_an_engine_that_broke_still_announces_its_failure(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = aws.client("sns").create_topic(Name="dr-events")["TopicArn"]
    queue = subscribed_queue(aws, topic)
    runner, (plan, world, store), _ = run_with_topic(aws, topic)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(world.ec2, "describe_instance_status", broken)
    with pytest.raises(EngineError):
        runner.run(plan, world.options)
    saved = store.get(world.options.execution_id)
    assert saved is not None and saved.Status == "FAILED"
    assert saved.Notification is not None and saved.Notification.Status == "SENT"
    (message,) = aws.client("sqs").receive_message(QueueUrl=queue)["Messages"]
    body = json.loads(message["Body"])
    assert body["Status"] == "FAILED" and "simulated bug" in json.dumps(body["Errors"])
    assert store.lease_of(world.options.execution_id) is None


def test_a_simulated_run_never_notifies() -> None:
    raw = make_plan(4, waves=1, servers_per_wave=1)
    raw["Notifications"] = {"SnsTopicArn": f"arn:aws:sns:{REGION}:123456789012:dr-events"}
    world = simulated(parse_plan(raw), clock=VirtualClock(start=DEFAULT_EPOCH), scenario=SHORT)
    assert world.notify is None
