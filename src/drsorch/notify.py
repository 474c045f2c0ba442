"""The notification sent when an execution ends (seed Req 8, Properties 23-25; issue 8.4).

Two halves, kept apart as everywhere in drsorch:

- :func:`execution_notice` *decides* what to say. It is pure (no boto3, no clock, no I/O):
  a terminal :class:`~drsorch.history.ExecutionRecord` in, a :class:`Notice` out, with the
  SNS Subject, the JSON message and the message attributes that subscription filter
  policies match on.
- :func:`notify_end` *does* it through a :class:`Publisher` (in practice
  :class:`drsorch.aws.sns.SnsAdapter`) and never raises for an AWS failure: a denied
  publish, a missing topic or throttling past the retries comes back as a FAILED
  :class:`NotifyResult` to log and keep, and the execution's outcome does not change.
  No topic means no call at all (Req 8.3).

The message is one JSON object (keys in this order; times are ISO-8601 UTC, Duration is
seconds)::

    {"SchemaVersion": 1, "Event": "EXECUTION_ENDED",
     "Summary": "DRILL of three-tier-app FAILED after 20m 34s: 4 of 6 servers COMPLETED;
                 1 FAILED, 1 SKIPPED",
     "ExecutionId": "...", "PlanId": "three-tier-app", "PlanName": "...",
     "ExecutionType": "DRILL", "Status": "FAILED",
     "StartTime": "2025-11-25T11:26:40.000Z", "EndTime": "2025-11-25T11:47:14.500Z",
     "Duration": 1234.5, "ServerCount": 6,
     "ServerStatusCounts": {"PENDING": 0, ..., "COMPLETED": 4, "FAILED": 1, "SKIPPED": 1, ...},
     "WaveCount": 3, "WaveStatusCounts": {...},
     "InitiatedBy": "...", "Environment": "aws", "Region": "us-east-1",
     "SourceAccountId": "123456789012", "TargetAccountId": "111122223333",
     # FAILED and CANCELLED only:
     "Errors": [{"Message": "...", "WaveNumber": 2, "ServerId": "s-...", "JobId": "drsjob-..."}],
     "ErrorCount": 1, "ErrorsOmitted": 0,
     "AffectedServerIds": ["s-...", "s-..."], "AffectedServerCount": 2,
     "AffectedServerIdsOmitted": 0, "Truncated": false}

``AffectedServerIds`` are the servers that did not end COMPLETED: the FAILED ones first,
then those the errors name, then the SKIPPED, CANCELLED or unfinished ones.

Size: SNS takes at most 262,144 bytes of body plus attributes. The message is kept under
:data:`MESSAGE_BUDGET` bytes of UTF-8 (200 KiB), measured on the exact text sent; the rest
is headroom for the attributes and for the re-escaping SNS applies when it wraps the
message in the JSON envelope that SQS, HTTP and Lambda subscribers receive. Each error
message is cut at :data:`MAX_ERROR_CHARS` characters; then as many whole errors and
affected server ids are listed as fit (each list gets at least half the room left when it
needs it) and the rest are counted in ``ErrorsOmitted`` / ``AffectedServerIdsOmitted``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.errors import AwsError
from drsorch.history import ErrorEntry, ExecutionRecord

__all__ = [
    "ENVIRONMENTS",
    "EVENT_EXECUTION_ENDED",
    "MAX_ERROR_CHARS",
    "MAX_SUBJECT_CHARS",
    "MESSAGE_BUDGET",
    "SCHEMA_VERSION",
    "Notice",
    "NotifyOutcome",
    "NotifyResult",
    "Publisher",
    "execution_notice",
    "notify_end",
]

SCHEMA_VERSION = 1
#: The message's ``Event`` (and attribute): room for wave events on the same topic later.
EVENT_EXECUTION_ENDED = "EXECUTION_ENDED"
#: Where an execution ran (``RunOptions.environment``).
ENVIRONMENTS = ("simulator", "aws")
#: SNS: "less than 100 characters", printable ASCII, one line.
MAX_SUBJECT_CHARS = 99
#: Bytes of UTF-8 the JSON message may take (SNS allows 262,144 with the attributes).
MESSAGE_BUDGET = 200 * 1024
#: The smallest budget that always leaves room for the fixed fields.
MIN_BUDGET = 16 * 1024
#: An error's Message is cut to this many characters (DRS's rawError can hold 65,536).
MAX_ERROR_CHARS = 1000
#: Free-text fields of the record (PlanName, InitiatedBy, ...) are cut to this.
MAX_TEXT_CHARS = 512

_SEPARATOR = b", "  # json.dumps' item separator, counted when lists are packed
_ENDED_BADLY = (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


@dataclass(frozen=True)
class Notice:
    """One SNS message, ready to publish."""

    subject: str
    message: str  # the JSON text
    attributes: dict[str, str]  # String message attributes, for filter policies
    group_id: str  # MessageGroupId, for a FIFO topic
    dedup_id: str  # MessageDeduplicationId, for a FIFO topic: one per execution end
    errors_omitted: int = 0
    affected_omitted: int = 0

    @property
    def size(self) -> int:
        """Bytes of the message as UTF-8."""
        return len(self.message.encode("utf-8"))

    @property
    def truncated(self) -> bool:
        return bool(self.errors_omitted or self.affected_omitted)


def execution_notice(
    record: ExecutionRecord, *, environment: str, budget: int = MESSAGE_BUDGET
) -> Notice:
    """The notice for a terminal ``record`` (``ValueError`` if it has not ended).

    ``environment`` is where it ran: ``"simulator"`` or ``"aws"``. ``budget`` is the most
    bytes the JSON message may take (at least :data:`MIN_BUDGET`).
    """
    if not record.Status.terminal or record.EndTime is None or record.Duration is None:
        raise ValueError(f"execution {record.ExecutionId} has not ended ({record.Status})")
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, not {environment!r}")
    if budget < MIN_BUDGET:
        raise ValueError(f"a message budget under {MIN_BUDGET} bytes is too small")
    body = _head(record, environment)
    errors_omitted = affected_omitted = 0
    if record.Status in _ENDED_BADLY:
        body, errors_omitted, affected_omitted = _with_details(record, body, budget)
    message = _dumps(body)
    return Notice(
        subject=_subject(record, environment),
        message=message,
        attributes={
            "PlanId": record.PlanId,
            "Status": record.Status.value,
            "ExecutionType": record.ExecutionType,
            "Event": EVENT_EXECUTION_ENDED,
            "Environment": environment,
        },
        group_id=record.PlanId,
        dedup_id=f"{record.ExecutionId}:{EVENT_EXECUTION_ENDED}:{record.Status.value}",
        errors_omitted=errors_omitted,
        affected_omitted=affected_omitted,
    )


# --- the message ---------------------------------------------------------------------------


def _dumps(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False)


def _size(value: Any) -> int:
    return len(_dumps(value).encode("utf-8"))


def _clean(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` as valid UTF-8 (a lone surrogate becomes ``?``), cut to ``limit`` chars."""
    more = len(text) - limit
    text = text[:limit].encode("utf-8", "replace").decode("utf-8")
    return f"{text}... [{more} more characters]" if more > 0 else text


