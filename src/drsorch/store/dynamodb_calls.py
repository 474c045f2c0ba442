"""The DynamoDB store's table: its URL, its calls, their retries and errors, its creation.

:class:`Table` is one table through one boto3 client. botocore's own retries are off
(:func:`~drsorch.aws.session.client_config`), so the count is ours: throttling
(ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded, a
transaction cancelled for throughput or a conflicting transaction), 5xx and lost
connections are retried 3 times after 2, 4 and 8 s on the injected clock (seed Property 29,
:func:`~drsorch.aws.retry.next_delay`), and so are the items a batch call leaves
unprocessed; then the call fails with a :class:`~drsorch.errors.StoreError` naming the
table and the operation (Req 9.5)::

    DynamoDB table history: TransactWriteItems failed after 4 attempts (3 retries over 14 s):
    ProvisionedThroughputExceededException: ...

What is the operator's to fix is bad input (exit 2): a table that does not exist
(:class:`MissingTableError`: ``table X does not exist; create it with drsorch store init``)
or has another schema, credentials missing, a call IAM refuses (naming the action).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore import exceptions as bce

from drsorch.aws.errors import map_error
from drsorch.aws.retry import next_delay
from drsorch.clock import Clock
from drsorch.errors import (
    AccessDeniedError,
    CredentialsError,
    DrsorchError,
    RetryableError,
    ServiceError,
    StoreError,
    ThrottledError,
)
from drsorch.store.base import StoreConfigError
from drsorch.store.dynamodb_layout import PK, SK, batches, schema_problems, table_definition

__all__ = [
    "DynamoUrl",
    "InitOutcome",
    "Item",
    "MissingTableError",
    "Table",
    "key",
    "make_client",
    "parse_url",
    "reasons",
]

Item = dict[str, Any]

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_PARAMS = ("region", "endpoint_url", "profile")
_EXPECTED = "expected dynamodb://TABLE?region=REGION (optional: &profile=P, &endpoint_url=U)"
#: Error codes that mean "slow down": retried with back-off.
THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
        "LimitExceededException",
    }
)
UNAVAILABLE = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure"})
#: Why a transaction was cancelled, when a retry may get past it.
_TRANSIENT_REASONS = frozenset(
    {
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "TransactionConflict",
        "RequestLimitExceeded",
    }
)
#: BatchWriteItem's and BatchGetItem's limits on one call.
BATCH_WRITE = 25
BATCH_GET = 100


@dataclass(frozen=True)
class DynamoUrl:
    """``dynamodb://TABLE?region=R[&profile=P][&endpoint_url=U]``, parsed."""

    table: str
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None

    def __str__(self) -> str:
        query = "&".join(f"{k}={getattr(self, k)}" for k in _PARAMS if getattr(self, k))
        return f"dynamodb://{self.table}" + (f"?{query}" if query else "")


def parse_url(url: str) -> DynamoUrl:
    """The table and options a ``dynamodb://`` URL names; StoreConfigError when malformed."""
    text = url.strip()
    parts = urlsplit(text)
    if not text.startswith("dynamodb://"):
        raise StoreConfigError(f"bad DynamoDB store URL {url!r}; {_EXPECTED}")
    if parts.path not in ("", "/") or parts.fragment or not _TABLE_NAME.match(parts.netloc):
        raise StoreConfigError(
            f"bad DynamoDB store URL {url!r}: a table name is 3 to 255 letters, digits, "
            f"'_', '-' or '.'; {_EXPECTED}"
        )
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise StoreConfigError(f"bad DynamoDB store URL {url!r}; {_EXPECTED}") from None
    unknown = sorted(set(query) - set(_PARAMS))
    if unknown:
        raise StoreConfigError(
            f"bad DynamoDB store URL {url!r}: unknown {unknown[0]!r}; {_EXPECTED}"
        )
    given: dict[str, str] = {}
    for name, values in query.items():
        if len(values) != 1 or not values[0].strip():
            raise StoreConfigError(f"bad DynamoDB store URL {url!r}: give {name} once, not empty")
        given[name] = values[0].strip()
    endpoint = given.get("endpoint_url")
    if endpoint is not None and (
        urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).netloc
    ):
        raise StoreConfigError(f"bad DynamoDB store URL {url!r}: endpoint_url must be http(s)://")
    return DynamoUrl(parts.netloc, given.get("region"), endpoint, given.get("profile"))


def make_client(url: DynamoUrl) -> Any:
    """A DynamoDB client for ``url``, with botocore's retries off (ours are the only ones)."""
    from drsorch.aws.session import aws_session, client_config, setup_error

    session = aws_session(url.profile, url.region)
    if session.region_name is None:
        raise StoreConfigError(
            f"no AWS region for DynamoDB table {url.table}: give one in the URL "
            f"(dynamodb://{url.table}?region=us-east-1) or set AWS_REGION"
        )
    try:
        return session.client("dynamodb", config=client_config(), endpoint_url=url.endpoint_url)
    except bce.BotoCoreError as exc:
        raise setup_error(exc) from exc


