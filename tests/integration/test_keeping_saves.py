"""Saves that cost what changed (issue 9): the keeper writes the record's waves and the
engine state's parts whose part of the state moved since its last save, a keeper of a
state just loaded starts from what the store holds, and the state is written ahead of a
launch only when the save before did not already write it.

The invariant checked after every save of real runs (faults, tolerated failures, DAGs):
the store holds exactly the record made from the whole state and exactly the state (as it
may be saved), so no change was ever left unwritten.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tests.utils.engine import FAST_TIMING, SHORT
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.core import new_execution, to_record
from drsorch.core.state import State
from drsorch.history import ExecutionRecord
from drsorch.keeping import Keeper
from drsorch.plan import parse_plan
from drsorch.redaction import for_disk
from drsorch.runner import Runner
from drsorch.sim import Fault, Scenario
from drsorch.store import MemoryStore
from drsorch.store.base import WHOLE_STATE, RecordParts, StateParts, parts_of, split_state
from drsorch.wiring import simulated

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ID = "5f0c6d3e-1a2b-4c3d-8e4f-5a6b7c8d9e0f"


def whole_record(state: State) -> ExecutionRecord:
    """The record made from scratch, without any keeper's cache."""
    return ExecutionRecord.model_validate(to_record(state))


def as_saved(state: State) -> Any:
    return json.loads(json.dumps(for_disk(state)))