def _iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _human_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def _server_counts(record: ExecutionRecord) -> dict[str, int]:
    counts = {status.value: 0 for status in ServerStatus}
    for wave in record.WaveStatus:
        for server in wave.ServerResults:
            counts[server.Status.value] += 1
    return counts


def _summary(record: ExecutionRecord, counts: Mapping[str, int]) -> str:
    duration = _human_duration(record.Duration or 0.0)
    done = counts[ServerStatus.COMPLETED.value]
    others = ", ".join(
        f"{n} {status}" for status, n in counts.items() if n and status != ServerStatus.COMPLETED
    )
    text = (
        f"{record.ExecutionType} of {record.PlanId} {record.Status.value} after {duration}: "
        f"{done} of {record.ServerCount} servers COMPLETED"
    )
    return f"{text}; {others}" if others else text


def _head(record: ExecutionRecord, environment: str) -> dict[str, Any]:
    """Every field of the message but the error details."""
    counts = _server_counts(record)
    waves = {status.value: 0 for status in WaveStatus}
    for wave in record.WaveStatus:
        waves[wave.Status.value] += 1
    assert record.EndTime is not None and record.Duration is not None  # checked by caller
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Event": EVENT_EXECUTION_ENDED,
        "Summary": _clean(_summary(record, counts)),
        "ExecutionId": record.ExecutionId,
        "PlanId": record.PlanId,
        "PlanName": _clean(record.PlanName),
        "ExecutionType": record.ExecutionType,
        "Status": record.Status.value,
        "StartTime": _iso(record.StartTime),
        "EndTime": _iso(record.EndTime),
        "Duration": round(record.Duration, 3),
        "ServerCount": record.ServerCount,
        "ServerStatusCounts": counts,
        "WaveCount": len(record.WaveStatus),
        "WaveStatusCounts": waves,
        "InitiatedBy": _clean(record.InitiatedBy),
        "Environment": environment,
        "Region": _clean(record.Region, 64),
        "SourceAccountId": record.SourceAccountId,
        "TargetAccountId": record.TargetAccountId,
    }


