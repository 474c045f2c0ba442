"""Readable anywhere (issue 11, item 5): what ``-v`` says of a retried call, and the
ISO-8601 UTC siblings ``--json`` gives every epoch field (in the output only: the record
the stores keep is unchanged)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.utils.history import make_record

from drsorch.cli.render import iso_utc, record_json, with_iso_times
from drsorch.cli.verbose import VerboseLog, describe_retry
from drsorch.errors import ConnectionFailedError, ServiceError, ThrottledError

pytestmark = pytest.mark.unit


# -- -v ---------------------------------------------------------------------------------------


def test_a_throttled_call_says_the_retry_after_it_waits() -> None:
    error = ThrottledError(
        "DescribeJobs for job drsjob-1: ThrottlingException: Rate exceeded", retry_after=7.0
    )
    assert describe_retry("DescribeJobs", 1, 7.0, error) == (
        "throttled: DescribeJobs for job drsjob-1: ThrottlingException: Rate exceeded; "
        "attempt 1 failed, Retry-After 7 s: trying again in 7 s"
    )


def test_a_retry_names_the_call_the_attempt_and_the_wait() -> None:
    reset = ConnectionFailedError("connection reset")  # a message that does not name the call
    assert describe_retry("DescribeInstanceStatus", 2, 4.0, reset) == (
        "retry: DescribeInstanceStatus: connection reset; attempt 2 failed, trying again in 4 s"
    )
    # Retry-After shorter than the back-off: both are said, the longer one is waited.
    busy = ServiceError("StartRecovery: InternalServerException: busy", retry_after=1.0)
    assert describe_retry("StartRecovery", 1, 2.0, busy).endswith(
        "attempt 1 failed, Retry-After 1 s: trying again in 2 s"
    )


def test_verbose_lines_wait_for_the_live_view() -> None:
    said: list[str] = []
    verbose = VerboseLog()
    verbose.retried("DescribeJobs", 1, 2.0, ThrottledError("DescribeJobs: slow down"))
    verbose.lost_answer("StartRecovery for s-1: the answer was lost")
    assert said == []
    verbose.attach(said.append)
    verbose.tell("later")
    assert said == [
        "throttled: DescribeJobs: slow down; attempt 1 failed, trying again in 2 s",
        "lost answer: StartRecovery for s-1: the answer was lost",
        "later",
    ]


# -- ISO-8601 in JSON -----------------------------------------------------------------------


def test_iso_utc_is_to_the_second_in_utc() -> None:
    assert iso_utc(1_796_208_717.9) == "2026-12-02T10:51:57Z"  # cut, not rounded
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(None) is None
    assert iso_utc(1e20) is None  # no calendar holds it: null, never a traceback


def test_every_epoch_field_gets_its_iso_sibling_right_after_it() -> None:
    record = make_record(3, Status="COMPLETED")
    shown = record_json(record)
    assert list(shown)[list(shown).index("StartTime") + 1] == "StartTimeIso"
    assert shown["EndTimeIso"] == iso_utc(record.EndTime)
    server = shown["WaveStatus"][0]["ServerResults"][0]
    for name in ("StartTime", "LaunchedTime", "HealthyTime", "EndTime"):
        assert server[name + "Iso"] == iso_utc(server[name])
    assert "DurationIso" not in shown and "WaitTimeSecondsIso" not in shown["WaveStatus"][0]
    assert "StartTimeIso" not in record.to_dict()  # what the stores keep has none


def test_a_null_time_has_a_null_sibling_and_the_input_is_left_alone() -> None:
    data: dict[str, Any] = {"EndTime": None, "Cleanup": {"StartTime": 60.0}, "Flag": True}
    assert with_iso_times(data) == {
        "EndTime": None,
        "EndTimeIso": None,
        "Cleanup": {"StartTime": 60.0, "StartTimeIso": "1970-01-01T00:01:00Z"},
        "Flag": True,
    }
    assert data == {"EndTime": None, "Cleanup": {"StartTime": 60.0}, "Flag": True}
