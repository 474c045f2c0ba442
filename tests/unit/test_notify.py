"""The end-of-execution notice and notify_end (seed Req 8.1-8.5, tasks 9.4 and 9.5)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.utils.history import make_record

from drsorch.aws.sns import MAX_MESSAGE_BYTES, publish_size
from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import AccessDeniedError, NotFoundError, RetriesExhaustedError
from drsorch.history import ExecutionRecord
from drsorch.notify import (
    MAX_ERROR_CHARS,
    MESSAGE_BUDGET,
    NotifyOutcome,
    NotifyResult,
    execution_notice,
    notify_end,
)

pytestmark = pytest.mark.unit

TOPIC = "arn:aws:sns:us-east-1:111122223333:dr-events"
EXEC_ID = "6f1c2b1e-8a4d-4c3b-9f2e-0d1e2f3a4b5c"
T0 = 1_764_070_000.0  # 2025-11-25T11:26:40Z


def sid(n: int) -> str:
    return f"s-{n:017x}"


def server(n: int, status: str, error: str | None = None) -> dict[str, Any]:
    return {
        "ServerId": sid(n),
        "Status": status,
        "JobId": None,
        "RecoveryInstanceId": None,
        "Ec2InstanceId": None,
        "StartTime": None,
        "LaunchedTime": None,
        "HealthyTime": None,
        "EndTime": None,
        "Error": error,
    }


def record(
    status: str,
    waves: list[tuple[str, list[dict[str, Any]]]],
    errors: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> ExecutionRecord:
    data: dict[str, Any] = {
        "ExecutionId": EXEC_ID,
        "PlanId": "three-tier-app",
        "PlanName": "Three-tier application",
        "ExecutionType": "DRILL",
        "Status": status,
        "InitiatedBy": "arn:aws:iam::123456789012:user/alice",
        "StartTime": T0,
        "EndTime": T0 + 1234.5,
        "Duration": 1234.5,
        "SourceAccountId": "123456789012",
        "TargetAccountId": "111122223333",
        "Region": "us-east-1",
        "ServerCount": sum(len(servers) for _, servers in waves),
        "Errors": errors or [],
        "WaveStatus": [
            {
                "WaveNumber": i + 1,
                "WaveName": f"Wave {i + 1}",
                "Status": wave_status,
                "StartTime": None,
                "EndTime": None,
                "ServerResults": servers,
            }
            for i, (wave_status, servers) in enumerate(waves)
        ],
    }
    data.update(fields)
    return ExecutionRecord.from_dict(data)


def failed_record() -> ExecutionRecord:
    return record(
        "FAILED",
        [
            ("COMPLETED", [server(1, "COMPLETED"), server(2, "COMPLETED")]),
            ("FAILED", [server(3, "COMPLETED"), server(4, "FAILED", "launch failed")]),
            ("SKIPPED", [server(5, "SKIPPED"), server(6, "SKIPPED")]),
        ],
        errors=[
            {
                "Message": f"{sid(4)}: launch failed: LAUNCH_FAILED",
                "WaveNumber": 2,
                "ServerId": sid(4),
                "JobId": "drsjob-0123456789abcdef0",
            }
        ],
    )


def body(record: ExecutionRecord, environment: str = "aws") -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(execution_notice(record, environment=environment).message)
    return parsed


# --- the notice ------------------------------------------------------------------------------


def test_a_completed_execution_says_what_ran_where_and_how_long() -> None:
    rec = record("COMPLETED", [("COMPLETED", [server(1, "COMPLETED"), server(2, "COMPLETED")])])
    notice = execution_notice(rec, environment="aws")
    assert notice.subject == "drsorch DRILL three-tier-app COMPLETED"
    assert notice.attributes == {
        "PlanId": "three-tier-app",
        "Status": "COMPLETED",
        "ExecutionType": "DRILL",
        "Event": "EXECUTION_ENDED",
        "Environment": "aws",
    }
    msg = json.loads(notice.message)
    assert msg["ExecutionId"] == EXEC_ID
    assert msg["PlanId"] == "three-tier-app"
    assert msg["PlanName"] == "Three-tier application"
    assert msg["ExecutionType"] == "DRILL"
    assert msg["Status"] == "COMPLETED"
    assert msg["StartTime"] == "2025-11-25T11:26:40.000Z"
    assert msg["EndTime"] == "2025-11-25T11:47:14.500Z"
    assert msg["Duration"] == 1234.5
    assert msg["ServerCount"] == 2
    assert msg["ServerStatusCounts"]["COMPLETED"] == 2
    assert sum(msg["ServerStatusCounts"].values()) == 2
    assert msg["WaveCount"] == 1 and msg["WaveStatusCounts"]["COMPLETED"] == 1
    assert (msg["Region"], msg["SourceAccountId"], msg["TargetAccountId"]) == (
        "us-east-1",
        "123456789012",
        "111122223333",
    )
    assert msg["Environment"] == "aws"
    assert msg["Summary"] == (
        "DRILL of three-tier-app COMPLETED after 20m 34s: 2 of 2 servers COMPLETED"
    )
    for key in ("Errors", "AffectedServerIds", "ErrorsOmitted"):
        assert key not in msg  # only a FAILED or CANCELLED execution lists them
    assert not notice.truncated


def test_a_failed_execution_lists_its_errors_and_every_server_not_recovered() -> None:
    notice = execution_notice(failed_record(), environment="aws")
    assert notice.subject == "drsorch DRILL three-tier-app FAILED: 1 of 6 servers failed"
    msg = json.loads(notice.message)
    assert msg["Errors"] == [
        {
            "Message": f"{sid(4)}: launch failed: LAUNCH_FAILED",
            "WaveNumber": 2,
            "ServerId": sid(4),
            "JobId": "drsjob-0123456789abcdef0",
        }
    ]
    assert msg["AffectedServerIds"] == [sid(4), sid(5), sid(6)]  # the FAILED one first
    assert (msg["ErrorCount"], msg["ErrorsOmitted"]) == (1, 0)
    assert (msg["AffectedServerCount"], msg["AffectedServerIdsOmitted"]) == (3, 0)
    assert msg["Truncated"] is False
    assert msg["ServerStatusCounts"] == {
        "PENDING": 0,
        "LAUNCHING": 0,
        "LAUNCHED": 0,
        "HEALTH_CHECK": 0,
        "COMPLETED": 3,
        "FAILED": 1,
        "SKIPPED": 2,
        "CANCELLED": 0,
    }
    assert msg["Summary"].endswith("3 of 6 servers COMPLETED; 1 FAILED, 2 SKIPPED")


def test_a_cancelled_execution_lists_the_servers_it_never_recovered() -> None:
    rec = record(
        "CANCELLED",
        [
            ("COMPLETED", [server(1, "COMPLETED")]),
            ("CANCELLED", [server(2, "CANCELLED"), server(3, "CANCELLED")]),
        ],
    )
    msg = body(rec)
    assert msg["Status"] == "CANCELLED"
    assert msg["Errors"] == [] and msg["ErrorCount"] == 0
    assert msg["AffectedServerIds"] == [sid(2), sid(3)]


def test_a_server_named_only_by_an_error_is_affected_too() -> None:
    # A preflight failure names a server whose result says only SKIPPED; and an error may
    # name a server outside the waves (an unknown id): both belong in the list.
    rec = record(
        "FAILED",
        [
            ("SKIPPED", [server(1, "SKIPPED"), server(2, "SKIPPED")]),
            ("FAILED", [server(3, "FAILED", "impaired"), server(4, "COMPLETED")]),
        ],
        errors=[
            {"Message": "not CONTINUOUS", "WaveNumber": None, "ServerId": sid(2), "JobId": None},
            {"Message": "no such server", "WaveNumber": None, "ServerId": sid(9), "JobId": None},
        ],
    )
    # FAILED first, then the servers errors name, then the rest; never a COMPLETED one
    assert body(rec)["AffectedServerIds"] == [sid(3), sid(2), sid(9), sid(1)]


def test_the_simulator_says_so_in_subject_and_attributes() -> None:
    notice = execution_notice(failed_record(), environment="simulator")
    assert notice.subject.startswith("drsorch DRILL three-tier-app FAILED (simulator)")
    assert notice.attributes["Environment"] == "simulator"
    assert json.loads(notice.message)["Environment"] == "simulator"


def test_a_subject_stays_under_100_ascii_characters_for_the_longest_plan_id() -> None:
    rec = record(
        "CANCELLED",
        [("CANCELLED", [server(1, "CANCELLED")])],
        PlanId="p" * 64,
        ExecutionType="RECOVERY",
    )
    subject = execution_notice(rec, environment="simulator").subject
    assert len(subject) <= 99
    assert subject.startswith("drsorch RECOVERY ppp")
    assert subject.endswith("... CANCELLED (simulator)")
    assert subject.isascii() and subject.isprintable()


def test_only_an_ended_execution_and_a_known_environment_make_a_notice() -> None:
    running = make_record(1, Status="RUNNING")
    with pytest.raises(ValueError, match="has not ended"):
        execution_notice(running, environment="aws")
    with pytest.raises(ValueError, match="environment"):
        execution_notice(failed_record(), environment="laptop")


def test_control_and_non_ascii_text_in_a_record_makes_valid_json() -> None:
    # (A lone surrogate cannot reach a record: pydantic refuses it; the notice would
    # replace one by "?" all the same.)
    rec = record(
        "FAILED",
        [("FAILED", [server(1, "FAILED", "x")])],
        errors=[{"Message": "bad \x00 \x1b[31m \u2028 ünï", "ServerId": sid(1)}],
        PlanName="name\nwith\tcontrols",
    )
    notice = execution_notice(rec, environment="aws")
    msg = json.loads(notice.message.encode("utf-8"))
    assert msg["Errors"][0]["Message"] == "bad \x00 \x1b[31m \u2028 ünï"
    assert msg["PlanName"] == "name\nwith\tcontrols"
    assert "\x1b" not in notice.message  # JSON escapes control characters


def ten_thousand_failed_servers(message_chars: int, n: int = 10_000) -> ExecutionRecord:
    """The issue's worst case: 10,000 failed servers, each with a long error message."""
    servers = [server(i, "FAILED", "ü" * max(message_chars, 1)) for i in range(n)]
    errors = [
        {
            "Message": f"{sid(i)}: " + "é" * message_chars,
            "WaveNumber": 1,
            "ServerId": sid(i),
            "JobId": f"drsjob-{i:017x}",
        }
        for i in range(n)
    ]
    return record("FAILED", [("FAILED", servers)], errors=errors, PlanName="P" * 256)


