"""Seed properties 15 and 18 of the execution history (Req 5), on the record model and the
stores. Properties 14, 16 and 17 are about what the engine writes, so they are checked on the
records the Runner itself saved: tests/property/test_engine_history_properties.py."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.history import EXECUTION_FIELDS, execution_records

from drsorch.core.statuses import WaveStatus
from drsorch.history import ExecutionRecord, json_schema
from drsorch.store import SqliteStore

pytestmark = pytest.mark.property

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALIDATOR = jsonschema.Draft202012Validator(json_schema())

#: Fields §5 says always have a value (never null), per level of the record.
#: Optional parts of a record (null until they apply, or on older records).
OPTIONAL_EXECUTION = (
    "EndTime",
    "Duration",
    "Notification",
    "Environment",
    "Cleanup",
    "FailedServerCount",
    "RtoTargetSeconds",
)
NON_NULL_EXECUTION = tuple(f for f in EXECUTION_FIELDS if f not in OPTIONAL_EXECUTION)
NON_NULL_WAVE = ("WaveNumber", "WaveName", "Status", "ServerResults")
NON_NULL_SERVER = ("ServerId", "Status")


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
