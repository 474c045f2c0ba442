"""One contract for every history store (issue 9, item 3): the same tests run on each
adapter. A record is kept in parts (summary, one part per wave, engine state); a save may
write the summary and only the waves that changed, and a reader always gets the whole
record back.

Adapters: the in-memory fake, SQLite (a file in tmp_path) and DynamoDB (one table on moto,
tests/integration/test_dynamodb_store.py has its own tests). A store that cannot write
all parts in one transaction is held to the weaker rule in :class:`HistoryStore`'s
docstring; SQLite's transaction makes a failure in the middle of a save leave nothing.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from tests.utils.dynamo import dynamo_store
from tests.utils.engine import FAST_TIMING
from tests.utils.history import make_record, make_records
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.errors import LeaseLostError, StoreError
from drsorch.history import ExecutionRecord
from drsorch.plan import parse_plan
from drsorch.runner import Runner
from drsorch.sim import Scenario
from drsorch.store import MemoryStore, SqliteStore
from drsorch.store.base import (
    WHOLE_STATE,
    HistoryStore,
    Lease,
    RecordParts,
    StateParts,
    join_state,
    parts_of,
    split_state,
)
from drsorch.wiring import simulated

pytestmark = pytest.mark.integration

Factory = Callable[[], HistoryStore]


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    opened: list[HistoryStore] = []

    def make() -> HistoryStore:
        store: HistoryStore
        if request.param == "memory":
            store = MemoryStore()
        elif request.param == "sqlite":
            store = SqliteStore(tmp_path / "h.db")
        else:  # every store of a test on one table, as every SQLite store on one file
            store = dynamo_store(create=not opened)
        opened.append(store)
        return store

    with contextlib.ExitStack() as stack:
        if request.param == "dynamodb":
            stack.enter_context(mock_aws())
        yield make
        for store in opened:
            store.close()


def renamed(record: ExecutionRecord, wave_index: int, name: str) -> ExecutionRecord:
    """``record`` with one wave renamed and the plan renamed: a change to one wave part and
    to the summary."""
    data = record.to_dict()
    data["PlanName"] = f"{data['PlanName']} ({name})"
    data["WaveStatus"][wave_index]["WaveName"] = name
    return ExecutionRecord.from_dict(data)


def test_every_record_round_trips_unchanged(make_store: Factory) -> None:
    store = make_store()
    records = make_records(12, seed=5)
    for record in records:
        store.put(record)
    for record in records:
        assert store.get(record.ExecutionId) == record
    newest_first = sorted(records, key=lambda r: (r.StartTime, r.ExecutionId), reverse=True)
    assert store.query(limit=50) == newest_first


def test_a_save_of_some_waves_keeps_the_others(make_store: Factory) -> None:
    store = make_store()
    record = make_record(21, Status="RUNNING")
    assert len(record.WaveStatus) >= 2
    store.put(record)
    last = len(record.WaveStatus) - 1
    changed = renamed(record, last, "changed")
    number = changed.WaveStatus[last].WaveNumber
    store.put_parts(parts_of(changed, [number]))
    assert store.get(record.ExecutionId) == changed
    # Only what was given is written: a wave left out keeps what was saved before.
    again = renamed(changed, 0, "not saved")
    store.put_parts(parts_of(again, []))
    stored = store.get(record.ExecutionId)
    assert stored is not None
    assert stored.PlanName == again.PlanName  # the summary is always written
    assert stored.WaveStatus == changed.WaveStatus


def test_a_whole_save_drops_waves_the_record_no_longer_has(make_store: Factory) -> None:
    store = make_store()
    record = make_record(22, Status="FAILED")
    store.put(record)
    bare = record.model_copy(update={"WaveStatus": [], "FailedServerCount": None})
    store.put(bare)  # a broken engine's last word: the summary and its errors only
    assert store.get(record.ExecutionId) == bare


def test_a_save_under_a_lease_lost_writes_no_part(make_store: Factory) -> None:
    store = make_store()
    record = make_record(23, Status="RUNNING")
    store.claim(record.ExecutionId, Lease("A", 100.0), 0.0)  # type: ignore[attr-defined]
    store.put(record, {"k": 1}, lease=Lease("A", 120.0))
    store.claim(record.ExecutionId, Lease("B", 300.0), 200.0, takeover=True)  # type: ignore[attr-defined]
    with pytest.raises(LeaseLostError):
        store.put_parts(parts_of(renamed(record, 0, "stale")), {"k": 2}, lease=Lease("A", 400.0))
    assert store.get(record.ExecutionId) == record
    assert store.get_state(record.ExecutionId) == {"k": 1}


def test_another_connection_sees_only_whole_saves(tmp_path: Path) -> None:
    """SQLite: a save that fails half-way (here a trigger refuses the second wave part, after
    the summary was written in the same transaction) leaves the record saved before."""
    store = SqliteStore(tmp_path / "h.db")
    record = make_record(24, Status="RUNNING")
    store.put(record)
    conn = sqlite3.connect(tmp_path / "h.db")
    conn.execute(
        "CREATE TRIGGER crash BEFORE INSERT ON waves WHEN NEW.record LIKE '%crash here%'"
        " BEGIN SELECT RAISE(ABORT, 'the disk went away'); END"
    )
    conn.commit()
    conn.close()
    broken = renamed(record, len(record.WaveStatus) - 1, "crash here")
    with pytest.raises(StoreError, match="the disk went away"):
        store.put(broken)
    with SqliteStore(tmp_path / "h.db", read_only=True) as reader:
        assert reader.get(record.ExecutionId) == record
    store.close()


class CountingStore:
    """Counts the wave parts each save writes, around any store."""

    def __init__(self, inner: HistoryStore) -> None:
        self.inner = inner
        self.saves: list[tuple[int, int]] = []  # (waves written, waves in the record)
        self.state_saves: list[tuple[int, int]] = []  # (state parts written, parts in all)
        self.state_names: list[list[str]] = []  # the names of the state parts written

    def put_parts(self, parts: RecordParts, state: Any = None, *args: Any, **kwargs: Any) -> None:
        self.saves.append((len(parts.waves), len(parts.wave_numbers)))
        if isinstance(state, StateParts):
            self.state_saves.append((len(state.parts), len(state.names)))
            self.state_names.append(list(state.parts))
        self.inner.put_parts(parts, state, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_engine_saves_only_the_waves_that_changed(make_store: Factory) -> None:
    inner = make_store()
    counting = CountingStore(inner)
    plan = parse_plan(make_plan(31, waves=6, servers_per_wave=2))
    clock = VirtualClock(start=DEFAULT_EPOCH)
    world = simulated(plan, seed=0, clock=clock, scenario=Scenario(timing=FAST_TIMING))
    world.options.keep_state = True  # as against AWS: every change saved at once
    runner = Runner(drs=world.drs, ec2=world.ec2, store=counting, clock=clock)  # type: ignore[arg-type]
    record = runner.run(plan, world.options)
    assert record.Status == "COMPLETED"
    assert inner.get(record.ExecutionId) == record  # the parts make the whole record
    assert counting.saves[0] == (6, 6)  # the first save writes every wave
    written = sum(w for w, _ in counting.saves)
    whole = sum(n for _, n in counting.saves)
    assert written < whole / 2, counting.saves  # later ones only what moved


# -- the engine state, in parts -------------------------------------------------------------


def engine_state(seed: int, *, run: bool) -> dict[str, Any]:
    """A real engine state: a new execution of a generated plan, or one run to its end."""
    plan = parse_plan(make_plan(seed, waves=4, servers_per_wave=3, dag=seed % 2 == 1))
    clock = VirtualClock(start=DEFAULT_EPOCH)
    world = simulated(plan, seed=seed, clock=clock, scenario=Scenario(timing=FAST_TIMING))
    world.options.keep_state = True
    store = MemoryStore()
    runner = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=clock)
    if not run:
        from drsorch.core import new_execution

        return dict(
            new_execution(
                plan,
                execution_id="5f0c6d3e-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
                now=clock.now(),
                initiated_by="t",
                source_account_id="111111111111",
                target_account_id="111111111111",
                region="us-east-1",
            )
        )
    record = runner.run(plan, world.options)
    saved = store.get_state(record.ExecutionId)
    assert saved is not None
    return saved


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("run", [False, True])
def test_a_state_split_in_parts_joins_back_unchanged(seed: int, run: bool) -> None:
    state = json.loads(json.dumps(engine_state(seed, run=run)))
    parts = split_state(state)
    assert {"plan", "core"} <= set(parts)
    assert sum(name.startswith("wave:") for name in parts) == len(state["waves"])
    assert join_state(json.loads(json.dumps(parts))) == state
    # a state whose server names a wave it does not have is kept whole
    broken = {**state, "servers": {"s-x": {"wave": 999}}}
    assert split_state(broken) == {WHOLE_STATE: broken}
    assert join_state(split_state(broken)) == broken


def test_a_save_of_some_state_parts_keeps_the_others(make_store: Factory) -> None:
    store = make_store()
    record = make_record(25, Status="RUNNING")
    state = json.loads(json.dumps(engine_state(4, run=False)))
    store.put(record, state)
    assert store.get_state(record.ExecutionId) == state
    changed = json.loads(json.dumps(state))
    changed["revision"] += 7
    changed["waves"][0]["status"] = "RUNNING"
    names = list(split_state(changed))
    wave = f"wave:{changed['waves'][0]['number']}"
    store.put_parts(parts_of(record, []), StateParts(names, {wave: split_state(changed)[wave]}))
    stored = store.get_state(record.ExecutionId)
    assert stored is not None
    assert stored["waves"][0]["status"] == "RUNNING"  # the part written
    assert stored["revision"] == state["revision"]  # "core" was not written: as it was
    store.put_parts(parts_of(record), StateParts.of(changed))
    assert store.get_state(record.ExecutionId) == changed
    store.put_parts(parts_of(record), {"whole": True})  # a whole save drops every other part
    assert store.get_state(record.ExecutionId) == {"whole": True}


def test_the_engine_saves_only_the_state_parts_that_changed(make_store: Factory) -> None:
    inner = make_store()
    counting = CountingStore(inner)
    plan = parse_plan(make_plan(32, waves=6, servers_per_wave=2))
    clock = VirtualClock(start=DEFAULT_EPOCH)
    world = simulated(plan, seed=0, clock=clock, scenario=Scenario(timing=FAST_TIMING))
    world.options.keep_state = True
    runner = Runner(drs=world.drs, ec2=world.ec2, store=counting, clock=clock)  # type: ignore[arg-type]
    record = runner.run(plan, world.options)
    assert record.Status == "COMPLETED"
    assert counting.state_saves[0][0] == counting.state_saves[0][1] == 8  # plan, core, 6 waves
    # After the preflight's save (a hostname for every server: every wave moves), each save
    # writes what moved: the core and the wave or two that changed.
    assert all(w <= n / 2 for w, n in counting.state_saves[2:]), counting.state_saves
    assert all("plan" not in names for names in counting.state_names[1:])  # written once
    saved = inner.get_state(record.ExecutionId)
    assert saved is not None and saved["status"] == "COMPLETED"
    assert saved["revision"] == runner.state["revision"]  # type: ignore[index]


def test_requests_are_taken_once_in_the_order_they_were_left(make_store: Factory) -> None:
    """``drsorch approve`` / ``cancel`` leave requests; the engine takes each once, oldest
    first, and a whole save of the record leaves them alone."""
    from drsorch.store.base import RequestStore

    store = make_store()
    assert isinstance(store, RequestStore)
    record = make_record(26, Status="PAUSED")
    store.put(record)
    assert store.take_requests(record.ExecutionId) == []
    asked = [{"kind": "approve", "wave": 2, "by": "alice"}, {"kind": "cancel", "by": "bob"}]
    for request in asked:
        store.add_request(record.ExecutionId, request)
    store.add_request("00000000-0000-4000-8000-000000000000", {"kind": "cancel"})
    store.put(record)  # a whole save (which cleans up a DynamoDB execution's old parts)
    assert store.take_requests(record.ExecutionId) == asked
    assert store.take_requests(record.ExecutionId) == []
    assert store.get(record.ExecutionId) == record
