"""End-of-execution notifications through moto's SNS, read back through SQS subscriptions
(seed Req 8.1-8.5, Properties 23-25, tasks 9.4 and 9.5).

Everything runs inside ``moto.mock_aws``: real boto3 clients, real serialization, moto's
SNS delivering to moto's SQS; no request leaves the process. Failures moto cannot produce
(a denied publish, throttling) are injected at the wire with a ``before-send`` handler
registered ahead of moto's, so botocore parses a real SNS error response.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from tests.utils.history import execution_records, make_record

from drsorch.aws import RetryPolicy, SnsAdapter, client_config, sns_client
from drsorch.aws.sns import MAX_MESSAGE_BYTES
from drsorch.clock import VirtualClock
from drsorch.core.statuses import ExecutionStatus, ServerStatus
from drsorch.history import ExecutionRecord
from drsorch.notify import NotifyOutcome, execution_notice, notify_end

pytestmark = pytest.mark.integration

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ATTRIBUTES = ("PlanId", "Status", "ExecutionType", "Event", "Environment")
_names = itertools.count()


@dataclass
class Moto:
    """moto's SNS and SQS, with helpers to wire topics to queues and read them back."""

    sns: Any
    sqs: Any

    def topic(self, *, fifo: bool = False) -> str:
        name = f"dr-events-{next(_names)}" + (".fifo" if fifo else "")
        attrs = {"FifoTopic": "true"} if fifo else {}
        arn: str = self.sns.create_topic(Name=name, Attributes=attrs)["TopicArn"]
        return arn

    def queue(self, topic: str, *, raw: bool, filter_policy: dict[str, Any] | None = None) -> str:
        fifo = topic.endswith(".fifo")
        name = f"q-{next(_names)}" + (".fifo" if fifo else "")
        url: str = self.sqs.create_queue(
            QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {}
        )["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        attrs = {"RawMessageDelivery": "true" if raw else "false"}
        if filter_policy is not None:
            attrs["FilterPolicy"] = json.dumps(filter_policy)
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attrs)
        return url

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message waiting in the queue (removed from it)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return out
            for message in got:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            out += got


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    with mock_aws():
        yield Moto(
            sns=boto3.client("sns", region_name=REGION, config=client_config(), **CREDENTIALS),
            sqs=boto3.client("sqs", region_name=REGION, **CREDENTIALS),
        )


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def adapter(moto: Moto, clock: VirtualClock) -> SnsAdapter:
    return SnsAdapter(moto.sns, RetryPolicy(clock))


@pytest.fixture
def fresh_client(moto: Moto) -> Any:
    """A client of its own, for tests that hook its wire."""
    return boto3.client("sns", region_name=REGION, config=client_config(), **CREDENTIALS)


