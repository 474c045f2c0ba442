"""One owner per execution (design §5, issue "Hardening" 1): two engines on one execution
never launch a server twice.

Engine A runs a plan on the virtual clock against the in-process simulator and a shared
store. At its n-th sleep (where a live engine spends its time, and where a suspended laptop
or a stopped process stalls) a second engine B tries to resume the same execution:

- while A's lease is live, B is refused (with or without ``--force``) and A finishes;
- when A stalled past its lease, B takes over (``--force``: A's process still exists),
  finishes the plan, and A, waking up, stops at its next renewal or save without launching
  or saving anything.

Either way every server of the plan is in exactly one DRS LAUNCH job, and the stored
record is the one the finishing engine wrote.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.engine import SHORT
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.errors import LeaseHeldError, LeaseLostError
from drsorch.ownership import DEFAULT_LEASE_SECONDS
from drsorch.plan import Plan, parse_plan
from drsorch.runner import Runner
from drsorch.store import MemoryStore, SqliteStore
from drsorch.wiring import World, simulated

pytestmark = pytest.mark.integration

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def setup(seed: int) -> tuple[Plan, World]:
    plan = parse_plan(make_plan(seed, waves=3, servers_per_wave=3, execution_type="MIXED"))
    world = simulated(plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=SHORT, seed=seed)
    world.options.keep_state = True  # as against AWS: the state is what B resumes from
    return plan, world


def launches_per_server(world: World) -> Counter[str]:
    assert world.sim is not None
    return Counter(
        sid for job in world.sim.jobs if job.type == "LAUNCH" for sid in job.participants
    )


def on_nth_sleep(world: World, nth: int, action: Any) -> list[int]:
    """Run ``action()`` when the engine goes to sleep for the nth time."""
    clock: Any = world.clock
    real_sleep = clock.sleep
    count = [0]

    def sleep(seconds: float) -> None:
        count[0] += 1
        if count[0] == nth:
            clock.sleep = real_sleep  # B sleeps on the same clock without re-entering
            try:
                action()
            finally:
                clock.sleep = sleep
        real_sleep(seconds)

    clock.sleep = sleep
    return count


def engine(world: World, store: Any, name: str) -> Runner:
    return Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock, holder=name)


def stores(tmp_path: Path) -> list[Any]:
    return [MemoryStore(), SqliteStore(tmp_path / "history.db")]


@SETTINGS
@given(seed=st.integers(0, 40), nth=st.integers(1, 40), force=st.booleans())
def test_a_resume_while_the_engine_is_alive_is_refused(
    tmp_path_factory: pytest.TempPathFactory, seed: int, nth: int, force: bool
) -> None:
    plan, world = setup(seed)
    store = SqliteStore(tmp_path_factory.mktemp("own") / "history.db")
    refusals: list[LeaseHeldError] = []

    def second_engine() -> None:
        world.options.takeover = force
        with pytest.raises(LeaseHeldError) as refused:
            engine(world, store, "B").resume(world.options)
        refusals.append(refused.value)

    slept = on_nth_sleep(world, nth, second_engine)
    record = engine(world, store, "A").run(plan, world.options)
    assert record.Status == "COMPLETED"
    assert launches_per_server(world) == Counter(dict.fromkeys(plan.all_server_ids(), 1))
    if slept[0] >= nth:  # the plan was still running when B tried
        (refusal,) = refusals
        assert refusal.holder == "A" and not refusal.expired
        assert "A (lease until" in str(refusal) and "never taken over" in str(refusal)
    assert store.lease_of(record.ExecutionId) is None  # released at the end
    assert store.get(record.ExecutionId) == record
    store.close()


@SETTINGS
@given(
    seed=st.integers(0, 40),
    nth=st.integers(1, 40),
    stall=st.sampled_from([DEFAULT_LEASE_SECONDS, 600.0, 3600.0]),
    sqlite=st.booleans(),
)
def test_a_stalled_engine_taken_over_stops_and_nothing_launches_twice(
    tmp_path_factory: pytest.TempPathFactory, seed: int, nth: int, stall: float, sqlite: bool
) -> None:
    plan, world = setup(seed)
    db = tmp_path_factory.mktemp("own") / "history.db"
    store: Any = SqliteStore(db) if sqlite else MemoryStore()
    finished: list[Any] = []

    def stall_then_take_over() -> None:
        world.clock.advance(stall)  # type: ignore[attr-defined]
        world.options.takeover = True  # A's process still exists: only --force takes it
        finished.append(engine(world, store, "B").resume(world.options))

    on_nth_sleep(world, nth, stall_then_take_over)
    try:
        record = engine(world, store, "A").run(plan, world.options)
    except LeaseLostError as lost:
        assert "taken over by B" in str(lost) or "held by" in str(lost)
        (record,) = finished  # B finished the plan; A stopped without a word to the store
    assert record.Status in ("COMPLETED", "FAILED")
    assert launches_per_server(world) == Counter(dict.fromkeys(plan.all_server_ids(), 1))
    assert store.get(record.ExecutionId) == record
    assert store.lease_of(record.ExecutionId) is None
    store.close()


def test_an_expired_lease_needs_force_unless_its_holder_is_gone() -> None:
    plan, world = setup(3)
    store = MemoryStore()

    def killed() -> None:
        raise KeyboardInterrupt  # stands in for a kill: see _break below

    a = engine(world, store, "ops@elsewhere pid 12 #00000000")
    a._break = lambda state, message: None  # type: ignore[method-assign]
    on_nth_sleep(world, 5, killed)
    with pytest.raises(KeyboardInterrupt):
        a.run(plan, world.options)
    world.clock.advance(DEFAULT_LEASE_SECONDS)  # type: ignore[attr-defined]
    with pytest.raises(LeaseHeldError) as refused:
        engine(world, store, "B").resume(world.options)
    assert refused.value.expired and "--force" in str(refused.value)
    world.options.takeover = True
    record = engine(world, store, "B").resume(world.options)
    assert record.Status == "COMPLETED"
    assert launches_per_server(world) == Counter(dict.fromkeys(plan.all_server_ids(), 1))


def test_the_lease_is_renewed_through_a_long_wait_between_waves() -> None:
    """A wave that waits an hour for its dependency: the engine renews while it sleeps, so
    its lease never lapses and no resume can take the execution."""
    raw = make_plan(5, waves=2, servers_per_wave=1)
    raw["Waves"][0]["WaitTimeSeconds"] = 3600
    plan = parse_plan(raw)
    world = simulated(plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=SHORT, seed=5)
    world.options.keep_state = True
    store = MemoryStore()
    seen: list[float] = []  # every time the lease was claimed, renewed or renewed by a save
    real_claim, real_renew, real_put = store.claim, store.renew, store.put_parts

    def claim(execution_id: str, lease: Any, now: float, *, takeover: bool = False) -> None:
        seen.append(lease.expires_at - DEFAULT_LEASE_SECONDS)
        real_claim(execution_id, lease, now, takeover=takeover)

    def renew(execution_id: str, lease: Any) -> None:
        seen.append(lease.expires_at - DEFAULT_LEASE_SECONDS)
        real_renew(execution_id, lease)

    def put_parts(parts: Any, state: Any = None, *, lease: Any = None) -> None:
        if lease is not None:
            seen.append(lease.expires_at - DEFAULT_LEASE_SECONDS)
        real_put(parts, state, lease=lease)

    store.claim, store.renew, store.put_parts = claim, renew, put_parts  # type: ignore[method-assign]
    record = engine(world, store, "A").run(plan, world.options)
    assert record.Status == "COMPLETED"
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    # Renewed once a third of its life passed, checked at least every third: never later
    # than two thirds, so the lease never comes near lapsing.
    assert seen and max(gaps, default=0) <= DEFAULT_LEASE_SECONDS * 2 / 3 + 1e-6
    assert seen[-1] - seen[0] > 3600


def test_resume_cli_names_the_holder_of_a_live_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's repro: ``drsorch resume ID --aws`` while ``drsorch run --aws`` lives."""
    from click.testing import CliRunner

    import drsorch.cli.run as run_module
    from drsorch.cli import main

    plan, world = setup(2)
    world.options.environment = "aws"
    db = tmp_path / "history.db"
    store = SqliteStore(db)
    results: list[Any] = []
    monkeypatch.setattr(run_module, "real_aws", lambda plan, **kw: world)
    monkeypatch.setattr(run_module, "RealClock", lambda: world.clock)

    def operator_resumes() -> None:
        for extra in ([], ["--force"]):
            results.append(
                CliRunner().invoke(
                    main,
                    ["resume", world.options.execution_id, "--aws", "--store", str(db), *extra],
                )
            )

    on_nth_sleep(world, 3, operator_resumes)
    record = engine(world, store, "ops@laptop pid 4242 #12345678").run(plan, world.options)
    assert record.Status == "COMPLETED"
    for result in results:
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert "ops@laptop pid 4242" in result.stderr and "lease until" in result.stderr
    assert launches_per_server(world) == Counter(dict.fromkeys(plan.all_server_ids(), 1))
    store.close()


def test_a_killed_engine_not_yet_reaped_is_gone() -> None:
    """``kill -9`` leaves a zombie until its parent collects it; it still answers signal 0,
    but it drives nothing: its lease may be taken over. A live process may not."""
    import socket
    import subprocess
    import sys

    from drsorch.ownership import holder_is_gone

    host = socket.gethostname()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        if not hasattr(os, "waitid") or not os.path.isdir("/proc/self"):
            pytest.skip("no waitid or /proc here to make and tell a zombie")
        os.waitid(os.P_PID, ended.pid, os.WEXITED | os.WNOWAIT)  # ended, left unreaped
        assert _zombie(ended.pid)
        assert holder_is_gone(f"ops@{host} pid {ended.pid} #00000000")
        assert not holder_is_gone(f"ops@{host} pid {alive.pid} #00000000")
    finally:
        alive.kill()
        alive.wait()
        ended.wait()
    assert holder_is_gone(f"ops@{host} pid {ended.pid} #00000000")  # reaped: gone too


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return b") Z " in stat.read()
    except OSError:
        return False
