"""SnsAdapter over a real boto3 client, answered at the wire (botocore's ``before-send``).

Every request goes through real query-protocol serialization and every answer through
real XML parsing and botocore's error classes; no socket is ever opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from drsorch.aws import RetryPolicy, SnsAdapter, TopicRef, client_config, sns_client
from drsorch.aws.sns import MAX_MESSAGE_BYTES, publish_size
from drsorch.clock import VirtualClock
from drsorch.errors import (
    AccessDeniedError,
    MalformedResponseError,
    NotFoundError,
    RequestInvalidError,
    RetriesExhaustedError,
)

pytestmark = pytest.mark.unit

TOPIC = "arn:aws:sns:us-east-1:111122223333:dr-events"
NS = "http://sns.amazonaws.com/doc/2010-03-31/"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def ok(message_id: str = "msg-1") -> tuple[int, bytes]:
    return 200, (
        f'<PublishResponse xmlns="{NS}"><PublishResult><MessageId>{message_id}</MessageId>'
        "</PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
        "</PublishResponse>"
    ).encode()


def fault(status: int, code: str, message: str = "") -> tuple[int, bytes]:
    kind = "Receiver" if status >= 500 else "Sender"
    return status, (
        f'<ErrorResponse xmlns="{NS}"><Error><Type>{kind}</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>r-1</RequestId>"
        "</ErrorResponse>"
    ).encode()


@dataclass
class SnsWire:
    """Answers Publish with the queued replies (then success); records every request."""

    replies: list[tuple[int, bytes] | Exception] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)

    def on_send(self, request: Any, **_: Any) -> AWSResponse:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        params = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        assert params["Action"] == "Publish", params
        self.requests.append(params)
        reply = self.replies.pop(0) if self.replies else ok(f"msg-{len(self.requests)}")
        if isinstance(reply, Exception):
            raise reply
        status, payload = reply
        return AWSResponse(request.url, status, {}, _Raw(payload))


_CLIENT: Any = None
_CURRENT: list[SnsWire] = []


def _client() -> Any:
    """One real client per process (building one costs ~0.2 s), routed to the current wire."""
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = boto3.client(
            "sns",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=client_config(),
        )
        _CLIENT.meta.events.register("before-send.sns", lambda **kw: _CURRENT[0].on_send(**kw))
    return _CLIENT


@pytest.fixture
def wire() -> SnsWire:
    w = SnsWire()
    _CURRENT[:] = [w]
    return w


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def sns(wire: SnsWire, clock: VirtualClock) -> SnsAdapter:
    return SnsAdapter(_client(), RetryPolicy(clock))


ATTRS = {"PlanId": "three-tier-app", "Status": "FAILED", "ExecutionType": "DRILL"}


def test_publish_sends_subject_message_and_string_attributes(
    wire: SnsWire, sns: SnsAdapter
) -> None:
    assert sns.publish(TOPIC, "drsorch DRILL p FAILED", '{"a": 1}', ATTRS) == "msg-1"
    (req,) = wire.requests
    assert req["TopicArn"] == TOPIC
    assert req["Subject"] == "drsorch DRILL p FAILED"
    assert req["Message"] == '{"a": 1}'
    sent = {
        req[f"MessageAttributes.entry.{i}.Name"]: (
            req[f"MessageAttributes.entry.{i}.Value.DataType"],
            req[f"MessageAttributes.entry.{i}.Value.StringValue"],
        )
        for i in (1, 2, 3)
    }
    assert sent == {name: ("String", value) for name, value in ATTRS.items()}
    assert "MessageGroupId" not in req and "MessageDeduplicationId" not in req


def test_fifo_ids_are_sent_when_given(wire: SnsWire, sns: SnsAdapter) -> None:
    sns.publish(TOPIC + ".fifo", "s", "m", ATTRS, group_id="plan", dedup_id="e-1:END:FAILED")
    (req,) = wire.requests
    assert req["MessageGroupId"] == "plan"
    assert req["MessageDeduplicationId"] == "e-1:END:FAILED"


@pytest.mark.parametrize(
    ("reply", "error_type", "code"),
    [
        (fault(404, "NotFound", "Topic does not exist"), NotFoundError, "NotFound"),
        (
            fault(403, "AuthorizationError", "User: bob is not authorized to perform: SNS:Publish"),
            AccessDeniedError,
            "AuthorizationError",
        ),
        (fault(400, "AccessDenied", "denied"), AccessDeniedError, "AccessDenied"),
        (
            fault(400, "InvalidParameter", "Invalid parameter: Message too long"),
            RequestInvalidError,
            "InvalidParameter",
        ),
        (fault(400, "ParameterValueInvalid", "bad"), RequestInvalidError, "ParameterValueInvalid"),
        (fault(400, "KMSDisabled", "key disabled"), RequestInvalidError, "KMSDisabled"),
        (fault(400, "KMSAccessDenied", "no kms"), AccessDeniedError, "KMSAccessDenied"),
    ],
)
def test_errors_fail_at_once_as_drsorch_errors_naming_the_topic(
    wire: SnsWire,
    sns: SnsAdapter,
    clock: VirtualClock,
    reply: tuple[int, bytes],
    error_type: type[Exception],
    code: str,
) -> None:
    wire.replies = [reply]
    with pytest.raises(error_type) as info:
        sns.publish(TOPIC, "s", "m", ATTRS)
    err = info.value
    assert TOPIC in str(err) and code in str(err)
    assert getattr(err, "code", None) == code
    assert getattr(err, "operation", None) == "Publish"
    assert len(wire.requests) == 1 and clock.sleeps == []  # not retried


@pytest.mark.parametrize(
    "transient",
    [
        fault(400, "Throttling", "Rate exceeded"),
        fault(429, "Throttled", "Rate exceeded"),
        fault(400, "KMSThrottling", "KMS rate exceeded"),
        fault(500, "InternalError", "Internal failure"),
        ConnectionClosedError(endpoint_url="https://sns.us-east-1.amazonaws.com/"),
    ],
    ids=["Throttling", "Throttled-429", "KMSThrottling", "InternalError", "reset"],
)
def test_transient_failures_are_retried_after_2_4_8_seconds_of_the_clock(
    wire: SnsWire, sns: SnsAdapter, clock: VirtualClock, transient: Any
) -> None:
    wire.replies = [transient, transient, transient]
    assert sns.publish(TOPIC, "s", "m", ATTRS) == "msg-4"
    assert len(wire.requests) == 4
    assert clock.sleeps == [2.0, 4.0, 8.0]


def test_throttling_past_the_retries_gives_up_naming_the_topic(
    wire: SnsWire, sns: SnsAdapter, clock: VirtualClock
) -> None:
    wire.replies = [fault(400, "Throttling", "Rate exceeded")] * 4
    with pytest.raises(RetriesExhaustedError) as info:
        sns.publish(TOPIC, "s", "m", ATTRS)
    assert str(info.value) == (
        f"Publish to {TOPIC} failed after 4 attempts (3 retries over 14 s): "
        "Throttling: Rate exceeded"
    )
    assert info.value.code == "Throttling"
    assert info.value.operation == "Publish"
    assert clock.sleeps == [2.0, 4.0, 8.0]


def test_an_answer_without_message_id_is_malformed(wire: SnsWire, sns: SnsAdapter) -> None:
    wire.replies = [
        (200, f'<PublishResponse xmlns="{NS}"><PublishResult/></PublishResponse>'.encode())
    ]
    with pytest.raises(MalformedResponseError, match="no MessageId"):
        sns.publish(TOPIC, "s", "m", ATTRS)


@pytest.mark.parametrize(
    ("subject", "match"),
    [
        ("x" * 100, "1 to 99 characters"),
        ("", "1 to 99 characters"),
        ("two\nlines", "printable ASCII"),
        ("caf\u00e9", "printable ASCII"),
    ],
)
def test_a_subject_sns_would_refuse_is_never_sent(
    wire: SnsWire, sns: SnsAdapter, subject: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        sns.publish(TOPIC, subject, "m", ATTRS)
    assert wire.requests == []


def test_the_size_limit_counts_utf8_bytes_and_attributes(wire: SnsWire, sns: SnsAdapter) -> None:
    attrs = {"PlanId": "p"}
    overhead = len("PlanId") + len("String") + 1
    pairs, odd = divmod(MAX_MESSAGE_BYTES - overhead, 2)
    fits = "é" * pairs + "x" * odd  # é is 2 bytes of UTF-8: exactly the limit, 1 char in 2
    assert publish_size(fits, attrs) == MAX_MESSAGE_BYTES
    sns.publish(TOPIC, "s", fits, attrs)
    with pytest.raises(ValueError, match="262144"):
        sns.publish(TOPIC, "s", fits + "x", attrs)
    assert len(wire.requests) == 1


def test_topic_arns_are_parsed_and_bad_ones_refused() -> None:
    ref = TopicRef.parse("arn:aws-us-gov:sns:us-gov-west-1:111122223333:alerts.fifo")
    assert (ref.partition, ref.region, ref.account_id, ref.name, ref.fifo) == (
        "aws-us-gov",
        "us-gov-west-1",
        "111122223333",
        "alerts.fifo",
        True,
    )
    assert not TopicRef.parse(TOPIC).fifo
    for bad in (
        "arn:aws:sqs:us-east-1:111122223333:q",
        "arn:aws:sns:us-east-1:1111:t",
        "arn:aws:sns::111122223333:t",
        "dr-events",
    ):
        with pytest.raises(ValueError, match="not an SNS topic ARN"):
            TopicRef.parse(bad)


def test_the_client_is_built_in_the_topics_region_without_botocore_retries() -> None:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    client = sns_client(session, "arn:aws:sns:eu-west-1:111122223333:dr-events")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["total_max_attempts"] == 1