def inject(client: Any, replies: list[tuple[int, str, str]]) -> list[int]:
    """Answer the next Publish calls of ``client`` with these SNS errors instead of moto.

    botocore runs *every* ``before-send`` handler (moto's too, which would process the
    request) and keeps the first answer, so the fault goes in at ``before-call``, as
    botocore's own Stubber does: the request is never sent and the client raises the
    error class SNS's code maps to. (tests/unit/test_aws_sns.py covers the XML wire.)
    """
    seen: list[int] = []

    def hook(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        seen.append(1)
        if not replies:
            return None  # on to moto
        status, code, message = replies.pop(0)
        parsed = {
            "Error": {"Type": "Sender", "Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "r-1"},
        }
        return AWSResponse("https://sns.invalid/", status, {}, None), parsed

    client.meta.events.register_first("before-call.sns.Publish", hook)
    return seen


def failed() -> ExecutionRecord:
    return make_record(11, Status="FAILED", PlanId="three-tier-app")


def attributes_of(sqs_message: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        name: (value["DataType"], value["StringValue"])
        for name, value in sqs_message.get("MessageAttributes", {}).items()
    }


# --- delivery --------------------------------------------------------------------------------


def test_raw_delivery_carries_the_message_and_its_filterable_attributes(
    moto: Moto, adapter: SnsAdapter
) -> None:
    topic = moto.topic()
    queue = moto.queue(topic, raw=True)
    record = failed()
    lines: list[str] = []
    result = notify_end(adapter, topic, record, "aws", lines.append)
    assert result.outcome is NotifyOutcome.SENT and result.message_id
    assert lines == [f"notification sent to {topic} (message {result.message_id})"]
    (got,) = moto.drain(queue)
    notice = execution_notice(record, environment="aws")
    assert got["Body"] == notice.message
    msg = json.loads(got["Body"])
    assert (msg["ExecutionId"], msg["PlanId"], msg["Status"]) == (
        record.ExecutionId,
        "three-tier-app",
        "FAILED",
    )
    assert msg["AffectedServerIds"] and msg["Errors"]
    assert attributes_of(got) == {
        "PlanId": ("String", "three-tier-app"),
        "Status": ("String", "FAILED"),
        "ExecutionType": ("String", record.ExecutionType),
        "Event": ("String", "EXECUTION_ENDED"),
        "Environment": ("String", "aws"),
    }


def test_envelope_delivery_carries_subject_message_and_attributes(
    moto: Moto, adapter: SnsAdapter
) -> None:
    topic = moto.topic()
    queue = moto.queue(topic, raw=False)
    record = make_record(12, Status="COMPLETED")
    result = notify_end(adapter, topic, record, "simulator")
    (got,) = moto.drain(queue)
    envelope = json.loads(got["Body"])
    notice = execution_notice(record, environment="simulator")
    assert envelope["TopicArn"] == topic
    assert envelope["MessageId"] == result.message_id
    assert envelope["Subject"] == notice.subject
    assert envelope["Message"] == notice.message
    assert {k: (v["Type"], v["Value"]) for k, v in envelope["MessageAttributes"].items()} == {
        name: ("String", value) for name, value in notice.attributes.items()
    }


def test_a_filter_policy_on_status_lets_subscribers_hear_only_failures(
    moto: Moto, adapter: SnsAdapter
) -> None:
    topic = moto.topic()
    everything = moto.queue(topic, raw=True)
    failures = moto.queue(topic, raw=True, filter_policy={"Status": ["FAILED", "CANCELLED"]})
    real_recoveries = moto.queue(
        topic,
        raw=True,
        filter_policy={"ExecutionType": ["RECOVERY"], "Environment": ["aws"]},
    )
    sent: dict[str, str] = {}
    for seed, (status, kind, env) in enumerate(
        [
            ("COMPLETED", "DRILL", "aws"),
            ("FAILED", "DRILL", "aws"),
            ("CANCELLED", "RECOVERY", "aws"),
            ("COMPLETED", "RECOVERY", "simulator"),
        ]
    ):
        record = make_record(seed, Status=status, ExecutionType=kind)
        assert notify_end(adapter, topic, record, env).ok
        sent[record.ExecutionId] = f"{status}/{kind}/{env}"

    def heard(queue: str) -> list[str]:
        return sorted(sent[json.loads(m["Body"])["ExecutionId"]] for m in moto.drain(queue))

    assert heard(everything) == sorted(sent.values())
    assert heard(failures) == ["CANCELLED/RECOVERY/aws", "FAILED/DRILL/aws"]
    assert heard(real_recoveries) == ["CANCELLED/RECOVERY/aws"]


def test_a_fifo_topic_gets_the_plan_as_group_and_one_message_per_execution_end(
    moto: Moto, adapter: SnsAdapter
) -> None:
    topic = moto.topic(fifo=True)
    queue = moto.queue(topic, raw=True)
    record = failed()
    first = notify_end(adapter, topic, record, "aws")
    again = notify_end(adapter, topic, record, "aws")  # e.g. a resumed engine sends again
    assert first.ok and again.ok
    (got,) = moto.drain(queue)  # deduplicated by ExecutionId + Event + Status
    assert got["Attributes"]["MessageGroupId"] == "three-tier-app"


def test_the_client_goes_to_the_topics_region(moto: Moto, clock: VirtualClock) -> None:
    west = boto3.client("sns", region_name="eu-west-1", **CREDENTIALS)
    topic = west.create_topic(Name=f"dr-west-{next(_names)}")["TopicArn"]
    session = boto3.Session(region_name=REGION, **CREDENTIALS)  # the caller's own region
    right = SnsAdapter(sns_client(session, topic), RetryPolicy(clock))
    assert notify_end(right, topic, failed(), "aws").outcome is NotifyOutcome.SENT
    wrong = SnsAdapter(moto.sns, RetryPolicy(clock))  # a us-east-1 client cannot see it
    assert notify_end(wrong, topic, failed(), "aws").error_code == "NotFound"


def test_ten_thousand_failed_servers_arrive_whole_through_an_envelope(
    moto: Moto, adapter: SnsAdapter
) -> None:
    n = 10_000
    servers = [
        {"ServerId": f"s-{i:017x}", "Status": "FAILED", "Error": "launch failed " * 100}
        for i in range(n)
    ]
    data = make_record(13, Status="FAILED").to_dict()
    data["WaveStatus"] = [{**data["WaveStatus"][0], "Status": "FAILED", "ServerResults": servers}]
    data["ServerCount"] = data["FailedServerCount"] = n
    data["Errors"] = [
        {"Message": f"{s['ServerId']}: {'DRS said no. ' * 500}", "ServerId": s["ServerId"]}
        for s in servers
    ]
    record = ExecutionRecord.from_dict(data)
    topic = moto.topic()
    queue = moto.queue(topic, raw=False)
    result = notify_end(adapter, topic, record, "aws")
    assert result.outcome is NotifyOutcome.SENT
    assert result.errors_omitted > 0 and result.affected_omitted > 0
    (got,) = moto.drain(queue)
    # the envelope re-escapes the message and still stays under SNS's own limit
    assert len(got["Body"].encode()) < MAX_MESSAGE_BYTES
    msg = json.loads(json.loads(got["Body"])["Message"])
    assert msg["ErrorCount"] == msg["AffectedServerCount"] == n
    assert len(msg["Errors"]) + msg["ErrorsOmitted"] == n
    assert len(msg["AffectedServerIds"]) + msg["AffectedServerIdsOmitted"] == n


# --- failures: logged, returned, never raised (Req 8.4, task 9.5) ----------------------------


def test_a_missing_topic_is_a_failed_result_naming_it(
    moto: Moto, adapter: SnsAdapter, clock: VirtualClock
) -> None:
    topic = f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    lines: list[str] = []
    result = notify_end(adapter, topic, failed(), "aws", lines.append)
    assert result.outcome is NotifyOutcome.FAILED
    assert result.error_code == "NotFound"
    assert result.error is not None and topic in result.error
    assert clock.sleeps == []  # not worth a retry
    assert lines == [result.describe()] and "outcome is unchanged" in lines[0]


def test_a_denied_publish_is_a_failed_result_and_nothing_is_delivered(
    moto: Moto, fresh_client: Any, clock: VirtualClock
) -> None:
    topic = moto.topic()
    queue = moto.queue(topic, raw=True)
    inject(
        fresh_client,
        [
            (
                403,
                "AuthorizationError",
                f"User: bob is not authorized to perform: SNS:Publish on {topic}",
            )
        ],
    )
    adapter = SnsAdapter(fresh_client, RetryPolicy(clock))
    result = notify_end(adapter, topic, failed(), "aws")
    assert result.outcome is NotifyOutcome.FAILED
    assert result.error_code == "AuthorizationError"
    assert result.error is not None and result.error.startswith(f"Publish to {topic}: ")
    assert clock.sleeps == [] and moto.drain(queue) == []


def test_throttling_past_the_retries_is_a_failed_result_after_2_4_8_seconds(
    moto: Moto, fresh_client: Any, clock: VirtualClock
) -> None:
    topic = moto.topic()
    queue = moto.queue(topic, raw=True)
    seen = inject(fresh_client, [(400, "Throttling", "Rate exceeded")] * 4)
    result = notify_end(SnsAdapter(fresh_client, RetryPolicy(clock)), topic, failed(), "aws")
    assert result.outcome is NotifyOutcome.FAILED
    assert result.error_code == "Throttling"
    assert result.error == (
        f"Publish to {topic} failed after 4 attempts (3 retries over 14 s): "
        "Throttling: Rate exceeded"
    )
    assert len(seen) == 4 and clock.sleeps == [2.0, 4.0, 8.0]
    assert moto.drain(queue) == []


def test_throttling_within_the_retries_delivers_exactly_once(
    moto: Moto, fresh_client: Any, clock: VirtualClock
) -> None:
    topic = moto.topic()
    queue = moto.queue(topic, raw=True)
    inject(fresh_client, [(400, "Throttling", "Rate exceeded")] * 2)
    result = notify_end(SnsAdapter(fresh_client, RetryPolicy(clock)), topic, failed(), "aws")
    assert result.outcome is NotifyOutcome.SENT
    assert clock.sleeps == [2.0, 4.0]
    assert len(moto.drain(queue)) == 1


def test_no_topic_means_no_sns_call_at_all(moto: Moto, fresh_client: Any) -> None:
    seen = inject(fresh_client, [])
    adapter = SnsAdapter(fresh_client, RetryPolicy(VirtualClock()))
    result = notify_end(adapter, None, failed(), "aws")
    assert result.outcome is NotifyOutcome.SKIPPED and seen == []


# --- Properties 23-25 through SNS and SQS ----------------------------------------------------


@pytest.fixture(scope="module")
def raw_queue(moto: Moto) -> tuple[str, str]:
    topic = moto.topic()
    return topic, moto.queue(topic, raw=True)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    record=st.sampled_from([s for s in ExecutionStatus if s.terminal]).flatmap(execution_records)
)
def test_properties_23_to_25_every_ended_execution_arrives_complete(
    moto: Moto, raw_queue: tuple[str, str], record: ExecutionRecord
) -> None:
    topic, queue = raw_queue
    adapter = SnsAdapter(moto.sns, RetryPolicy(VirtualClock()))
    result = notify_end(adapter, topic, record, "aws")
    assert result.outcome is NotifyOutcome.SENT  # P23 (and P24: failures are sent too)
    (got,) = moto.drain(queue)
    msg = json.loads(got["Body"])
    # P25: the fields a subscriber needs, with the record's values
    assert msg["ExecutionId"] == record.ExecutionId
    assert msg["PlanId"] == record.PlanId
    assert msg["Status"] == record.Status.value
    assert msg["Duration"] == round(record.Duration or 0, 3)
    assert msg["ServerCount"] == record.ServerCount
    assert {name: value for name, (_, value) in attributes_of(got).items()} == {
        "PlanId": record.PlanId,
        "Status": record.Status.value,
        "ExecutionType": record.ExecutionType,
        "Event": "EXECUTION_ENDED",
        "Environment": "aws",
    }
    if record.Status is ExecutionStatus.COMPLETED:
        assert "Errors" not in msg
    else:  # P24: the failed servers are named, with their errors
        failed_ids = [
            s.ServerId
            for w in record.WaveStatus
            for s in w.ServerResults
            if s.Status is ServerStatus.FAILED
        ]
        assert msg["AffectedServerIds"][: len(failed_ids)] == failed_ids
        assert [e["Message"] for e in msg["Errors"]] == [e.Message for e in record.Errors]
