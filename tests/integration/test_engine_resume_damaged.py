"""A damaged saved state is refused where it is loaded (issue 13.1): ``Runner.resume`` and
``drsorch resume`` stop with a message naming the execution and the damage, launch nothing,
and leave no lease behind; an intact state of the same crash resumes to the end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.utils.engine import SHORT
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.errors import StoreDamagedError
from drsorch.ownership import DEFAULT_LEASE_SECONDS
from drsorch.plan import Plan, parse_plan
from drsorch.runner import Runner
from drsorch.store import MemoryStore, SqliteStore
from drsorch.store.base import HistoryStore
from drsorch.wiring import World, simulated

pytestmark = pytest.mark.integration


class Crash(BaseException):
    """The engine dies on the spot."""


def crashed(store: HistoryStore) -> tuple[Plan, World]:
    """A run against ``store`` killed right after its second StartRecovery; the clock then
    moves past its lease, as for a resume after a crash."""
    plan = parse_plan(make_plan(3, waves=3, servers_per_wave=2, execution_type="MIXED"))
    world = simulated(plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=SHORT, seed=3)
    world.options.keep_state = True
    world.options.environment = "aws"
    real = world.drs.start_recovery
    calls = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        result = real(*args, **kwargs)
        if calls[0] == 2:
            raise Crash
        return result

    world.drs.start_recovery = dying  # type: ignore[method-assign]
    runner = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock)
    runner._break = lambda state, message: None  # type: ignore[method-assign]
    with pytest.raises(Crash):
        runner.run(plan, world.options)
    del world.drs.start_recovery
    world.clock.advance(DEFAULT_LEASE_SECONDS)  # type: ignore[attr-defined]
    world.options.takeover = True
    return plan, world


def launched(world: World) -> Counter[str]:
    """How many DRS launch jobs each server was in."""
    assert world.sim is not None
    return Counter(
        sid for job in world.sim.jobs if job.type == "LAUNCH" for sid in job.participants
    )


def damage(store: HistoryStore, execution_id: str, change: Callable[[Any], None]) -> None:
    record, state = store.get(execution_id), store.get_state(execution_id)
    assert record is not None and state is not None
    change(state)
    store.put(record, state)


def test_resume_refuses_a_damaged_state_and_launches_nothing() -> None:
    store = MemoryStore()
    _, world = crashed(store)
    eid = world.options.execution_id
    damage(store, eid, lambda s: next(iter(s["launches"].values())).update(status="LOST"))
    before = launched(world)
    with pytest.raises(StoreDamagedError) as refused:
        Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock).resume(world.options)
    assert f"the saved engine state of execution {eid} is damaged" in str(refused.value)
    assert "(found 'LOST')" in str(refused.value)
    assert launched(world) == before
    assert store.lease_of(eid) is None  # refused: the lease it claimed is given back
    record = store.get(eid)
    assert record is not None and record.Status == "RUNNING"  # nothing was written


def test_resume_of_the_same_crash_with_its_state_intact_completes() -> None:
    store = MemoryStore()
    plan, world = crashed(store)
    record = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock).resume(
        world.options
    )
    assert record.Status == "COMPLETED"
    assert launched(world) == Counter(dict.fromkeys(plan.all_server_ids(), 1))


def test_drsorch_resume_of_a_damaged_state_exits_2_naming_the_damage(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from drsorch.cli import main

    db = tmp_path / "h.db"
    with SqliteStore(db) as store:
        _, world = crashed(store)
        eid = world.options.execution_id
        damage(store, eid, lambda s: s["servers"].clear())
    result = CliRunner().invoke(main, ["resume", eid, "--aws", "--store", str(db)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"the saved engine state of execution {eid} is damaged" in result.stderr
    assert "has no server" in result.stderr