def test_ten_thousand_failed_servers_with_long_errors_stay_under_the_sns_limit() -> None:
    rec = ten_thousand_failed_servers(message_chars=20_000)
    started = time.perf_counter()
    notice = execution_notice(rec, environment="aws")
    assert time.perf_counter() - started < 10  # generous: it takes well under a second
    assert notice.size <= MESSAGE_BUDGET
    assert publish_size(notice.message, notice.attributes) <= MAX_MESSAGE_BYTES
    assert len(notice.subject) <= 99
    msg = json.loads(notice.message)
    assert msg["Truncated"] is True
    assert msg["ErrorCount"] == msg["AffectedServerCount"] == 10_000
    assert len(msg["Errors"]) + msg["ErrorsOmitted"] == 10_000
    assert len(msg["AffectedServerIds"]) + msg["AffectedServerIdsOmitted"] == 10_000
    assert msg["Errors"] and msg["AffectedServerIds"]  # both lists get room
    assert msg["Errors"][0]["ServerId"] == sid(0)  # the first failures are kept
    assert msg["AffectedServerIds"][:3] == [sid(0), sid(1), sid(2)]
    first = msg["Errors"][0]["Message"]
    assert first.endswith(f"... [{20_000 + 21 - MAX_ERROR_CHARS} more characters]")
    assert len(first) < MAX_ERROR_CHARS + 40
    # the room is used: little is left that another entry could have taken
    assert MESSAGE_BUDGET - notice.size < 2 * len(json.dumps(msg["Errors"][0]).encode())
    assert (notice.errors_omitted, notice.affected_omitted) == (
        msg["ErrorsOmitted"],
        msg["AffectedServerIdsOmitted"],
    )


