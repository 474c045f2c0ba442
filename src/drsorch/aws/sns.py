"""The SNS adapter: how the end of an execution reaches people (seed Req 8, design §2).

A thin adapter over a boto3 ``sns`` client, in the style of :mod:`drsorch.aws.drs`: one
operation (``Publish``), run through the engine's one
:class:`~drsorch.aws.retry.RetryPolicy` (throttling, 5xx and dropped connections retried
after 2 s, 4 s and 8 s on the injected clock), and every failure leaves as a
:mod:`drsorch.errors` error whose message names the topic ARN::

    Publish to arn:aws:sns:us-east-1:111122223333:dr-events: AuthorizationError: User ...

SNS's own error codes that the generic table of :mod:`drsorch.aws.errors` does not know
are mapped here first (aws-facts has no SNS section; the codes are botocore 1.44.8's
``sns/2010-03-31`` model)::

    NotFound, ResourceNotFound                          -> NotFoundError (no such topic)
    AuthorizationError, KMSAccessDenied, KMSOptInRequired -> AccessDeniedError
    InvalidParameter, ParameterValueInvalid             -> RequestInvalidError
    KMSDisabled, KMSInvalidState, KMSNotFound           -> RequestInvalidError (topic's key)
    KMSThrottling                                       -> ThrottledError (retried)
    Throttling, Throttled (429), InternalError (500)    -> the generic table (retried)

What SNS requires of a request, checked before it is sent (a violation is our bug, so it
raises ``ValueError`` rather than an AWS error): the Subject is printable ASCII without
line breaks and *less than* 100 characters (the model's words), and the message body plus
every attribute's name, type and value is at most 262,144 bytes of UTF-8 (the default
``MaximumMessageSize`` of a topic). Publishing is only possible to a topic in the client's
own region, so :func:`sns_client` builds the client in the region named by the ARN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from drsorch.aws.errors import map_error
from drsorch.aws.retry import RetryPolicy
from drsorch.aws.session import client_config
from drsorch.errors import (
    AccessDeniedError,
    AwsError,
    MalformedResponseError,
    NotFoundError,
    RequestInvalidError,
    ThrottledError,
)

if TYPE_CHECKING:  # pragma: no cover
    import boto3

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_MESSAGE_BYTES",
    "MAX_SUBJECT_CHARS",
    "PUBLISH",
    "SnsAdapter",
    "TopicRef",
    "publish_size",
    "sns_client",
]

PUBLISH = "Publish"
#: "Subjects must be ... less than 100 characters long" (botocore's sns model, Publish).
MAX_SUBJECT_CHARS = 99
#: Body plus attributes, in bytes: the default (and usual) MaximumMessageSize of a topic.
MAX_MESSAGE_BYTES = 262_144
#: SQS subscribers keep at most 10 message attributes; more would break raw delivery.
MAX_ATTRIBUTES = 10

_NOT_FOUND = frozenset({"NotFound", "ResourceNotFound"})
_DENIED = frozenset({"AuthorizationError", "KMSAccessDenied", "KMSOptInRequired"})
_INVALID = frozenset({"InvalidParameter", "ParameterValueInvalid"})
_KEY_UNUSABLE = frozenset({"KMSDisabled", "KMSInvalidState", "KMSNotFound"})
_THROTTLED = frozenset({"KMSThrottling"})


@dataclass(frozen=True)
class TopicRef:
    """The parts of a topic ARN: ``arn:<partition>:sns:<region>:<account>:<name>``."""

    arn: str
    partition: str
    region: str
    account_id: str
    name: str

    @property
    def fifo(self) -> bool:
        """FIFO topics need a MessageGroupId and (usually) a MessageDeduplicationId."""
        return self.name.endswith(".fifo")

    @classmethod
    def parse(cls, arn: str) -> TopicRef:
        """Split ``arn``; raises ``ValueError`` naming it when it is no SNS topic ARN."""
        parts = arn.split(":")
        if (
            len(parts) != 6
            or parts[0] != "arn"
            or not parts[1].startswith("aws")
            or parts[2] != "sns"
            or not parts[3]
            or not (len(parts[4]) == 12 and parts[4].isascii() and parts[4].isdigit())
            or not parts[5]
        ):
            raise ValueError(f"not an SNS topic ARN: {arn!r}")
        return cls(arn, parts[1], parts[3], parts[4], parts[5])


def sns_client(
    session: boto3.Session,
    topic_arn: str,
    *,
    config: Config | None = None,
    endpoint_url: str | None = None,
) -> Any:
    """A boto3 ``sns`` client of ``session`` in the topic's region, botocore retries off.

    The caller's session, not an assumed target-account role: the notification belongs to
    whoever runs the execution (issue 8.4)."""
    return session.client(
        "sns",
        region_name=TopicRef.parse(topic_arn).region,
        config=config or client_config(),
        endpoint_url=endpoint_url,
    )


def publish_size(message: str, attributes: Mapping[str, str]) -> int:
    """Bytes SNS counts against :data:`MAX_MESSAGE_BYTES`: the body and every attribute's
    name, data type (``String``) and value, all as UTF-8."""
    size = len(message.encode("utf-8", "replace"))
    for name, value in attributes.items():
        size += len(name.encode("utf-8", "replace")) + len(b"String")
        size += len(value.encode("utf-8", "replace"))
    return size


def _check_request(subject: str, message: str, attributes: Mapping[str, str]) -> None:
    if not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise ValueError(f"an SNS subject must have 1 to {MAX_SUBJECT_CHARS} characters")
    if not all(" " <= ch <= "~" for ch in subject):
        raise ValueError("an SNS subject must be printable ASCII on one line")
    if not message:
        raise ValueError("an SNS message must not be empty")
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} message attributes")
    for name, value in attributes.items():
        if not name or not value:
            raise ValueError("message attribute names and values must not be empty")
    size = publish_size(message, attributes)
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"an SNS message with its attributes is {size} bytes; at most "
            f"{MAX_MESSAGE_BYTES} are accepted"
        )


class SnsAdapter:
    """SNS operations drsorch uses, over a boto3 ``sns`` client."""

    def __init__(self, client: Any, retry: RetryPolicy) -> None:
        self._client = client
        self._retry = retry

    def publish(
        self,
        topic_arn: str,
        subject: str,
        message: str,
        attributes: Mapping[str, str],
        *,
        group_id: str | None = None,
        dedup_id: str | None = None,
    ) -> str:
        """Publish ``message`` to ``topic_arn``; the MessageId SNS gave it.

        ``attributes`` become String message attributes (for subscription filter
        policies). ``group_id`` / ``dedup_id`` are for FIFO topics only; SNS refuses them
        on a standard topic. Raises a :mod:`drsorch.errors` error naming the topic ARN, or
        ``ValueError`` when the request breaks SNS's rules before anything is sent.
        """
        _check_request(subject, message, attributes)
        params: dict[str, Any] = {
            "TopicArn": topic_arn,
            "Subject": subject,
            "Message": message,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        }
        if group_id is not None:
            params["MessageGroupId"] = group_id
        if dedup_id is not None:
            params["MessageDeduplicationId"] = dedup_id
        where = f"{PUBLISH} to {topic_arn}"

        def send() -> Any:
            try:
                return self._client.publish(**params)
            except ClientError as exc:
                raise _map_sns_error(exc, where) from exc

        try:
            # The label names the topic in every message, retries-exhausted included.
            response = self._retry.call(send, operation=where)
        except AwsError as err:
            err.operation = PUBLISH
            raise
        message_id = response.get("MessageId") if isinstance(response, Mapping) else None
        if not isinstance(message_id, str) or not message_id:
            raise MalformedResponseError(
                f"{where}: malformed response: no MessageId", operation=PUBLISH
            )
        return message_id


def _map_sns_error(exc: ClientError, where: str) -> AwsError:
    """The most specific drsorch error for an SNS error code, else the generic table's."""
    response = exc.response if isinstance(exc.response, Mapping) else {}
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    text = str(error.get("Message") or "").strip()
    detail = f"{where}: {code}: {text}" if text else f"{where}: {code}"
    kw: dict[str, Any] = {"operation": PUBLISH, "code": code or None}
    mapped: AwsError
    if code in _NOT_FOUND:
        mapped = NotFoundError(
            f"{detail} (no such topic in its account and region, or not visible to these "
            "credentials)",
            **kw,
        )
    elif code in _DENIED:
        mapped = AccessDeniedError(detail, **kw)
    elif code in _INVALID:
        mapped = RequestInvalidError(detail, **kw)
    elif code in _KEY_UNUSABLE:
        mapped = RequestInvalidError(f"{detail} (the topic's KMS key cannot be used)", **kw)
    elif code in _THROTTLED:
        mapped = ThrottledError(detail, **kw)
    else:
        mapped = map_error(exc, operation=where)
        mapped.operation = PUBLISH
        return mapped
    mapped.__cause__ = exc
    return mapped
