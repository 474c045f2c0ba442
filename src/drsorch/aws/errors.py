"""Translation of botocore failures into drsorch's exception tree.

Every adapter call ends here when boto3 raises: :func:`map_error` picks the *most specific*
:mod:`drsorch.errors` class for the failure and writes a message that names the operation
and the server / job / role involved, e.g.
``StartRecovery for s-0123456789abcdef0: ThrottlingException: Rate exceeded``.
Callers ``raise map_error(exc, ...) from exc`` so the botocore error stays in ``__cause__``.

The table (aws-facts §5)::

    ThrottlingException, Throttling, RequestLimitExceeded, HTTP 429     -> ThrottledError
    InternalServerException, any HTTP 5xx                                -> ServiceError
    connection closed / reset, read or connect timeout, no endpoint     -> ConnectionFailedError
    ResourceNotFoundException, InvalidInstanceID.NotFound/.Malformed    -> NotFoundError
    ValidationException, UninitializedAccountException, bad parameters  -> RequestInvalidError
    AccessDenied(Exception), UnauthorizedOperation, HTTP 403             -> AccessDeniedError
    ConflictException, HTTP 409                                          -> ConflictError
    ServiceQuotaExceededException, HTTP 402                              -> QuotaExceededError
    expired / unrecognized / missing credentials                         -> CredentialsError
    an unreadable response                                               -> MalformedResponseError
    anything else                                                        -> AwsError (with .code)
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from botocore import exceptions as bce
from botocore.parsers import ResponseParserError

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
    ServiceError,
    ThrottledError,
)

__all__ = ["describe_target", "map_error"]

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
SERVICE_CODES = frozenset(
    {"InternalServerException", "InternalError", "InternalFailure", "ServiceUnavailable"}
)
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "InvalidInstanceID.NotFound",
        "InvalidInstanceID.Malformed",
    }
)
ACCESS_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
CREDENTIAL_CODES = frozenset(
    {
        "ExpiredTokenException",
        "ExpiredToken",
        "RequestExpired",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AuthFailure",  # EC2: credentials it does not recognise
    }
)
VALIDATION_CODES = frozenset(
    {"ValidationException", "ValidationError", "InvalidParameterValue", "MissingParameter"}
)

#: Errors raised while botocore parses a response it cannot read (it does not type-check
#: rest-json bodies: a list where an object belongs raises AttributeError mid-parse).
PARSE_FAILURES: tuple[type[Exception], ...] = (
    ResponseParserError,
    AttributeError,
    TypeError,
    KeyError,
    ValueError,
)


def describe_target(
    operation: str,
    *,
    server_id: str | None = None,
    job_id: str | None = None,
    server_ids: Sequence[str] = (),
) -> str:
    """``StartRecovery for s-1`` / ``DescribeJobLogItems for job drsjob-1``: a message prefix."""
    parts: list[str] = []
    if server_id:
        parts.append(server_id)
    elif server_ids:
        shown = ", ".join(server_ids[:5])
        more = len(server_ids) - 5
        parts.append(shown + (f" and {more} more" if more > 0 else ""))
    if job_id:
        parts.append(f"job {job_id}")
    return f"{operation} for {' '.join(parts)}" if parts else operation


def map_error(
    exc: Exception,
    *,
    operation: str,
    server_id: str | None = None,
    job_id: str | None = None,
    role_arn: str | None = None,
    server_ids: Sequence[str] = (),
) -> AwsError:
    """The drsorch error for ``exc`` raised by a boto3 call of ``operation``.

    The result's ``__cause__`` is ``exc`` already, so it keeps the botocore error even when
    it is stored rather than raised (``RetriesExhaustedError.last_error``).
    """
    if isinstance(exc, AwsError):
        return exc
    mapped = _map(exc, operation, server_id, job_id, role_arn, server_ids)
    mapped.__cause__ = exc
    return mapped


def _map(
    exc: Exception,
    operation: str,
    server_id: str | None,
    job_id: str | None,
    role_arn: str | None,
    server_ids: Sequence[str],
) -> AwsError:
    where = describe_target(operation, server_id=server_id, job_id=job_id, server_ids=server_ids)
    kw: dict[str, Any] = {"operation": operation, "server_id": server_id, "job_id": job_id}
    if isinstance(exc, bce.ClientError):
        return _map_client_error(exc, where=where, role_arn=role_arn, kw=kw)
    name = type(exc).__name__
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return CredentialsError(f"{where}: no AWS credentials found ({exc})", **kw)
    if isinstance(exc, bce.CredentialRetrievalError | bce.TokenRetrievalError):
        return CredentialsError(f"{where}: could not obtain credentials: {exc}", **kw)
    if isinstance(exc, bce.HTTPClientError | bce.ConnectionError | builtins.ConnectionError):
        # HTTPClientError covers ConnectionClosedError and ReadTimeoutError;
        # botocore's ConnectionError covers EndpointConnectionError and ConnectTimeoutError.
        return ConnectionFailedError(f"{where}: {name}: {exc}", **kw)
    if isinstance(exc, bce.ParamValidationError | bce.NoRegionError):
        return RequestInvalidError(f"{where}: invalid request: {exc}", **kw)
    if isinstance(exc, bce.BotoCoreError):
        return AwsError(f"{where}: {name}: {exc}", code=name, **kw)
    if isinstance(exc, PARSE_FAILURES):
        return MalformedResponseError(f"{where}: unreadable response ({name}: {exc})", **kw)
    return AwsError(f"{where}: {name}: {exc}", code=name, **kw)


def _map_client_error(
    exc: bce.ClientError, *, where: str, role_arn: str | None, kw: dict[str, Any]
) -> AwsError:
    response: Mapping[str, Any] = exc.response if isinstance(exc.response, Mapping) else {}
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or response.get("message") or "").strip()
    meta = response.get("ResponseMetadata") or {}
    status = meta.get("HTTPStatusCode")
    status = status if isinstance(status, int) else 0
    detail = f"{code or f'HTTP {status}'}: {message}" if message else code or f"HTTP {status}"
    text = f"{where}: {detail}"
    kw = {**kw, "code": code or None}

    if code in THROTTLING_CODES or status == 429:
        return ThrottledError(text, retry_after=_retry_after(response), **kw)
    if code == "UninitializedAccountException":
        return RequestInvalidError(
            f"{where}: DRS is not initialized in this account/region "
            f"(initialize Elastic Disaster Recovery first): {detail}",
            **kw,
        )
    if code in NOT_FOUND_CODES:
        return NotFoundError(text + _resource(response), **kw)
    if code in VALIDATION_CODES:
        return RequestInvalidError(text + _field_list(response), **kw)
    if code in CREDENTIAL_CODES:  # before the 403 rule: a bad token is not an IAM denial
        return CredentialsError(text, **kw)
    if code in ACCESS_CODES or status == 403:
        role = f" (role {role_arn})" if role_arn else ""
        return AccessDeniedError(f"{where}{role}: {detail}", **kw)
    if code == "ConflictException" or status == 409:
        return ConflictError(text + _resource(response), **kw)
    if code == "ServiceQuotaExceededException" or status == 402:
        quota = response.get("quotaCode")
        return QuotaExceededError(text + (f" (quota {quota})" if quota else ""), **kw)
    if code in SERVICE_CODES or status >= 500:
        return ServiceError(text, retry_after=_retry_after(response), **kw)
    if status == 404 and not code:
        return NotFoundError(text, **kw)
    return AwsError(text, **kw)


def _retry_after(response: Mapping[str, Any]) -> float | None:
    """Seconds the service asked us to wait: ``retryAfterSeconds`` or ``Retry-After``.

    DRS models ``retryAfterSeconds`` from the ``Retry-After`` header as a string for
    throttling and an integer for 500s (aws-facts §5); botocore ignores both.
    """
    candidates: list[object] = [response.get("retryAfterSeconds")]
    headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    if isinstance(headers, Mapping):
        candidates.append(headers.get("retry-after") or headers.get("Retry-After"))
    for value in candidates:
        if value is None or isinstance(value, bool):
            continue
        try:
            seconds = float(str(value).strip())
        except ValueError:
            continue  # an HTTP-date Retry-After: rare from AWS; fall back to our back-off
        if seconds >= 0 and seconds == seconds and seconds != float("inf"):
            return seconds
    return None


def _resource(response: Mapping[str, Any]) -> str:
    rid = response.get("resourceId")
    rtype = response.get("resourceType")
    if isinstance(rid, str) and rid:
        return f" (resource {rtype + ' ' if isinstance(rtype, str) and rtype else ''}{rid})"
    return ""


def _field_list(response: Mapping[str, Any]) -> str:
    fields = response.get("fieldList")
    if not isinstance(fields, list) or not fields:
        return ""
    parts = []
    for f in fields:
        if isinstance(f, Mapping):
            parts.append(f"{f.get('name', '?')}: {f.get('message', '')}".strip())
    return f" [{'; '.join(parts)}]" if parts else ""
