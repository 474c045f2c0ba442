"""The record's Cleanup entry (issue 11.7): optional, so older records still read; its
rules; how ``show`` describes it; and what may be cleaned up."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tests.utils.history import make_record

from drsorch.cleanup import check_cleanable, recovery_instance_ids
from drsorch.cli.render import describe_cleanup
from drsorch.errors import RefusedError
from drsorch.history import CleanupEntry, ExecutionRecord, json_schema
from drsorch.store import SqliteStore


def entry(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Status": "PARTIAL",
        "StartTime": 1_700_000_000.0,
        "EndTime": 1_700_000_180.0,
        "Terminated": ["i-0123456789abcdef0"],
        "Failures": [{"RecoveryInstanceId": "i-0123456789abcdef1", "Message": "409"}],
        "AlreadyGone": [],
        "JobIds": ["drsjob-1"],
    }
    data.update(overrides)
    return data


def finished_drill(seed: int = 1) -> ExecutionRecord:
    return make_record(seed, Status="COMPLETED", ExecutionType="DRILL")


def test_a_record_without_cleanup_still_reads() -> None:
    data = finished_drill().to_dict()
    del data["Cleanup"]  # written before drsorch kept it
    record = ExecutionRecord.from_dict(data)
    assert record.Cleanup is None
    assert record.to_dict()["Cleanup"] is None  # written back, the field is there (null)


def test_a_record_with_cleanup_round_trips_through_json_and_sqlite() -> None:
    data = finished_drill().to_dict()
    data["Cleanup"] = entry()
    record = ExecutionRecord.from_dict(data)
    assert record.Cleanup is not None and record.Cleanup.Failures[0].Message == "409"
    assert ExecutionRecord.from_dict(record.to_dict()) == record
    with SqliteStore(":memory:") as store:
        store.put(record)
        assert store.get(record.ExecutionId) == record


@pytest.mark.parametrize(
    "bad",
    [
        {"Status": "DONE"},
        {"EndTime": 1_699_999_999.0},
        {"StartTime": -1.0},
        {"Failures": [{"RecoveryInstanceId": "i-1", "Message": ""}]},
        {"Extra": 1},
    ],
)
def test_a_bad_cleanup_entry_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CleanupEntry.model_validate(entry(**bad))


def test_the_schema_allows_a_null_or_an_entry() -> None:
    props = json_schema()["properties"]["Cleanup"]
    assert {"type": "null"} in props["anyOf"]


def test_describe_cleanup() -> None:
    drill = finished_drill()
    assert describe_cleanup(drill) == "not run"
    recovery = make_record(2, Status="COMPLETED", ExecutionType="RECOVERY")
    assert describe_cleanup(recovery) == "-"
    done = drill.model_copy(update={"Cleanup": CleanupEntry.model_validate(entry())})
    text = describe_cleanup(done)
    assert text.startswith("PARTIAL at ")
    assert "1 terminated, 1 failed" in text and "i-0123456789abcdef1: 409" in text
    gone = CleanupEntry.model_validate(
        entry(Status="COMPLETED", Failures=[], Terminated=[], AlreadyGone=["i-1", "i-2"])
    )
    assert "0 terminated, 2 already gone" in describe_cleanup(
        drill.model_copy(update={"Cleanup": gone})
    )


def test_recovery_instance_ids_in_wave_order_without_repeats() -> None:
    record = finished_drill(3)
    expected = [
        s.RecoveryInstanceId
        for w in record.WaveStatus
        for s in w.ServerResults
        if s.RecoveryInstanceId
    ]
    assert recovery_instance_ids(record) == list(dict.fromkeys(expected))


def test_only_a_finished_drill_may_be_cleaned_up() -> None:
    check_cleanable(finished_drill())
    check_cleanable(make_record(4, Status="FAILED", ExecutionType="DRILL"))
    check_cleanable(make_record(4, Status="CANCELLED", ExecutionType="DRILL"))
    with pytest.raises(RefusedError, match="RECOVERY"):
        check_cleanable(make_record(5, Status="COMPLETED", ExecutionType="RECOVERY"))
    with pytest.raises(RefusedError, match="RUNNING"):
        check_cleanable(make_record(6, Status="RUNNING", ExecutionType="DRILL"))
