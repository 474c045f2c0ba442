"""Seed properties 14-18 of the execution history (Req 5), on the record and the stores."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.history import EXECUTION_FIELDS, execution_records

from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.history import ExecutionRecord, json_schema
from drsorch.store import MemoryStore, SqliteStore

pytestmark = pytest.mark.property

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALIDATOR = jsonschema.Draft202012Validator(json_schema())

#: Fields §5 says always have a value (never null), per level of the record.
NON_NULL_EXECUTION = tuple(f for f in EXECUTION_FIELDS if f not in ("EndTime", "Duration"))
NON_NULL_WAVE = ("WaveNumber", "WaveName", "Status", "ServerResults")
NON_NULL_SERVER = ("ServerId", "Status")

digits12 = st.from_regex(r"\A[0-9]{12}\Z")
plan_ids = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")


@SETTINGS
@given(
    plan_id=plan_ids,
    plan_name=st.text(min_size=1, max_size=40),
    execution_type=st.sampled_from(["DRILL", "RECOVERY"]),
    start=st.floats(0, 4e9, allow_nan=False),
    source=digits12,
    target=digits12,
    servers=st.integers(0, 500),
)
def test_p14_a_new_execution_record_is_running_and_complete(
    plan_id: str,
    plan_name: str,
    execution_type: Any,
    start: float,
    source: str,
    target: str,
    servers: int,
) -> None:
    """Property 14 (Req 5.1): a started record has every field, a uuid4 id, status RUNNING."""
    record = ExecutionRecord.start(
        plan_id=plan_id,
        plan_name=plan_name,
        execution_type=execution_type,
        initiated_by="alice@host",
        start_time=start,
        source_account_id=source,
        target_account_id=target,
        region="us-east-1",
        server_count=servers,
    )
    data = record.to_dict()
    assert record.Status is ExecutionStatus.RUNNING
    assert uuid.UUID(record.ExecutionId).version == 4
    assert data["EndTime"] is None and data["Duration"] is None
    VALIDATOR.validate(data)
    for key in NON_NULL_EXECUTION:
        assert data[key] is not None, key
    # ... and a store gives back exactly what was created.
    store = MemoryStore()
    store.put(record)
    assert store.get(record.ExecutionId) == record


@SETTINGS
@given(record=execution_records(status="RUNNING"), data=st.data())
def test_p15_wave_updates_replace_the_stored_record(record: ExecutionRecord, data: Any) -> None:
    """Property 15 (Req 5.2): a wave update is what the next read returns, in place."""
    store = SqliteStore(":memory:")
    store.put(record)
    wave = data.draw(st.sampled_from(record.WaveStatus))
    status = data.draw(st.sampled_from([WaveStatus.COMPLETED, WaveStatus.FAILED]))
    updated = record.model_copy(deep=True)
    target = updated.wave(wave.WaveNumber)
    assert target is not None
    target.Status = status
    store.put(updated)
    got = store.get(record.ExecutionId)
    assert got is not None
    got_wave = got.wave(wave.WaveNumber)
    assert got_wave is not None and got_wave.Status is status
    assert len(store.query(limit=100)) == 1
    store.close()


@SETTINGS
@given(
    record=execution_records(status="RUNNING"),
    status=st.sampled_from([s for s in ExecutionStatus if s.terminal]),
    after=st.floats(0, 86_400, allow_nan=False),
)
def test_p16_a_finalized_record_has_end_time_duration_and_a_terminal_status(
    record: ExecutionRecord, status: ExecutionStatus, after: float
) -> None:
    """Property 16 (Req 5.3)."""
    end = record.StartTime + after
    final = record.finalize(status, end)
    assert final.Status is status and final.Status.terminal
    assert final.EndTime == end
    assert final.Duration == pytest.approx(end - record.StartTime, abs=1e-3)
    assert final.ExecutionId == record.ExecutionId


@SETTINGS
@given(record=st.sampled_from(["COMPLETED", "FAILED", "CANCELLED"]).flatmap(execution_records))
def test_p16_generated_terminal_records_are_finalized(record: ExecutionRecord) -> None:
    assert record.Status.terminal
    assert record.EndTime is not None and record.Duration is not None
    assert all(w.Status.terminal for w in record.WaveStatus)


@SETTINGS
@given(record=execution_records(status="FAILED"))
def test_p17_every_failed_server_is_named_in_an_error_with_its_job(
    record: ExecutionRecord,
) -> None:
    """Property 17 (Req 5.4): failures carry server id, message and DRS job id."""
    failed = [
        (wave.WaveNumber, server)
        for wave in record.WaveStatus
        for server in wave.ServerResults
        if server.Status is ServerStatus.FAILED
    ]
    assert failed, "a FAILED execution has at least one failed server"
    assert any(w.Status is WaveStatus.FAILED for w in record.WaveStatus)
    for number, server in failed:
        assert server.Error and server.JobId
        entries = [e for e in record.Errors if e.ServerId == server.ServerId]
        assert len(entries) == 1
        assert entries[0].JobId == server.JobId and entries[0].WaveNumber == number
        assert entries[0].Message


@SETTINGS
@given(record=execution_records())
def test_p18_every_record_validates_against_the_json_schema(record: ExecutionRecord) -> None:
    """Property 18 (Req 5.5): schema compliance, and no null where §5 needs a value."""
    data = json.loads(json.dumps(record.to_dict()))
    VALIDATOR.validate(data)
    for key in NON_NULL_EXECUTION:
        assert data[key] is not None, key
    for wave in data["WaveStatus"]:
        for key in NON_NULL_WAVE:
            assert wave[key] is not None, key
        for server in wave["ServerResults"]:
            for key in NON_NULL_SERVER:
                assert server[key] is not None, key
    for error in data["Errors"]:
        assert error["Message"]


@SETTINGS
@given(record=execution_records(), key=st.sampled_from(NON_NULL_EXECUTION))
def test_p18_the_schema_refuses_a_null_required_field(record: ExecutionRecord, key: str) -> None:
    data = record.to_dict()
    data[key] = None
    assert not VALIDATOR.is_valid(data)


@SETTINGS
@given(record=execution_records())
def test_p18_records_read_back_from_sqlite_still_comply(record: ExecutionRecord) -> None:
    with SqliteStore(":memory:") as store:
        store.put(record)
        (got,) = store.query(plan_id=record.PlanId)
    assert got == record
    VALIDATOR.validate(got.to_dict())