def _affected(record: ExecutionRecord) -> list[str]:
    """Every server that did not end COMPLETED: FAILED ones first, then those the errors
    name, then the rest (SKIPPED, CANCELLED, never finished), each in record order."""
    servers = [s for wave in record.WaveStatus for s in wave.ServerResults]
    ordered = [s.ServerId for s in servers if s.Status is ServerStatus.FAILED]
    ordered += [e.ServerId for e in record.Errors if e.ServerId is not None]
    ordered += [s.ServerId for s in servers if s.Status is not ServerStatus.COMPLETED]
    completed = {s.ServerId for s in servers if s.Status is ServerStatus.COMPLETED}
    return [sid for sid in dict.fromkeys(ordered) if sid not in completed]


def _error_item(entry: ErrorEntry) -> dict[str, Any]:
    return {
        "Message": _clean(entry.Message, MAX_ERROR_CHARS),
        "WaveNumber": entry.WaveNumber,
        "ServerId": entry.ServerId,
        "JobId": None if entry.JobId is None else _clean(entry.JobId, 128),
    }


def _fits(sizes: list[int], room: int) -> int:
    """How many leading items (of these encoded sizes) fit in ``room`` bytes of a list."""
    used = n = 0
    for size in sizes:
        extra = size + (len(_SEPARATOR) if n else 0)
        if used + extra > room:
            break
        used += extra
        n += 1
    return n


def _cost(sizes: list[int]) -> int:
    return sum(sizes) + len(_SEPARATOR) * max(len(sizes) - 1, 0)