def test_a_thousand_failed_servers_with_short_errors_are_listed_in_full() -> None:
    rec = ten_thousand_failed_servers(message_chars=10, n=1000)
    notice = execution_notice(rec, environment="aws")
    msg = json.loads(notice.message)
    assert len(msg["Errors"]) == len(msg["AffectedServerIds"]) == 1000
    assert msg["Truncated"] is False and not notice.truncated


def test_when_both_lists_overflow_each_gets_about_half_the_room() -> None:
    msg = json.loads(execution_notice(ten_thousand_failed_servers(10), environment="aws").message)
    errors = len(json.dumps(msg["Errors"], ensure_ascii=False).encode())
    ids = len(json.dumps(msg["AffectedServerIds"]).encode())
    assert msg["ErrorsOmitted"] > 0 and msg["AffectedServerIdsOmitted"] > 0
    assert abs(errors - ids) < 1000


def test_a_smaller_budget_is_honoured() -> None:
    rec = ten_thousand_failed_servers(message_chars=100)
    notice = execution_notice(rec, environment="aws", budget=16 * 1024)
    assert notice.size <= 16 * 1024
    with pytest.raises(ValueError, match="too small"):
        execution_notice(rec, environment="aws", budget=1000)


# --- notify_end ------------------------------------------------------------------------------


@dataclass
class FakePublisher:
    error: Exception | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

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
        self.calls.append(
            {
                "topic_arn": topic_arn,
                "subject": subject,
                "message": message,
                "attributes": dict(attributes),
                "group_id": group_id,
                "dedup_id": dedup_id,
            }
        )
        if self.error is not None:
            raise self.error
        return "msg-1"