class MissingTableError(StoreConfigError):
    """The table does not exist (bad input: create it with ``drsorch store init``)."""


@dataclass
class InitOutcome:
    """What ``drsorch store init`` did to the table."""

    created: bool
    backups_turned_on: bool
    notes: list[str] = field(default_factory=list)


def code_of(exc: BaseException) -> str:
    if isinstance(exc, bce.ClientError):
        return str((exc.response.get("Error") or {}).get("Code") or "")
    return ""


def reasons(exc: BaseException) -> list[str]:
    """A cancelled transaction's reason per action, in order ("None": that one was fine)."""
    if not isinstance(exc, bce.ClientError):
        return []
    return [str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons") or ()]


def key(execution_id: str, sort_key: str) -> Item:
    return {PK: {"S": execution_id}, SK: {"S": sort_key}}


class Table:
    """One DynamoDB table through ``client``; back-off sleeps on ``clock``."""

    def __init__(self, url: DynamoUrl, client: Any, clock: Clock) -> None:
        self.url, self.name, self.client, self.clock = url, url.table, client, clock

    # -- one call -------------------------------------------------------------------------

    def call(self, operation: str, *, expect: Sequence[str] = (), **params: Any) -> Item:
        """``operation`` (e.g. "GetItem"), retried as the module docstring says; an error
        code in ``expect`` leaves as botocore's ClientError, for the caller to read."""
        method = getattr(self.client, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
        attempt, slept = 0, 0.0
        while True:
            attempt += 1
            try:
                return dict(method(**params))
            except Exception as exc:
                error = self._classify(exc, operation)
                if code_of(exc) in expect and not isinstance(error, RetryableError):
                    raise
                decision = next_delay(attempt, error)
                if not decision.retry:
                    raise self.failure(operation, error, attempt, slept) from exc
                self.clock.sleep(decision.delay)
                slept += decision.delay

    def _classify(self, exc: Exception, operation: str) -> DrsorchError:
        code = code_of(exc)
        if code == "ResourceNotFoundException":
            return self.missing()
        if isinstance(exc, bce.ClientError):
            status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
            message = (exc.response.get("Error") or {}).get("Message") or ""
            text = f"{code}: {message}".strip()
            why = set(reasons(exc))
            if (
                code in THROTTLED
                or status == 429
                or (why & _TRANSIENT_REASONS and "ConditionalCheckFailed" not in why)
            ):
                return ThrottledError(text, operation=operation, code=code)
            if code in UNAVAILABLE or (isinstance(status, int) and status >= 500):
                return ServiceError(text, operation=operation, code=code)
        return map_error(exc, operation=operation)

    def missing(self) -> MissingTableError:
        return MissingTableError(
            f"table {self.name} does not exist; create it with drsorch store init {self.url}"
        )

    def failure(
        self, operation: str, error: DrsorchError, attempts: int, slept: float
    ) -> DrsorchError:
        """The error a call ends with, naming the table and the operation."""
        if isinstance(error, StoreError):
            return error
        detail = str(error)
        if detail.startswith(operation + ": "):
            detail = detail[len(operation) + 2 :]
        where = f"DynamoDB table {self.name}: {operation}"
        if isinstance(error, RetryableError):
            retries = attempts - 1
            return StoreError(
                f"{where} failed after {attempts} attempts ({retries} "
                f"{'retry' if retries == 1 else 'retries'} over {slept:g} s): {detail}"
            )
        if isinstance(error, CredentialsError):
            return CredentialsError(f"{where}: {detail}", operation=operation)
        if isinstance(error, AccessDeniedError):
            return StoreConfigError(
                f"{where} was refused: {detail} (the credentials need dynamodb:{operation} on "
                f"table {self.name} and its indexes)"
            )
        return StoreError(f"{where} failed: {detail}")

    def _backoff(self, operation: str, attempt: int, slept: float, left: int) -> float:
        """Sleep before sending again what a batch call left unprocessed (DynamoDB does
        so when throttled); StoreError once the retries are spent."""
        error = ThrottledError(f"{left} items left unprocessed (throttled)", code="Unprocessed")
        decision = next_delay(attempt, error)
        if not decision.retry:
            raise self.failure(operation, error, attempt, slept)
        self.clock.sleep(decision.delay)
        return decision.delay

    # -- many items -----------------------------------------------------------------------

    def get_item(self, execution_id: str, sort_key: str) -> Item | None:
        """One item, strongly consistent."""
        answer = self.call(
            "GetItem", TableName=self.name, Key=key(execution_id, sort_key), ConsistentRead=True
        )
        item = answer.get("Item")
        return None if item is None else dict(item)

    def pages(self, operation: str, **params: Any) -> Iterator[Item]:
        """Every item of a Query or Scan, page after page, as they are needed."""
        params["TableName"] = self.name
        while True:
            answer = self.call(operation, **params)
            yield from answer.get("Items") or ()
            if not answer.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def fetch(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """The ``data`` of each (execution id, sort key) that exists (consistent reads)."""
        found: dict[tuple[str, str], bytes] = {}
        for batch in batches(list(dict.fromkeys(keys)), BATCH_GET):
            pending = [key(pk, sk) for pk, sk in batch]
            attempt, slept = 0, 0.0
            while pending:
                answer = self.call(
                    "BatchGetItem",
                    RequestItems={self.name: {"Keys": pending, "ConsistentRead": True}},
                )
                for item in (answer.get("Responses") or {}).get(self.name) or ():
                    found[(item[PK]["S"], item[SK]["S"])] = bytes(item["data"]["B"])
                unprocessed = (answer.get("UnprocessedKeys") or {}).get(self.name) or {}
                left = list(unprocessed.get("Keys") or ())
                if left and len(left) == len(pending):
                    attempt += 1
                    slept += self._backoff("BatchGetItem", attempt, slept, len(left))
                pending = left
        return found

    def batch_write(self, requests: Sequence[Item]) -> None:
        """PutRequests and DeleteRequests, 25 a call, what is left unprocessed sent again."""
        for batch in batches(requests, BATCH_WRITE):
            pending, attempt, slept = list(batch), 0, 0.0
            while pending:
                answer = self.call("BatchWriteItem", RequestItems={self.name: pending})
                left = list((answer.get("UnprocessedItems") or {}).get(self.name) or ())
                if left and len(left) == len(pending):
                    attempt += 1
                    slept += self._backoff("BatchWriteItem", attempt, slept, len(left))
                pending = left

    def delete(self, execution_id: str, sort_keys: Iterable[str]) -> None:
        """Delete items no head names any more. Best effort: what is left is garbage no
        reader looks at, which the next whole save of the execution collects."""
        requests = [{"DeleteRequest": {"Key": key(execution_id, k)}} for k in sort_keys]
        with contextlib.suppress(StoreError):
            self.batch_write(requests)

    # -- the table itself -----------------------------------------------------------------

    def describe(self) -> Item | None:
        """DescribeTable's ``Table``, or None when there is no such table."""
        try:
            return dict(self.call("DescribeTable", TableName=self.name)["Table"])
        except MissingTableError:
            return None

    def check(self) -> None:
        """StoreConfigError unless the table exists with the schema the store needs."""
        table = self.describe()
        if table is None:
            raise self.missing()
        problems = schema_problems(table)
        if problems:
            raise StoreConfigError(
                f"table {self.name} is not a drsorch history table: {'; '.join(problems)}"
            )

    def init(self, *, timeout: float = 600.0, poll: float = 5.0) -> InitOutcome:
        """Create the table (on-demand, point-in-time recovery on) unless it exists; an
        existing one must have the right schema (else StoreConfigError naming the
        difference), and gets point-in-time recovery turned on when it is off."""
        table = self.describe()
        outcome = InitOutcome(created=table is None, backups_turned_on=False)
        if table is None:
            self.call("CreateTable", **table_definition(self.name))
        else:
            problems = schema_problems(table)
            if problems:
                raise StoreConfigError(
                    f"table {self.name} exists with another schema: {'; '.join(problems)}"
                )
            billing = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
            if billing != "PAY_PER_REQUEST":
                outcome.notes.append(f"its billing mode is {billing} (left as it is)")
        self._wait_active(timeout, poll)
        outcome.backups_turned_on = self._turn_backups_on(timeout, poll)
        return outcome

    def _wait_active(self, timeout: float, poll: float) -> None:
        waited = 0.0
        while True:
            table = self.describe() or {}
            indexes = table.get("GlobalSecondaryIndexes") or ()
            if table.get("TableStatus") == "ACTIVE" and all(
                i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes
            ):
                return
            if waited >= timeout:
                raise StoreError(
                    f"table {self.name} is still {table.get('TableStatus', 'missing')} after "
                    f"{waited:g} s; run drsorch store init again later"
                )
            self.clock.sleep(poll)
            waited += poll

    def _turn_backups_on(self, timeout: float, poll: float) -> bool:
        """Turn point-in-time recovery on; whether it was off. Right after CreateTable
        DynamoDB may answer ContinuousBackupsUnavailableException for a while: waited out."""
        current = self.call("DescribeContinuousBackups", TableName=self.name)
        backups = current.get("ContinuousBackupsDescription") or {}
        pitr = backups.get("PointInTimeRecoveryDescription") or {}
        if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
            return False
        waited = 0.0
        while True:
            try:
                self.call(
                    "UpdateContinuousBackups",
                    expect=("ContinuousBackupsUnavailableException",),
                    TableName=self.name,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
                return True
            except bce.ClientError:
                if waited >= timeout:
                    raise StoreError(
                        f"table {self.name}: point-in-time recovery could not be turned on "
                        f"within {waited:g} s; run drsorch store init again later"
                    ) from None
                self.clock.sleep(poll)
                waited += poll

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()
