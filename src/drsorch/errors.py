"""drsorch's one exception tree.

Adapters translate botocore errors into these (``raise ... from``), so the engine and the
CLI never catch a vendor exception::

    DrsorchError
    ├── PlanError                  a plan file is unreadable or invalid (exit 2)
    ├── RefusedError               a request the CLI refuses, e.g. RECOVERY unconfirmed (exit 2)
    │   ├── LeaseHeldError             another engine drives that execution (resume refused)
    │   └── LeaseLostError             another engine took this one's execution over
    ├── ScenarioError              a simulator scenario file is unreadable or invalid (exit 2)
    ├── StoreError                 the history store failed
    │   └── StoreDamagedError          a store file or record is damaged (exit 2: not our bug)
    └── AwsError                   an AWS call failed; .operation, .server_id, .job_id
        ├── RetryableError         worth another try (the retry policy decides)
        │   ├── ThrottledError         429 / ThrottlingException; .retry_after seconds or None
        │   ├── ServiceError           5xx / InternalServerException; .retry_after
        │   └── ConnectionFailedError  reset, timeout, endpoint unreachable
        ├── OutcomeUnknownError    a non-idempotent call may or may not have happened
        ├── RetriesExhaustedError  the policy gave up; .attempts, .last_error
        ├── NotFoundError          a server, job or instance does not exist
        ├── RequestInvalidError    ValidationException and friends
        ├── AccessDeniedError      IAM said no; names the role ARN when there is one
        ├── ConflictError          409, e.g. a server already in an active job
        ├── QuotaExceededError     402 ServiceQuotaExceededException
        ├── CredentialsError       expired or missing credentials
        └── MalformedResponseError the service answered something we cannot read
"""

from __future__ import annotations


class DrsorchError(Exception):
    """Base of every error drsorch raises on purpose."""


class PlanError(DrsorchError):
    """A plan could not be read or is invalid; ``problems`` lists every finding."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class RefusedError(DrsorchError):
    """A request the tool refuses to carry out as given."""


class LeaseHeldError(RefusedError):
    """Another engine holds the lease on the execution (design §5: one owner per execution).

    ``holder`` names it (``user@host pid N``), ``expires_at`` is when its lease runs out
    (epoch seconds) and ``expired`` whether it already has."""

    def __init__(self, message: str, *, holder: str, expires_at: float, expired: bool) -> None:
        super().__init__(message)
        self.holder = holder
        self.expires_at = expires_at
        self.expired = expired


class LeaseLostError(RefusedError):
    """This engine no longer holds its execution's lease: another engine took it over, so
    this one must stop at once, without launching or saving anything more."""


class ScenarioError(DrsorchError):
    """A simulator scenario file could not be read or is invalid."""


class StoreError(DrsorchError):
    """The execution-history store failed."""


class StoreDamagedError(StoreError):
    """A store file, or one record in it, cannot be read: damage on disk, not a bug of ours."""


class AwsError(DrsorchError):
    """An AWS call failed."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        server_id: str | None = None,
        job_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.server_id = server_id
        self.job_id = job_id
        self.code = code


class RetryableError(AwsError):
    """A transient failure: throttling, 5xx, a dropped connection."""

    retry_after: float | None = None


class ThrottledError(RetryableError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServiceError(RetryableError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ConnectionFailedError(RetryableError):
    pass


class OutcomeUnknownError(AwsError):
    """A non-idempotent call failed in a way that leaves its effect unknown."""


class RetriesExhaustedError(AwsError):
    def __init__(self, message: str, *, attempts: int, last_error: Exception, **kw: object):
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.attempts = attempts
        self.last_error = last_error


class NotFoundError(AwsError):
    pass


class RequestInvalidError(AwsError):
    pass


class AccessDeniedError(AwsError):
    pass


class ConflictError(AwsError):
    pass


class QuotaExceededError(AwsError):
    pass


class CredentialsError(AwsError):
    pass


class MalformedResponseError(AwsError):
    pass
