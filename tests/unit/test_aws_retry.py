"""RetryPolicy and next_delay: 3 retries after 2/4/8 s, through the injected clock only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from drsorch.aws import RetryDecision, RetryPolicy, next_delay
from drsorch.clock import VirtualClock
from drsorch.errors import (
    AwsError,
    ConnectionFailedError,
    NotFoundError,
    RetriesExhaustedError,
    ServiceError,
    ThrottledError,
)

pytestmark = pytest.mark.unit


def throttling(message: str = "Rate exceeded", retry_after: str | None = None) -> ClientError:
    response: dict[str, object] = {
        "Error": {"Code": "ThrottlingException", "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 429, "HTTPHeaders": {}},
    }
    if retry_after is not None:
        response["retryAfterSeconds"] = retry_after
    return ClientError(response, "DescribeJobs")  # type: ignore[arg-type]


def failing(errors: list[Exception], result: str = "ok") -> Callable[[], str]:
    queue = list(errors)

    def fn() -> str:
        if queue:
            raise queue.pop(0)
        return result

    return fn


def test_next_delay_is_2_4_8_then_stop() -> None:
    err = ThrottledError("t")
    assert [next_delay(a, err) for a in (1, 2, 3, 4)] == [
        RetryDecision(True, 2.0),
        RetryDecision(True, 4.0),
        RetryDecision(True, 8.0),
        RetryDecision(False),
    ]


def test_next_delay_takes_the_longer_retry_after() -> None:
    assert next_delay(1, ThrottledError("t", retry_after=7)).delay == 7.0
    assert next_delay(3, ThrottledError("t", retry_after=7)).delay == 8.0
    assert next_delay(1, ServiceError("t", retry_after=1)).delay == 2.0


def test_next_delay_caps_an_absurd_retry_after() -> None:
    assert next_delay(1, ThrottledError("t", retry_after=86_400)).delay == 300.0


def test_next_delay_never_retries_a_permanent_error() -> None:
    assert next_delay(1, NotFoundError("n")) == RetryDecision(False)
    assert next_delay(1, ValueError("v")) == RetryDecision(False)


def test_success_first_time_never_sleeps() -> None:
    clock = VirtualClock()
    assert RetryPolicy(clock).call(lambda: 42, operation="X") == 42
    assert clock.sleeps == []


def test_throttles_then_success_sleeps_exactly_the_back_off() -> None:
    clock = VirtualClock()
    fn = failing([throttling(), throttling()])
    assert RetryPolicy(clock).call(fn, operation="DescribeJobs") == "ok"
    assert clock.sleeps == [2.0, 4.0]


def test_exhaustion_message_says_operation_attempts_and_last_error() -> None:
    """Req 9.5: a clear message once the retries are spent."""
    clock = VirtualClock()
    fn = failing([throttling()] * 4)
    with pytest.raises(RetriesExhaustedError) as info:
        RetryPolicy(clock).call(fn, operation="DescribeJobs")
    err = info.value
    assert str(err) == (
        "DescribeJobs failed after 4 attempts (3 retries over 14 s): "
        "ThrottlingException: Rate exceeded"
    )
    assert err.attempts == 4
    assert err.operation == "DescribeJobs"
    assert isinstance(err.last_error, ThrottledError)
    assert isinstance(err.__cause__, ClientError)
    assert clock.sleeps == [2.0, 4.0, 8.0]


def test_exhaustion_names_the_server() -> None:
    clock = VirtualClock()
    fn = failing([ReadTimeoutError(endpoint_url="https://drs")] * 4)
    with pytest.raises(RetriesExhaustedError, match=r"^StartRecovery for s-1 failed after 4"):
        RetryPolicy(clock).call(fn, operation="StartRecovery", server_id="s-1")


def test_permanent_error_raises_at_once() -> None:
    clock = VirtualClock()
    not_found = ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "DescribeJobLogItems"
    )
    with pytest.raises(NotFoundError) as info:
        RetryPolicy(clock).call(failing([not_found]), operation="DescribeJobLogItems")
    assert info.value.__cause__ is not_found
    assert clock.sleeps == []


def test_on_retry_is_told_before_each_sleep() -> None:
    seen: list[tuple[str, int, float, str]] = []
    policy = RetryPolicy(
        VirtualClock(), on_retry=lambda op, n, d, e: seen.append((op, n, d, type(e).__name__))
    )
    policy.call(failing([throttling(retry_after="5"), ConnectionResetError()]), operation="Op")
    assert seen == [("Op", 1, 5.0, "ThrottledError"), ("Op", 2, 4.0, "ConnectionFailedError")]


def test_reconcile_can_end_the_call_without_another_try() -> None:
    clock = VirtualClock()
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        raise ReadTimeoutError(endpoint_url="https://drs")

    found: list[AwsError] = []

    def reconcile(err: AwsError) -> str | None:
        found.append(err)
        return "adopted"

    assert RetryPolicy(clock).call(fn, operation="X", reconcile=reconcile) == "adopted"
    assert len(calls) == 1 and isinstance(found[0], ConnectionFailedError)
    assert clock.sleeps == []


def test_zero_retries_means_one_attempt() -> None:
    clock = VirtualClock()
    with pytest.raises(RetriesExhaustedError, match=r"after 1 attempt \(0 retries over 0 s\)"):
        RetryPolicy(clock, retries=0).call(failing([throttling()]), operation="X")
    assert clock.sleeps == []


def test_negative_retries_rejected() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(VirtualClock(), retries=-1)