def _with_details(
    record: ExecutionRecord, head: dict[str, Any], budget: int
) -> tuple[dict[str, Any], int, int]:
    """``head`` plus Errors and AffectedServerIds, cut to fit ``budget`` bytes."""
    errors = [_error_item(e) for e in record.Errors]
    affected = _affected(record)

    def body(n_errors: int, n_affected: int) -> dict[str, Any]:
        return {
            **head,
            "Errors": errors[:n_errors],
            "ErrorCount": len(errors),
            "ErrorsOmitted": len(errors) - n_errors,
            "AffectedServerIds": affected[:n_affected],
            "AffectedServerCount": len(affected),
            "AffectedServerIdsOmitted": len(affected) - n_affected,
            "Truncated": n_errors < len(errors) or n_affected < len(affected),
        }

    # The empty lists with the largest omitted counts (and "Truncated": false, the longer
    # word) cost at least what any final body costs besides its list items.
    room = budget - _size(body(0, 0))
    error_sizes = [_size(e) for e in errors]
    id_sizes = [_size(sid) for sid in affected]
    n_errors = _fits(error_sizes, max(room // 2, room - _cost(id_sizes)))
    n_affected = _fits(id_sizes, room - _cost(error_sizes[:n_errors]))
    final = body(n_errors, n_affected)
    while _size(final) > budget and (n_errors or n_affected):  # pragma: no cover - safety
        if n_affected >= n_errors:
            n_affected -= 1
        else:
            n_errors -= 1
        final = body(n_errors, n_affected)
    return final, len(errors) - n_errors, len(affected) - n_affected


# --- the subject ---------------------------------------------------------------------------


def _ascii_line(text: str) -> str:
    """Printable ASCII on one line: anything else becomes ``?``, runs of spaces one."""
    out = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return " ".join(out.split())


def _subject(record: ExecutionRecord, environment: str) -> str:
    """``drsorch DRILL three-tier-app FAILED: 2 of 6 servers failed`` (under 100 chars)."""
    plan = _ascii_line(record.PlanId)
    status = record.Status.value
    tag = " (simulator)" if environment == "simulator" else ""
    failed = sum(
        1 for w in record.WaveStatus for s in w.ServerResults if s.Status is ServerStatus.FAILED
    )
    detail = f": {failed} of {record.ServerCount} servers failed" if failed else ""
    head = f"drsorch {record.ExecutionType}"
    room = MAX_SUBJECT_CHARS - len(head) - len(f"  {status}{tag}")
    if len(plan) > room:
        plan = plan[: max(room - 3, 1)] + "..."
    subject = f"{head} {plan} {status}{tag}"
    if len(subject) + len(detail) <= MAX_SUBJECT_CHARS:
        subject += detail
    return subject[:MAX_SUBJECT_CHARS]


# --- publishing ----------------------------------------------------------------------------


class Publisher(Protocol):
    """What :func:`notify_end` needs of SNS (:class:`drsorch.aws.sns.SnsAdapter`)."""

    def publish(
        self,
        topic_arn: str,
        subject: str,
        message: str,
        attributes: Mapping[str, str],
        *,
        group_id: str | None = None,
        dedup_id: str | None = None,
    ) -> str: ...


class NotifyOutcome(StrEnum):
    SKIPPED = "SKIPPED"  # no topic configured: nothing was called
    SENT = "SENT"  # SNS accepted the message
    FAILED = "FAILED"  # the publish failed; the execution's outcome is unchanged


@dataclass(frozen=True)
class NotifyResult:
    """What became of the end-of-execution notification."""

    outcome: NotifyOutcome
    topic_arn: str | None = None
    message_id: str | None = None
    error: str | None = None  # one line, naming the topic ARN
    error_code: str | None = None  # AWS's code (AuthorizationError, NotFound, ...)
    errors_omitted: int = 0
    affected_omitted: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome is not NotifyOutcome.FAILED

    def to_dict(self) -> dict[str, Any]:
        """The result as a history-record entry would hold it (PascalCase, every key)."""
        return {
            "TopicArn": self.topic_arn,
            "Status": self.outcome.value,
            "MessageId": self.message_id,
            "Error": self.error,
            "ErrorCode": self.error_code,
        }

    def describe(self) -> str:
        """One line for the log."""
        if self.outcome is NotifyOutcome.SKIPPED:
            return "no notification: the plan names no SNS topic"
        if self.outcome is NotifyOutcome.SENT:
            cut = ""
            if self.errors_omitted or self.affected_omitted:
                cut = (
                    f"; too long for SNS, {self.errors_omitted} errors and "
                    f"{self.affected_omitted} affected server ids left out"
                )
            return f"notification sent to {self.topic_arn} (message {self.message_id}){cut}"
        return (
            f"notification to {self.topic_arn} FAILED: {self.error}; "
            "the execution's outcome is unchanged"
        )


def notify_end(
    adapter: Publisher | None,
    topic_arn: str | None,
    record: ExecutionRecord,
    environment: str,
    log: Callable[[str], None] | None = None,
) -> NotifyResult:
    """Publish the end of ``record`` to ``topic_arn``; never raises for an AWS failure.

    No topic: nothing is called (``adapter`` may then be None) and the result is SKIPPED.
    A failed publish is logged through ``log`` and returned as FAILED with the reason.
    ``ValueError`` (a record that has not ended, a bad environment) is a caller's bug and
    is raised.
    """
    if not topic_arn:
        return NotifyResult(NotifyOutcome.SKIPPED)
    notice = execution_notice(record, environment=environment)
    say = log or (lambda text: None)
    if adapter is None:
        result = NotifyResult(NotifyOutcome.FAILED, topic_arn, error="no SNS client was configured")
        say(result.describe())
        return result
    fifo = topic_arn.endswith(".fifo")
    try:
        message_id = adapter.publish(
            topic_arn,
            notice.subject,
            notice.message,
            notice.attributes,
            group_id=notice.group_id if fifo else None,
            dedup_id=notice.dedup_id if fifo else None,
        )
    except AwsError as err:
        first_line = (str(err).splitlines() or [type(err).__name__])[0]
        result = NotifyResult(
            NotifyOutcome.FAILED,
            topic_arn,
            error=first_line,
            error_code=err.code or type(err).__name__,
            errors_omitted=notice.errors_omitted,
            affected_omitted=notice.affected_omitted,
        )
    else:
        result = NotifyResult(
            NotifyOutcome.SENT,
            topic_arn,
            message_id=message_id,
            errors_omitted=notice.errors_omitted,
            affected_omitted=notice.affected_omitted,
        )
    say(result.describe())
    return result
