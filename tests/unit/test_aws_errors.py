"""map_error: every botocore failure becomes the most specific drsorch error."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError
from tests.utils.aws_wire import Wire, error, server_error, server_id, throttle

from drsorch.aws import DrsAdapter, RetryPolicy, map_error
from drsorch.errors import (
    AccessDeniedError,
    AwsError,
    ConflictError,
    ConnectionFailedError,
    CredentialsError,
    MalformedResponseError,
    NotFoundError,
    QuotaExceededError,
    RequestInvalidError,
    RetriesExhaustedError,
    ServiceError,
    ThrottledError,
)

pytestmark = pytest.mark.unit

SID = "s-0123456789abcdef0"


def client_error(code: str, status: int, message: str = "boom", **top: Any) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        **top,
    }
    return ClientError(response, "Op")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, ThrottledError),
        ("Throttling", 400, ThrottledError),
        ("RequestLimitExceeded", 503, ThrottledError),
        ("", 429, ThrottledError),
        ("InternalServerException", 500, ServiceError),
        ("ServiceUnavailable", 503, ServiceError),
        ("SomethingOdd", 502, ServiceError),
        ("ResourceNotFoundException", 404, NotFoundError),
        ("InvalidInstanceID.NotFound", 400, NotFoundError),
        ("InvalidInstanceID.Malformed", 400, NotFoundError),
        ("ValidationException", 400, RequestInvalidError),
        ("UninitializedAccountException", 400, RequestInvalidError),
        ("AccessDeniedException", 403, AccessDeniedError),
        ("AccessDenied", 403, AccessDeniedError),
        ("UnauthorizedOperation", 403, AccessDeniedError),
        ("ConflictException", 409, ConflictError),
        ("ServiceQuotaExceededException", 402, QuotaExceededError),
        ("ExpiredTokenException", 400, CredentialsError),
        ("ExpiredToken", 400, CredentialsError),
        ("RequestExpired", 400, CredentialsError),
        ("UnrecognizedClientException", 403, CredentialsError),
        ("InvalidClientTokenId", 403, CredentialsError),
    ],
)
def test_client_error_codes_map_to_the_most_specific_error(
    code: str, status: int, expected: type[AwsError]
) -> None:
    err = map_error(client_error(code, status), operation="StartRecovery", server_id=SID)
    assert type(err) is expected
    assert err.operation == "StartRecovery"
    assert err.server_id == SID
    assert str(err).startswith(f"StartRecovery for {SID}: ")


def test_credentials_codes_beat_the_403_access_rule() -> None:
    # UnrecognizedClientException arrives as 403 but is a credentials problem, not IAM.
    err = map_error(client_error("UnrecognizedClientException", 403), operation="DescribeJobs")
    assert isinstance(err, CredentialsError)


def test_unknown_client_error_keeps_its_code() -> None:
    err = map_error(client_error("WeirdException", 400, "odd"), operation="DescribeJobs")
    assert type(err) is AwsError
    assert err.code == "WeirdException"
    assert str(err) == "DescribeJobs: WeirdException: odd"


def test_message_names_operation_server_and_error() -> None:
    err = map_error(
        client_error("ThrottlingException", 429, "Rate exceeded"),
        operation="StartRecovery",
        server_id=SID,
    )
    assert str(err) == f"StartRecovery for {SID}: ThrottlingException: Rate exceeded"


def test_message_names_the_job() -> None:
    err = map_error(
        client_error("ResourceNotFoundException", 404, "no such job"),
        operation="DescribeJobLogItems",
        job_id="drsjob-0123456789abcdef0",
    )
    assert "DescribeJobLogItems for job drsjob-0123456789abcdef0" in str(err)
    assert err.job_id == "drsjob-0123456789abcdef0"


def test_retry_after_string_for_throttling_and_int_for_500() -> None:
    throttled = map_error(
        client_error("ThrottlingException", 429, retryAfterSeconds="7"), operation="X"
    )
    failed = map_error(
        client_error("InternalServerException", 500, retryAfterSeconds=3), operation="X"
    )
    assert isinstance(throttled, ThrottledError) and throttled.retry_after == 7.0
    assert isinstance(failed, ServiceError) and failed.retry_after == 3.0


def test_retry_after_header_is_read_when_no_modeled_field() -> None:
    exc = client_error("Throttling", 400)
    exc.response["ResponseMetadata"]["HTTPHeaders"] = {"retry-after": "12"}
    err = map_error(exc, operation="X")
    assert isinstance(err, ThrottledError) and err.retry_after == 12.0


def test_unparseable_retry_after_is_ignored() -> None:
    err = map_error(
        client_error("ThrottlingException", 429, retryAfterSeconds="Wed, 21 Oct 2015"),
        operation="X",
    )
    assert isinstance(err, ThrottledError) and err.retry_after is None


def test_validation_lists_the_fields() -> None:
    exc = client_error(
        "ValidationException",
        400,
        "Invalid request",
        fieldList=[{"name": "sourceServerID", "message": f"{SID} not found"}],
    )
    err = map_error(exc, operation="StartRecovery", server_id=SID)
    assert isinstance(err, RequestInvalidError)
    assert f"sourceServerID: {SID} not found" in str(err)


def test_access_denied_names_the_role() -> None:
    role = "arn:aws:iam::111122223333:role/DrsOrchestratorRole"
    err = map_error(client_error("AccessDenied", 403), operation="AssumeRole", role_arn=role)
    assert isinstance(err, AccessDeniedError)
    assert role in str(err)


def test_quota_names_the_quota_code() -> None:
    exc = client_error("ServiceQuotaExceededException", 402, "too many", quotaCode="L-D88FAC3A")
    assert "L-D88FAC3A" in str(map_error(exc, operation="StartRecovery"))


def test_uninitialized_account_says_so() -> None:
    err = map_error(
        client_error("UninitializedAccountException", 400), operation="DescribeSourceServers"
    )
    assert "DRS is not initialized in this account/region" in str(err)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionClosedError(endpoint_url="https://drs"),
        ReadTimeoutError(endpoint_url="https://drs"),
        ConnectTimeoutError(endpoint_url="https://drs"),
        EndpointConnectionError(endpoint_url="https://drs"),
        BotoConnectionError(error="reset"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_connection_failures(exc: Exception) -> None:
    err = map_error(exc, operation="DescribeJobs")
    assert isinstance(err, ConnectionFailedError)
    assert str(err).startswith("DescribeJobs: ")


def test_no_credentials() -> None:
    assert isinstance(map_error(NoCredentialsError(), operation="X"), CredentialsError)


def test_client_side_validation() -> None:
    err = map_error(ParamValidationError(report="bad"), operation="X")
    assert isinstance(err, RequestInvalidError)


@pytest.mark.parametrize(
    "exc", [ResponseParserError("bad xml"), AttributeError("'str' object has no attribute 'get'")]
)
def test_parse_failures_are_malformed_responses(exc: Exception) -> None:
    assert isinstance(map_error(exc, operation="DescribeJobs"), MalformedResponseError)


def test_our_own_errors_pass_through() -> None:
    mine = NotFoundError("x", operation="Y")
    assert map_error(mine, operation="Z") is mine


# --- the same mapping through real botocore parsing -------------------------------------


@pytest.fixture
def wired() -> tuple[Wire, DrsAdapter]:
    wire = Wire()
    drs, _ = wire.clients()
    return wire, DrsAdapter(drs, RetryPolicy(wire.clock, retries=0))


def test_real_throttling_response_is_parsed(wired: tuple[Wire, DrsAdapter]) -> None:
    wire, adapter = wired
    wire.fail("DescribeSourceServers", throttle(retry_after="7"))
    with pytest.raises(RetriesExhaustedError) as info:
        adapter.describe_source_servers([server_id(1)])
    last = info.value.last_error
    assert isinstance(last, ThrottledError)
    assert last.retry_after == 7.0
    assert last.code == "ThrottlingException"
    assert isinstance(last.__cause__, ClientError)


def test_real_500_carries_an_int_retry_after(wired: tuple[Wire, DrsAdapter]) -> None:
    wire, adapter = wired
    wire.fail("DescribeJobs", server_error(retry_after=3))
    with pytest.raises(RetriesExhaustedError) as info:
        adapter.describe_jobs(["drsjob-00000000000000001"])
    assert isinstance(info.value.last_error, ServiceError)
    assert info.value.last_error.retry_after == 3.0


def test_real_quota_and_conflict_responses(wired: tuple[Wire, DrsAdapter]) -> None:
    wire, adapter = wired
    wire.drs.add_server(server_id(1))
    wire.fail(
        "StartRecovery",
        error(402, "ServiceQuotaExceededException", "Too many jobs", quotaCode="L-D88FAC3A"),
        error(409, "ConflictException", "busy", resourceId=server_id(1)),
    )
    with pytest.raises(QuotaExceededError, match="L-D88FAC3A"):
        adapter.start_recovery([server_id(1)], is_drill=True, tags={})
    with pytest.raises(ConflictError, match=server_id(1)):
        adapter.start_recovery([server_id(1)], is_drill=True, tags={})
    assert len(wire.calls_to("StartRecovery")) == 2  # neither was retried
    assert wire.drs.jobs == []
