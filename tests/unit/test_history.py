"""The execution-history record model (design §5): shape, round trip, validation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from tests.utils.history import (
    ENVIRONMENT_FIELDS,
    ERROR_FIELDS,
    EXECUTION_FIELDS,
    SERVER_FIELDS,
    WAVE_FIELDS,
    make_record,
)

from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.history import (
    EnvironmentEntry,
    ExecutionRecord,
    ServerResult,
    WaveRecord,
    json_schema,
)

pytestmark = pytest.mark.unit

T0 = 1_764_070_000.0
EXEC_KEYS = set(EXECUTION_FIELDS)
WAVE_KEYS = set(WAVE_FIELDS)
SERVER_KEYS = set(SERVER_FIELDS)
ERROR_KEYS = set(ERROR_FIELDS)


def started(**kw: Any) -> ExecutionRecord:
    args: dict[str, Any] = {
        "plan_id": "three-tier-app",
        "plan_name": "Three-tier application",
        "execution_type": "DRILL",
        "initiated_by": "alice@host",
        "start_time": T0,
        "source_account_id": "123456789012",
        "target_account_id": "111122223333",
        "region": "us-east-1",
        "server_count": 1,
        "waves": [
            WaveRecord(
                WaveNumber=1,
                WaveName="Database tier",
                Status=WaveStatus.PENDING,
                ServerResults=[ServerResult(ServerId="s-3d75cdc0d9a28a725", Status="PENDING")],
            )
        ],
    }
    args.update(kw)
    return ExecutionRecord.start(**args)


def test_a_new_record_is_running_with_a_uuid4_and_every_field_present() -> None:
    record = started()
    data = record.to_dict()
    assert data["Status"] == "RUNNING"
    assert uuid.UUID(data["ExecutionId"]).version == 4
    assert set(data) == EXEC_KEYS
    assert set(data["WaveStatus"][0]) == WAVE_KEYS
    assert set(data["WaveStatus"][0]["ServerResults"][0]) == SERVER_KEYS
    assert data["EndTime"] is None and data["Duration"] is None
    assert data["WaveStatus"][0]["ServerResults"][0]["JobId"] is None


def test_to_dict_is_plain_json_with_enums_as_strings() -> None:
    data = make_record(7, Status="FAILED").to_dict()
    text = json.dumps(data)  # would raise on an enum or other non-JSON value
    assert json.loads(text) == data
    assert type(data["Status"]) is str
    assert type(data["WaveStatus"][0]["Status"]) is str
    assert set(data["Errors"][0]) == ERROR_KEYS


@pytest.mark.parametrize("status", list(ExecutionStatus))
def test_round_trip_through_json(status: ExecutionStatus) -> None:
    record = make_record(11, Status=status)
    again = ExecutionRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    assert again.Status is status


def test_finalize_sets_end_time_duration_and_terminal_status() -> None:
    record = started().finalize(ExecutionStatus.COMPLETED, T0 + 1234.5)
    assert record.Status is ExecutionStatus.COMPLETED
    assert record.EndTime == T0 + 1234.5
    assert record.Duration == pytest.approx(1234.5)


def test_finalize_refuses_a_non_terminal_status_or_an_end_before_the_start() -> None:
    with pytest.raises(ValueError, match="terminal"):
        started().finalize(ExecutionStatus.PAUSED, T0 + 1)
    with pytest.raises(ValidationError, match="Duration"):
        started().finalize(ExecutionStatus.FAILED, T0 - 1)


def test_the_wave_helper_finds_a_wave_by_number() -> None:
    record = make_record(3, Status="COMPLETED")
    assert record.wave(1) is record.WaveStatus[0]
    assert record.wave(99) is None


def broken(change: dict[str, Any], seed: int = 5, status: str = "COMPLETED") -> dict[str, Any]:
    data = make_record(seed, Status=status).to_dict()
    data.update(change)
    return data


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"ExecutionId": "not-a-uuid"}, "ExecutionId"),
        ({"ExecutionId": str(uuid.uuid1())}, "ExecutionId"),  # a uuid, but not version 4
        ({"ExecutionId": str(uuid.uuid4()).upper()}, "ExecutionId"),
        ({"SourceAccountId": "12345"}, "SourceAccountId"),
        ({"TargetAccountId": "12345678901a"}, "TargetAccountId"),
        ({"ExecutionType": "PRACTICE"}, "ExecutionType"),
        ({"Status": "DONE"}, "Status"),
        ({"PlanId": "has spaces"}, "PlanId"),
        ({"StartTime": -1.0}, "StartTime"),
        ({"ServerCount": -1}, "ServerCount"),
        ({"Waves": []}, "Waves"),  # unknown key: a typo must not pass
        ({"EndTime": None}, "EndTime"),  # COMPLETED without an end
        ({"Duration": 1.0}, "Duration"),  # not EndTime - StartTime
    ],
)
def test_invalid_records_are_refused_naming_the_problem(
    change: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        ExecutionRecord.from_dict(broken(change))


def test_every_required_field_is_required() -> None:
    for key in ("ExecutionId", "PlanId", "Status", "StartTime", "SourceAccountId"):
        data = make_record(1).to_dict()
        del data[key]
        with pytest.raises(ValidationError, match=key):
            ExecutionRecord.from_dict(data)


def test_a_running_execution_has_no_end_time() -> None:
    data = make_record(2, Status="RUNNING").to_dict()
    data["EndTime"] = data["StartTime"] + 10
    with pytest.raises(ValidationError, match="no EndTime"):
        ExecutionRecord.from_dict(data)


def test_a_failed_server_must_say_why() -> None:
    with pytest.raises(ValidationError, match="no Error"):
        ServerResult(ServerId="s-3d75cdc0d9a28a725", Status=ServerStatus.FAILED)


def test_server_times_must_not_run_backwards() -> None:
    with pytest.raises(ValidationError, match="LaunchedTime"):
        ServerResult(
            ServerId="s-3d75cdc0d9a28a725",
            Status=ServerStatus.LAUNCHED,
            StartTime=T0 + 10,
            LaunchedTime=T0,
        )


def test_bad_server_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="ServerId"):
        ServerResult(ServerId="i-3d75cdc0d9a28a725", Status=ServerStatus.PENDING)


def test_a_server_in_two_waves_or_a_repeated_wave_number_is_refused() -> None:
    data = make_record(4, Status="COMPLETED").to_dict()
    data["WaveStatus"].append(dict(data["WaveStatus"][0]))
    with pytest.raises(ValidationError, match="WaveNumber"):
        ExecutionRecord.from_dict(data)
    data["WaveStatus"][-1]["WaveNumber"] = 99
    with pytest.raises(ValidationError, match="more than once"):
        ExecutionRecord.from_dict(data)


@pytest.mark.parametrize("seed", range(6))
def test_failed_server_count_must_match_the_failed_servers_of_every_wave(seed: int) -> None:
    data = make_record(seed, Status="FAILED").to_dict()
    failed = sum(
        s["Status"] == "FAILED" for wave in data["WaveStatus"] for s in wave["ServerResults"]
    )
    assert failed >= 1  # a FAILED record has a failed wave
    data["FailedServerCount"] = failed
    assert ExecutionRecord.from_dict(data).FailedServerCount == failed
    for wrong in (failed - 1, failed + 1):
        data["FailedServerCount"] = wrong
        with pytest.raises(ValidationError, match=f"FailedServerCount is {wrong}, but {failed}"):
            ExecutionRecord.from_dict(data)


def test_json_schema_requires_every_field_and_allows_null_only_where_optional() -> None:
    schema = json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) == EXEC_KEYS
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert {"type": "null"} in props["EndTime"]["anyOf"]
    assert "anyOf" not in props["PlanId"]
    assert set(schema["$defs"]["ServerResult"]["required"]) == SERVER_KEYS


# -- Environment: where the execution ran (issue 11, item 3) --------------------------------


def test_a_record_says_where_it_ran() -> None:
    sim = {"Kind": "simulator", "Endpoint": None, "Seed": 2026, "Scenario": "rough-day.yaml"}
    record = started(environment=EnvironmentEntry.model_validate(sim))
    assert record.to_dict()["Environment"] == sim
    assert ExecutionRecord.from_dict(record.to_dict()) == record
    aws = {"Kind": "aws", "Endpoint": "http://127.0.0.1:4599", "Seed": None, "Scenario": None}
    assert started(environment=EnvironmentEntry(**aws)).to_dict()["Environment"] == aws


def test_a_record_written_before_environment_was_kept_still_reads() -> None:
    data = make_record(3).to_dict()
    del data["Environment"]  # as drsorch wrote records before issue 11
    record = ExecutionRecord.from_dict(data)
    assert record.Environment is None
    assert record.to_dict()["Environment"] is None  # and it is written as null from now on
    assert started().Environment is None


@pytest.mark.parametrize(
    "environment",
    [
        {"Kind": "laptop"},
        {"Kind": "simulator", "Seed": -1},
        {"Kind": "aws", "Region": "us-east-1"},
        {"Endpoint": "http://x"},
    ],
)
def test_an_environment_that_says_nothing_sure_is_refused(environment: dict[str, Any]) -> None:
    data = make_record(3).to_dict()
    data["Environment"] = environment
    with pytest.raises(ValidationError):
        ExecutionRecord.from_dict(data)


def test_json_schema_describes_the_environment() -> None:
    schema = json_schema()
    env = schema["$defs"]["EnvironmentEntry"]
    assert set(env["required"]) == set(ENVIRONMENT_FIELDS)
    assert env["properties"]["Kind"]["enum"] == ["simulator", "aws"]
    assert {"type": "null"} in schema["properties"]["Environment"]["anyOf"]
