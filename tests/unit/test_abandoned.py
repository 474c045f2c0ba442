"""Closing a simulated execution whose engine is gone (drsorch.abandoned)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.utils.history import execution_records, make_record

from drsorch.abandoned import UNKNOWN_OUTCOME, abandoned_holder, close_abandoned, close_in_store
from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.errors import LeaseHeldError, RefusedError
from drsorch.history import EnvironmentEntry, ExecutionRecord
from drsorch.store.base import Lease
from drsorch.store.memory import MemoryStore

pytestmark = pytest.mark.unit

#: A holder that ran on this host in a process that no longer exists.
GONE = f"ops@{socket.gethostname()} pid 999999999 #0badf00d"
#: A holder on another host: whether it lives cannot be known from here.
ELSEWHERE = "ops@another-host pid 4242 #0badf00d"


def _simulated(record: ExecutionRecord) -> ExecutionRecord:
    data = record.to_dict()
    data["Environment"] = EnvironmentEntry(Kind="simulator", Seed=0).to_dict()
    return ExecutionRecord.model_validate(data)


def _times(record: ExecutionRecord) -> list[float]:
    found = [record.StartTime]
    for wave in record.WaveStatus:
        found += [t for t in (wave.StartTime, wave.EndTime, wave.ApprovedTime) if t]
        for s in wave.ServerResults:
            found += [t for t in (s.StartTime, s.LaunchedTime, s.HealthyTime, s.EndTime) if t]
    return found


@given(
    record=st.one_of(execution_records("RUNNING"), execution_records("PAUSED")).map(_simulated),
    late=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
def test_a_closed_record_is_failed_whole_and_keeps_what_had_ended(
    record: ExecutionRecord, late: float
) -> None:
    now = record.StartTime + late  # before the record's own times too: a clock ran ahead
    closed = close_abandoned(record, now=now, holder=GONE, by="me@here")
    assert closed.Status is ExecutionStatus.FAILED
    assert closed.EndTime is not None and closed.EndTime >= max([now, *_times(record)])
    assert closed.Errors[:-1] == record.Errors and GONE in closed.Errors[-1].Message
    assert [w.WaveNumber for w in closed.WaveStatus] == [w.WaveNumber for w in record.WaveStatus]
    for before, after in zip(record.WaveStatus, closed.WaveStatus, strict=True):
        assert after.Status.terminal
        if before.Status.terminal:
            assert after == before
            continue
        assert after.Status in (WaveStatus.FAILED, WaveStatus.CANCELLED)
        for was, now_is in zip(before.ServerResults, after.ServerResults, strict=True):
            assert now_is.Status.terminal
            if was.Status.terminal:
                assert now_is == was
            elif was.Status is ServerStatus.PENDING:
                assert now_is.Status is ServerStatus.CANCELLED
            else:
                assert (now_is.Status, now_is.Error) == (ServerStatus.FAILED, UNKNOWN_OUTCOME)
    if record.FailedServerCount is not None:  # the record's own check holds it consistent
        assert closed.FailedServerCount is not None
        assert closed.FailedServerCount >= record.FailedServerCount


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "CANCELLED"])
def test_an_ended_execution_is_not_closed_again(status: str) -> None:
    with pytest.raises(RefusedError, match=f"already ended {status}"):
        close_abandoned(_simulated(make_record(1, Status=status)), now=0, holder=GONE, by="me")


def test_an_execution_against_aws_is_never_closed_this_way() -> None:
    record = make_record(2, Status="RUNNING")
    data = record.to_dict()
    data["Environment"] = {"Kind": "aws", "Endpoint": None, "Seed": None, "Scenario": None}
    with pytest.raises(RefusedError, match="resume it with --aws"):
        close_abandoned(ExecutionRecord.model_validate(data), now=0, holder=GONE, by="me")


def test_whose_engine_is_gone() -> None:
    now = 1_000_000.0
    assert abandoned_holder("x", None, now, force=False) == ("an engine that left no lease", now)
    # A dead process on this host holds nothing, even a lease a simulated clock put far ahead.
    assert abandoned_holder("x", Lease(GONE, now + 9e6), now, force=False) == (GONE, now + 9e6)
    with pytest.raises(LeaseHeldError, match="being driven by"):
        abandoned_holder("x", Lease(ELSEWHERE, now + 60), now, force=True)  # live: never
    with pytest.raises(LeaseHeldError, match="--force"):
        abandoned_holder("x", Lease(ELSEWHERE, now - 1), now, force=False)
    assert abandoned_holder("x", Lease(ELSEWHERE, now - 1), now, force=True) == (ELSEWHERE, now)


def _stored(holder: str, expires_at: float) -> tuple[MemoryStore, ExecutionRecord]:
    store = MemoryStore()
    record = _simulated(make_record(3, Status="RUNNING"))
    store.claim(record.ExecutionId, Lease(holder, expires_at), record.StartTime)
    store.put(record, lease=Lease(holder, expires_at))
    return store, record


def test_closed_in_the_store_under_the_lease_then_released() -> None:
    store, record = _stored(GONE, 9e12)
    closed = close_in_store(store, record.ExecutionId, now=record.StartTime, force=False, by="me")
    assert store.get(record.ExecutionId) == closed and closed.Status is ExecutionStatus.FAILED
    assert store.lease_of(record.ExecutionId) is None


def test_a_live_engine_s_execution_is_left_alone(tmp_path: Any) -> None:
    store, record = _stored(ELSEWHERE, 9e12)
    with pytest.raises(LeaseHeldError):
        close_in_store(store, record.ExecutionId, now=record.StartTime, force=True, by="me")
    assert store.get(record.ExecutionId) == record


def test_of_two_closers_at_once_only_the_first_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both read the RUNNING record; the second takes the lease after the first gave it up,
    reads again under it, and is refused: the record is closed once."""
    store, record = _stored(GONE, 9e12)
    real_get = store.get
    reads: list[str] = []

    def get(execution_id: str) -> ExecutionRecord | None:
        reads.append(execution_id)
        if len(reads) == 1:  # the second closer's first read, before the first closer ran
            close_in_store(store, execution_id, now=record.StartTime, force=False, by="first")
            return record
        return real_get(execution_id)

    monkeypatch.setattr(store, "get", get)
    with pytest.raises(RefusedError, match="already ended FAILED"):
        close_in_store(store, record.ExecutionId, now=record.StartTime, force=False, by="second")
    closed = real_get(record.ExecutionId)
    assert closed is not None and "by first" in closed.Errors[-1].Message
    assert sum("recorded FAILED by" in e.Message for e in closed.Errors) == 1
