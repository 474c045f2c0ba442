"""Exit 3 still leaves a FAILED record (invariant 5), even when what broke is the engine
state itself, so that no valid record can be made of it."""

from __future__ import annotations

from typing import Any

import pytest
from tests.utils.engine import SHORT
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.plan import parse_plan
from drsorch.runner import EngineError, Runner
from drsorch.store import MemoryStore
from drsorch.wiring import simulated

pytestmark = pytest.mark.integration


class Corrupting:
    """An observer with a bug: from its nth update on, it breaks a time in the state."""

    def __init__(self, nth: int) -> None:
        self.nth, self.calls = nth, 0

    def update(self, state: Any) -> None:
        self.calls += 1
        if self.calls >= self.nth:
            first = next(iter(state["servers"].values()))
            first["start_time"] = -1.0  # a negative time makes no valid ServerResult
            state["revision"] += 1


@pytest.mark.parametrize("nth", [1, 2, 5])
def test_a_state_that_makes_no_valid_record_still_ends_failed(nth: int) -> None:
    plan = parse_plan(make_plan(1, waves=2, servers_per_wave=2))
    world = simulated(plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=SHORT, seed=1)
    store = MemoryStore()
    runner = Runner(
        drs=world.drs, ec2=world.ec2, store=store, clock=world.clock, observer=Corrupting(nth)
    )
    with pytest.raises(EngineError) as broke:
        runner.run(plan, world.options)
    record = store.get(world.options.execution_id)
    assert record is not None and record.Status == "FAILED"
    assert broke.value.record is not None and broke.value.record.Status == "FAILED"
    assert any("internal error" in e.Message for e in record.Errors)
    assert record.EndTime is not None
    assert store.lease_of(world.options.execution_id) is None