@pytest.mark.parametrize("topic", [None, ""])
def test_no_topic_means_no_call_at_all(topic: str | None) -> None:
    publisher = FakePublisher()
    lines: list[str] = []
    result = notify_end(publisher, topic, failed_record(), "aws", lines.append)
    assert result.outcome is NotifyOutcome.SKIPPED and result.ok
    assert publisher.calls == [] and lines == []
    # not even a client is needed
    assert notify_end(None, topic, failed_record(), "aws").outcome is NotifyOutcome.SKIPPED


def test_a_sent_notice_is_logged_with_its_message_id() -> None:
    publisher = FakePublisher()
    lines: list[str] = []
    rec = failed_record()
    result = notify_end(publisher, TOPIC, rec, "aws", lines.append)
    assert result == NotifyResult(NotifyOutcome.SENT, TOPIC, message_id="msg-1")
    (call,) = publisher.calls
    notice = execution_notice(rec, environment="aws")
    assert (call["subject"], call["message"], call["attributes"]) == (
        notice.subject,
        notice.message,
        notice.attributes,
    )
    assert call["group_id"] is None and call["dedup_id"] is None  # a standard topic
    assert lines == [f"notification sent to {TOPIC} (message msg-1)"]


def test_a_fifo_topic_gets_a_group_and_a_deduplication_id() -> None:
    publisher = FakePublisher()
    notify_end(publisher, TOPIC + ".fifo", failed_record(), "aws")
    (call,) = publisher.calls
    assert call["group_id"] == "three-tier-app"
    assert call["dedup_id"] == f"{EXEC_ID}:EXECUTION_ENDED:FAILED"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            AccessDeniedError(
                f"Publish to {TOPIC}: AuthorizationError: not authorized",
                operation="Publish",
                code="AuthorizationError",
            ),
            "AuthorizationError",
        ),
        (
            NotFoundError(f"Publish to {TOPIC}: NotFound: Topic does not exist", code="NotFound"),
            "NotFound",
        ),
        (
            RetriesExhaustedError(
                f"Publish to {TOPIC} failed after 4 attempts (3 retries over 14 s): "
                "Throttling: Rate exceeded",
                attempts=4,
                last_error=RuntimeError(),
                code="Throttling",
            ),
            "Throttling",
        ),
    ],
    ids=["denied", "missing-topic", "throttled"],
)
def test_a_failed_publish_is_a_result_and_a_log_line_never_an_exception(
    error: Exception, code: str
) -> None:
    lines: list[str] = []
    result = notify_end(FakePublisher(error), TOPIC, failed_record(), "aws", lines.append)
    assert result.outcome is NotifyOutcome.FAILED and not result.ok
    assert result.error == str(error) and result.error_code == code
    assert result.to_dict() == {
        "TopicArn": TOPIC,
        "Status": "FAILED",
        "MessageId": None,
        "Error": str(error),
        "ErrorCode": code,
    }
    (line,) = lines
    assert line.startswith(f"notification to {TOPIC} FAILED: ")
    assert line.endswith("the execution's outcome is unchanged")


def test_a_bug_is_not_swallowed() -> None:
    with pytest.raises(ValueError, match="has not ended"):
        notify_end(FakePublisher(), TOPIC, make_record(2, Status="RUNNING"), "aws")
    with pytest.raises(KeyError):
        notify_end(FakePublisher(KeyError("bug")), TOPIC, failed_record(), "aws")


def test_a_topic_without_a_client_fails_softly() -> None:
    lines: list[str] = []
    result = notify_end(None, TOPIC, failed_record(), "aws", lines.append)
    assert result.outcome is NotifyOutcome.FAILED
    assert result.error == "no SNS client was configured" and len(lines) == 1


def test_a_truncated_notice_says_so_in_the_log() -> None:
    lines: list[str] = []
    rec = ten_thousand_failed_servers(message_chars=2000)
    result = notify_end(FakePublisher(), TOPIC, rec, "aws", lines.append)
    assert result.errors_omitted > 0 and result.affected_omitted > 0
    assert f"{result.errors_omitted} errors and {result.affected_omitted} affected" in lines[0]


def test_every_status_of_an_ended_execution_can_be_announced() -> None:
    for status in ExecutionStatus:
        if status.terminal:
            notice = execution_notice(make_record(7, Status=status), environment="aws")
            assert json.loads(notice.message)["Status"] == status.value


def test_the_notice_is_pure_no_boto3_behind_it() -> None:
    code = (
        "import sys, drsorch.notify; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
