"""Closing a simulated execution whose engine is gone (``drsorch resume`` on it).

A simulated execution lives in its engine's process: the simulated region ends with it. An
engine killed without a word (``kill -9``, an out-of-memory kill, a machine that went down)
leaves its record RUNNING, and no engine can ever continue it, since nothing of its region
was saved. :func:`close_abandoned` is the record such an execution ends with: FAILED, what
was in flight named, nothing invented. :func:`abandoned_holder` decides, from the
execution's lease, whether its engine is surely gone (the rules of
:mod:`drsorch.ownership`: a holder on this host whose process is gone, or an expired lease
with ``--force``); a live engine is never closed under its feet.

Executions against AWS are not closed this way: their jobs and instances exist, and
``drsorch resume --aws`` continues them from their saved state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.errors import RefusedError
from drsorch.history import ExecutionRecord, ServerResult, WaveRecord
from drsorch.ownership import DEFAULT_LEASE_SECONDS, holder_is_gone, new_holder
from drsorch.store.base import HistoryStore, Lease, LeaseStore, check_claim

__all__ = ["abandoned_holder", "close_abandoned", "close_in_store", "is_simulated"]

#: Said of a server whose launch was under way when its engine stopped.
UNKNOWN_OUTCOME = (
    "its engine stopped before the outcome was known (the simulated region ended with it)"
)


def is_simulated(record: ExecutionRecord) -> bool:
    """Whether ``record`` ran on drsorch's simulator (in its engine's process)."""
    return record.Environment is not None and record.Environment.Kind == "simulator"


def abandoned_holder(
    execution_id: str, current: Lease | None, now: float, *, force: bool
) -> tuple[str, float]:
    """Who drove ``execution_id`` and the time from which its lease may be taken, when its
    engine is surely gone; raises LeaseHeldError (naming the holder) otherwise.

    Gone: nobody holds the lease (it was released, or never taken); its holder ran on this
    host and its process no longer exists (a simulated clock may have put the lease's end
    far ahead: a dead process holds nothing); or the lease expired and ``force`` says the
    engine is gone. A live lease of a process that may exist is never taken."""
    if current is None:
        return "an engine that left no lease", now
    if holder_is_gone(current.holder):
        return current.holder, max(now, current.expires_at)
    check_claim(execution_id, current, Lease("drsorch resume", now), now, force)
    return current.holder, now


def close_abandoned(
    record: ExecutionRecord, *, now: float, holder: str, by: str
) -> ExecutionRecord:
    """``record`` (RUNNING or PAUSED, simulated) ended FAILED at ``now`` (or at its latest
    time, if the simulated clock ran ahead of ``now``), by ``by`` because ``holder`` is gone.

    Servers never launched are CANCELLED; those whose launch was under way are FAILED,
    their outcome unknown; waves that had started are FAILED, those that had not are
    CANCELLED. What had ended stays as it was."""
    if record.Status.terminal:
        raise RefusedError(f"execution {record.ExecutionId} already ended {record.Status.value}")
    if not is_simulated(record):
        raise RefusedError(
            f"execution {record.ExecutionId} ran against AWS: resume it with --aws; its "
            "jobs and instances are there"
        )
    end = max([now, *_times(record)])
    waves = [_closed_wave(wave, end) for wave in record.WaveStatus]
    failed = sum(s["Status"] == ServerStatus.FAILED for w in waves for s in w["ServerResults"])
    message = (
        f"its engine ({holder}) stopped without finishing (killed, or its machine went "
        "down); a simulated execution cannot be resumed, its region ended with that "
        f"process: recorded FAILED by {by} with drsorch resume"
    )
    closed = record.to_dict()
    closed.update(
        Status=ExecutionStatus.FAILED.value,
        EndTime=end,
        Duration=end - record.StartTime,
        FailedServerCount=failed if record.FailedServerCount is not None else None,
        Errors=[*closed["Errors"], {"Message": message}],
        WaveStatus=waves,
    )
    return ExecutionRecord.model_validate(closed)  # every rule of a record checked again


def _times(record: ExecutionRecord) -> Iterator[float]:
    """Every time the record holds (none of them may come after its EndTime)."""
    yield record.StartTime
    for wave in record.WaveStatus:
        yield from (t for t in (wave.StartTime, wave.EndTime, wave.ApprovedTime) if t)
        for s in wave.ServerResults:
            yield from (t for t in (s.StartTime, s.LaunchedTime, s.HealthyTime, s.EndTime) if t)


def _closed_wave(wave: WaveRecord, end: float) -> dict[str, Any]:
    closed = wave.to_dict()
    if wave.Status.terminal:
        return closed
    servers = [_closed_server(s, end) for s in wave.ServerResults]
    started = wave.StartTime is not None or any(s.StartTime is not None for s in wave.ServerResults)
    closed.update(
        Status=(WaveStatus.FAILED if started else WaveStatus.CANCELLED).value,
        EndTime=end if wave.StartTime is not None else None,
        ServerResults=servers,
    )
    return closed


def _closed_server(server: ServerResult, end: float) -> dict[str, Any]:
    closed = server.to_dict()
    if server.Status is ServerStatus.PENDING:
        closed["Status"] = ServerStatus.CANCELLED.value
    elif not server.Status.terminal:
        closed.update(Status=ServerStatus.FAILED.value, EndTime=end, Error=UNKNOWN_OUTCOME)
    return closed


def close_in_store(
    store: HistoryStore, execution_id: str, *, now: float, force: bool, by: str
) -> ExecutionRecord:
    """Close the simulated execution ``execution_id`` of ``store`` as FAILED, once its engine
    is surely gone (:func:`abandoned_holder`): its lease is taken, the closed record saved
    under it (so a racing engine or closer cannot both write), and the lease given up."""
    record = store.get(execution_id)
    if record is None:
        raise RefusedError(f"no execution {execution_id} in the history store")
    leases = store if isinstance(store, LeaseStore) else None
    current = leases.lease_of(execution_id) if leases else None
    holder, claim_at = abandoned_holder(execution_id, current, now, force=force)
    closed = close_abandoned(record, now=now, holder=holder, by=by)
    if leases is None:
        store.put(closed)
        return closed
    ours = Lease(new_holder(), claim_at + DEFAULT_LEASE_SECONDS)
    leases.claim(execution_id, ours, claim_at, takeover=True)
    try:
        # Read again under the lease: another resume may have closed it meanwhile.
        again = store.get(execution_id)
        if again is not None and again.Status.terminal:
            raise RefusedError(f"execution {execution_id} already ended {again.Status.value}")
        store.put(closed, lease=ours)
    finally:
        leases.release(execution_id, ours.holder)
    return closed