class Watching(MemoryStore):
    """A MemoryStore that counts what each save writes and, after it, checks the store
    against the live state (``live``: the runner's state, set once the run starts)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: Callable[[], State | None] = lambda: None
        self.waves: list[list[int]] = []  # the record waves each save wrote
        self.parts: list[list[str] | None] = []  # the state parts each save wrote
        self.checked = 0

    def put_parts(
        self,
        parts: RecordParts,
        state: Any = None,
        *,
        lease: Any = None,
    ) -> None:
        super().put_parts(parts, state, lease=lease)
        self.waves.append(sorted(parts.waves))
        self.parts.append(list(state.parts) if isinstance(state, StateParts) else None)
        live = self.live()
        if live is None:
            return
        assert self.get(parts.execution_id) == whole_record(live)
        if state is not None:
            assert self.get_state(parts.execution_id) == as_saved(live)
        self.checked += 1


def new_state(waves: int = 4, servers: int = 2) -> State:
    plan = parse_plan(make_plan(5, waves=waves, servers_per_wave=servers))
    return new_execution(
        plan,
        execution_id=ID,
        now=DEFAULT_EPOCH,
        initiated_by="t",
        source_account_id="111111111111",
        target_account_id="111111111111",
        region="us-east-1",
    )


def server_of(state: State, wave: int) -> dict[str, Any]:
    sid = state["waves"][wave - 1]["order"][0]
    return state["servers"][sid]  # type: ignore[return-value]


def keeper_for(store: MemoryStore, *, keep_state: bool = True) -> Keeper:
    keeper = Keeper(store, VirtualClock(start=DEFAULT_EPOCH), keep_state=keep_state)
    keeper.claim(ID)
    return keeper


# -- what one save writes --------------------------------------------------------------------


@pytest.mark.parametrize("keep_state", [True, False])
def test_a_save_writes_only_the_wave_whose_part_moved(keep_state: bool) -> None:
    store, state = Watching(), new_state()
    keeper = keeper_for(store, keep_state=keep_state)
    keeper.save(state, force=True)
    assert store.waves[-1] == [1, 2, 3, 4]
    server_of(state, 3).update({"status": "FAILED", "error": "boom", "end_time": 5.0})
    state["revision"] += 1
    keeper.save(state, force=True)
    assert store.waves[-1] == [3]
    assert store.parts[-1] == (["core", "wave:3"] if keep_state else None)
    assert store.get(ID) == whole_record(state)
    if keep_state:
        assert store.get_state(ID) == as_saved(state)


def test_a_change_the_record_does_not_show_writes_the_state_part_only() -> None:
    store, state = Watching(), new_state()
    keeper = keeper_for(store)
    keeper.save(state, force=True)
    server_of(state, 2)["polls"] = 3  # not in the record
    keeper.save(state, force=True)
    assert store.waves[-1] == []
    assert store.parts[-1] == ["wave:2"]
    assert store.get_state(ID) == as_saved(state)


def test_a_change_inside_a_nested_value_is_seen() -> None:
    """The copies are deep: a list or dict changed in place still moves its part."""
    store, state = Watching(), new_state()
    keeper = keeper_for(store)
    server_of(state, 1)["last_seen"] = {"state": "pending", "instance_status": None}  # type: ignore[typeddict-item]
    keeper.save(state, force=True)
    server_of(state, 1)["last_seen"]["state"] = "running"
    state["waves"][1]["deps"].append(1)
    keeper.save(state, force=True)
    assert store.parts[-1] == ["wave:1", "wave:2"]
    assert store.waves[-1] == [2]  # DependsOn is in the record, last_seen is not
    assert store.get_state(ID) == as_saved(state)
    assert store.get(ID) == whole_record(state)


def test_a_server_listed_in_another_wave_part_is_always_made_again() -> None:
    """A wave's record shows its ``order``; a server of it kept in another wave's part
    (a state the core never makes) still shows its changes."""
    store, state = Watching(), new_state()
    keeper = keeper_for(store, keep_state=False)
    stray = state["waves"][0]["order"][0]
    state["servers"][stray]["wave"] = 2
    keeper.save(state, force=True)
    state["servers"][stray]["hostname"] = "moved-host"
    keeper.save(state, force=True)
    assert store.get(ID) == whole_record(state)


def test_the_state_kept_after_saves_without_it_is_written_whole() -> None:
    store, state = Watching(), new_state()
    keeper = keeper_for(store, keep_state=False)
    keeper.save(state, force=True)
    keeper.keep_state = True
    state["revision"] += 1
    keeper.save(state, force=True)
    assert store.parts[-1] == list(split_state(for_disk(state)))
    assert store.get_state(ID) == as_saved(state)


# -- ahead of a launch -----------------------------------------------------------------------


def test_the_state_is_written_ahead_of_a_launch_unless_saved_at_its_revision() -> None:
    store, state = Watching(), new_state()
    keeper = keeper_for(store)
    keeper.save(state, force=True)
    keeper.save_ahead_of_launch(state)  # saved at this very revision: nothing to write
    assert len(store.waves) == 1
    state["revision"] += 1
    state["launches"]["t:1"] = {
        "wave": 1,
        "servers": list(state["waves"][0]["order"]),
        "job_id": None,
        "status": "SENT",  # type: ignore[typeddict-item]
        "not_before": None,
        "requeues": 0,
        "sent_at": 1.0,
        "first_sent_at": 1.0,
        "maybe_sent": False,
    }
    keeper.save_ahead_of_launch(state)
    assert len(store.waves) == 2
    assert store.get_state(ID) == as_saved(state)
    unkept = keeper_for(Watching(), keep_state=False)
    unkept.save_ahead_of_launch(state)  # a simulation keeps no state: nothing
    assert unkept.saved_status is None


# -- a keeper of a state just loaded ---------------------------------------------------------


def saved_then_loaded(*, record: bool = True) -> tuple[Watching, Keeper, State]:
    store, state = Watching(), new_state()
    first = keeper_for(store)
    first.save(state, force=True)
    server_of(state, 1).update({"status": "LAUNCHING", "start_time": 2.0})
    state["revision"] += 1
    first.save(state, force=True)
    again = Keeper(store, first.clock, holder=first.holder)
    again.claim(ID)
    if record:
        loaded = again.load(ID)
    else:
        from drsorch.core.state import load_state

        loaded = load_state(store.get_state(ID), execution_id=ID)
        again.loaded(loaded)
    assert loaded == state
    return store, again, loaded


def test_a_resumed_keeper_first_writes_only_what_moved() -> None:
    store, keeper, state = saved_then_loaded()
    before = len(store.waves)
    keeper.save(state, force=True)  # nothing moved: the summary alone
    assert store.waves[before:] == [[]] and store.parts[before:] == [[]]
    server_of(state, 2).update({"status": "LAUNCHING", "start_time": 3.0})
    state["revision"] += 1
    keeper.save(state)
    assert store.waves[-1] == [2]
    assert store.parts[-1] == ["core", "wave:2"]
    assert store.get(ID) == whole_record(state)
    assert store.get_state(ID) == as_saved(state)


def test_loaded_without_the_record_writes_its_waves_once() -> None:
    store, keeper, state = saved_then_loaded(record=False)
    keeper.save(state, force=True)
    assert store.waves[-1] == [1, 2, 3, 4]  # the record's waves: not known to be stored
    assert store.parts[-1] == []  # the state's parts: as loaded
    keeper.save(state, force=True)
    assert store.waves[-1] == []


def test_a_state_of_an_older_layout_is_saved_whole_after_its_load() -> None:
    store, state = Watching(), new_state()
    old = {**as_saved(state), "version": 1}  # stored as one part, as before the split
    store.put_parts(parts_of(whole_record(state)), StateParts([WHOLE_STATE], {WHOLE_STATE: old}))
    resumed = keeper_for(store)
    loaded = resumed.load(ID)
    resumed.save(loaded, force=True)
    assert store.parts[-1] == list(split_state(for_disk(loaded)))  # all of it
    assert store.get_state(ID) == as_saved(loaded)


# -- real runs, checked after every save -----------------------------------------------------

RUNS = {
    "chain": (make_plan(3, waves=5, servers_per_wave=3), []),
    "dag, mixed": (make_plan(4, waves=6, servers_per_wave=2, dag=True, execution_type="MIXED"), []),
    "faults": (
        make_plan(6, waves=4, servers_per_wave=3),
        [
            Fault(kind="launch_failure", nth=2),
            Fault(kind="throttle", operation="DescribeJobs", times=3),
            Fault(kind="connection_reset", operation="StartRecovery", phase="after", nth=1),
        ],
    ),
}


@pytest.mark.parametrize("save_every", [0.0, 3600.0])
@pytest.mark.parametrize("keep_state", [True, False])
@pytest.mark.parametrize("name", sorted(RUNS))
def test_after_every_save_the_store_holds_the_whole_record_and_state(
    name: str, keep_state: bool, save_every: float
) -> None:
    data, faults = RUNS[name]
    plan = parse_plan(data)
    clock = VirtualClock(start=DEFAULT_EPOCH)
    world = simulated(plan, seed=1, clock=clock, scenario=Scenario(timing=FAST_TIMING))
    assert world.sim is not None
    for fault in faults:
        world.sim.add_fault(fault)
    world.options.keep_state, world.options.save_every = keep_state, save_every
    store = Watching()
    runner = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=clock)
    store.live = lambda: runner.state
    record = runner.run(plan, world.options)
    assert record == whole_record(runner.state)  # type: ignore[arg-type]
    assert store.checked == len(store.waves) > 2
    if save_every == 0.0:  # (coalesced, a short run saves a few times, each moving much)
        written = sum(len(w) for w in store.waves[1:])
        assert written < len(plan.waves) * (len(store.waves) - 1) / 2  # what moved, not all


def test_a_kept_run_writes_the_state_ahead_of_each_launch_once() -> None:
    """Every StartRecovery goes out with the state saved at its revision (write-ahead), but
    the state of a step already saved is not saved again ahead of its launches."""
    plan = parse_plan(make_plan(2, waves=3, servers_per_wave=2, execution_type="MIXED"))
    world = simulated(plan, seed=2, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=SHORT)
    world.options.keep_state, world.options.save_every = True, 3600.0
    store = Watching()
    runner = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock)
    saved_at: list[int] = []
    real_put = store.put_parts

    def put_parts(parts: RecordParts, state: Any = None, *, lease: Any = None) -> None:
        saved_at.append(live()["revision"])
        real_put(parts, state, lease=lease)

    def live() -> State:
        assert runner.state is not None
        return runner.state

    launched: list[int] = []
    real_start = world.drs.start_recovery

    def start_recovery(*args: Any, **kwargs: Any) -> Any:
        stored = store.get_state(live()["execution_id"])
        assert stored == as_saved(live())  # the launch is named in the saved state
        launched.append(live()["revision"])
        return real_start(*args, **kwargs)

    store.put_parts = put_parts  # type: ignore[method-assign]
    world.drs.start_recovery = start_recovery  # type: ignore[method-assign]
    record = runner.run(plan, world.options)
    assert record.Status == "COMPLETED"
    assert len(launched) >= len(plan.waves)
    assert len(saved_at) == len(set(saved_at)), saved_at  # no state saved twice
