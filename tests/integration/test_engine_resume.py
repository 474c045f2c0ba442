"""Invariant 5: a crashed engine resumes from its saved state and never launches twice.

A crash here is a hard stop, as SIGKILL would be: the runner gets no chance to finalize
its record or give its lease up (``_break`` is disabled), so what is left is the state it
saved last and a lease that nobody renews. A new runner then resumes that state against
the same simulated region, after some downtime: within the dead engine's lease it is
refused, after it, it takes the execution over.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.engine import SHORT
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.errors import LeaseHeldError
from drsorch.ownership import DEFAULT_LEASE_SECONDS
from drsorch.plan import Plan, parse_plan
from drsorch.runner import Runner
from drsorch.store import MemoryStore
from drsorch.wiring import World, simulated

SETTINGS = settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])


class Crash(BaseException):
    """The engine dies on the spot."""


def world_for(seed: int, save_every: float = 0.0) -> tuple[Plan, World, MemoryStore]:
    plan = parse_plan(make_plan(seed, waves=3, servers_per_wave=2, execution_type="MIXED"))
    world = simulated(plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=SHORT, seed=seed)
    world.options.save_every = save_every
    world.options.keep_state = True  # as a run against AWS does
    return plan, world, MemoryStore()


def runner(world: World, store: MemoryStore, *, killable: bool = False) -> Runner:
    r = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock)
    if killable:
        r._break = lambda state, message: None  # type: ignore[method-assign]
    return r


def crash_on(world: World, method: str, nth: int, *, after: bool) -> None:
    """Make the nth call of an adapter method kill the engine, before or after it acts."""
    target: Any = world.drs if hasattr(world.drs, method) else world.ec2
    real = getattr(target, method)
    calls = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == nth and not after:
            raise Crash
        result = real(*args, **kwargs)
        if calls[0] == nth and after:
            raise Crash
        return result

    setattr(target, method, dying)


def crash_and_resume(
    plan: Plan, world: World, store: MemoryStore, downtime: float
) -> tuple[Any, dict[str, Any]]:
    with pytest.raises(Crash):
        runner(world, store, killable=True).run(plan, world.options)
    saved = store.get_state(world.options.execution_id)
    assert saved is not None and saved["status"] == "RUNNING"
    for obj in (world.drs, world.ec2):  # the restarted engine has healthy adapters
        for name in [n for n in vars(obj) if not n.startswith("_")]:
            delattr(obj, name)
    world.clock.advance(downtime)  # type: ignore[attr-defined]
    if downtime < DEFAULT_LEASE_SECONDS:  # the dead engine's lease is still live
        with pytest.raises(LeaseHeldError):
            runner(world, store).resume(world.options)
        world.clock.advance(DEFAULT_LEASE_SECONDS)  # type: ignore[attr-defined]
    world.options.takeover = True  # the dead holder is this very process: --force
    return runner(world, store).resume(world.options), saved


def launches_per_server(world: World) -> Counter[str]:
    assert world.sim is not None
    return Counter(
        sid for job in world.sim.jobs if job.type == "LAUNCH" for sid in job.participants
    )


@SETTINGS
@given(
    nth=st.integers(1, 4),
    after=st.booleans(),
    seed=st.integers(0, 50),
    downtime=st.sampled_from([0.0, 45.0, 600.0, 3000.0]),
    save_every=st.sampled_from([0.0, 3600.0]),
)
def test_crash_around_a_launch_never_launches_twice(
    nth: int, after: bool, seed: int, downtime: float, save_every: float
) -> None:
    """A crash just before or just after a StartRecovery reached DRS: the resumed engine
    looks for the job by its token, adopts it if it exists, launches it if it does not,
    and the plan completes with every server in exactly one DRS job. With saves coalesced
    (``save_every``), the state is still written ahead of every StartRecovery."""
    plan, world, store = world_for(seed, save_every)
    crash_on(world, "start_recovery", nth, after=after)
    record, _ = crash_and_resume(plan, world, store, downtime)
    assert record.Status == "COMPLETED"
    assert launches_per_server(world) == Counter(dict.fromkeys(plan.all_server_ids(), 1))
    assert record.ExecutionId == world.options.execution_id
    assert store.get(record.ExecutionId) == record


#: How many times the first engine calls each poll on world_for's plan, at least, for every
#: seed drawn: DescribeJobs every 30 s (12 to 14 times), the other two 4 times each (one per
#: launch here). Drawing nth up to 12 for all three made nearly a third of the examples
#: crash nowhere: a whole run that checked nothing.
POLLS = {"describe_jobs": 12, "describe_instance_status": 4, "describe_recovery_instances": 4}


# 11 examples: as many crashes as the 15 examples whose nth could miss every call gave.
@settings(SETTINGS, max_examples=11)
@given(
    poll=st.sampled_from(sorted(POLLS)).flatmap(
        lambda method: st.tuples(st.just(method), st.integers(1, POLLS[method]))
    ),
    seed=st.integers(0, 50),
)
def test_crash_while_polling_resumes_to_the_end(poll: tuple[str, int], seed: int) -> None:
    """A crash during the polls: the resumed engine polls again and completes the plan."""
    method, nth = poll
    plan, world, store = world_for(seed)
    crash_on(world, method, nth, after=False)
    try:
        record, _ = crash_and_resume(plan, world, store, 120.0)
    except pytest.fail.Exception as exc:  # Crash not raised: the run ended first
        pytest.fail(f"fewer than {nth} {method} calls: POLLS is out of date ({exc})")
    assert record.Status == "COMPLETED"
    assert launches_per_server(world) == Counter(dict.fromkeys(plan.all_server_ids(), 1))


def test_resume_of_a_finished_execution_changes_nothing() -> None:
    plan, world, store = world_for(1)
    record = runner(world, store).run(plan, world.options)
    state = store.get_state(record.ExecutionId)
    assert state is not None
    again = runner(world, store).resume(world.options)
    assert again == record


@pytest.mark.parametrize("nth", [1, 2, 3, 4])
def test_launch_lost_with_the_engine_between_coalesced_saves(nth: int) -> None:
    """The hardest case: saves are coalesced, the engine dies right after DRS accepted the
    nth StartRecovery (a later server of a SEQUENTIAL wave, with no wave change to force a
    save), and the restart comes after that job already finished. The state written ahead
    of the launch makes the resumed engine adopt the job instead of launching again."""
    plan, world, store = world_for(7, save_every=3600.0)
    crash_on(world, "start_recovery", nth, after=True)
    record, _ = crash_and_resume(plan, world, store, 3000.0)
    assert record.Status == "COMPLETED"
    assert launches_per_server(world) == Counter(dict.fromkeys(plan.all_server_ids(), 1))


# -- drsorch resume ------------------------------------------------------------------------


#: A holder that ran on this host in a process that no longer exists.
GONE = f"ops@{__import__('socket').gethostname()} pid 999999999 #0badf00d"


def crashed_into(db: Any, *, environment: str, holder: str = GONE) -> tuple[World, str]:
    """A run killed after its second launch, recorded in the SQLite file ``db``; the
    clock then moves past its lease."""
    from drsorch.store import SqliteStore

    plan, world, _ = world_for(3)
    world.options.environment = environment
    crash_on(world, "start_recovery", 2, after=True)
    with SqliteStore(db) as store, pytest.raises(Crash):
        r = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock, holder=holder)
        r._break = lambda state, message: None  # type: ignore[method-assign]
        r.run(plan, world.options)
    for name in [n for n in vars(world.drs) if not n.startswith("_")]:
        delattr(world.drs, name)
    world.clock.advance(DEFAULT_LEASE_SECONDS)  # type: ignore[attr-defined]
    return world, world.options.execution_id


def resume_cli(db: Any, *args: str) -> Any:
    from click.testing import CliRunner

    from drsorch.cli import main

    result = CliRunner().invoke(main, ["resume", *args, "--store", str(db)])
    assert "Traceback" not in result.output
    return result


def test_resume_refuses_what_it_cannot_resume(tmp_path: Any) -> None:
    db = tmp_path / "h.db"
    _, aws_id = crashed_into(db, environment="aws")
    cases = {
        "s-nothing": "no execution s-nothing",
        aws_id: "pass --aws",
    }
    for execution_id, message in cases.items():
        result = resume_cli(db, execution_id)
        assert result.exit_code == 2 and message in result.stderr


def test_resume_says_when_a_dead_engine_s_lease_ends(tmp_path: Any) -> None:
    """kill -9, then resume at once: the lease is still live for up to 2 minutes. The
    refusal says the engine is gone and when to resume, not "wait for it to end"."""
    import time

    from drsorch.store import SqliteStore
    from drsorch.store.base import Lease

    db = tmp_path / "h.db"
    _, aws_id = crashed_into(db, environment="aws")
    with SqliteStore(db) as store:  # the dead engine's lease, 90 s of it left
        store.claim(aws_id, Lease(GONE, time.time() + 90), time.time() + 1e9, takeover=True)
    result = resume_cli(db, aws_id, "--aws")
    assert result.exit_code == 2, result.stderr
    assert f"was driven by {GONE}, whose process is gone" in result.stderr
    assert "s more (until " in result.stderr and "resume it then" in result.stderr


def test_resume_closes_a_simulated_execution_whose_engine_is_gone(tmp_path: Any) -> None:
    """Nothing can continue it (its region ended with its process): recorded FAILED, the
    launches under way FAILED with their outcome unknown, the rest CANCELLED; exit 1. A
    second resume finds it ended."""
    import json

    from drsorch.store import SqliteStore

    db = tmp_path / "h.db"
    _, simulated_id = crashed_into(db, environment="simulator")
    result = resume_cli(db, simulated_id, "--json")
    assert result.exit_code == 1, result.stderr
    assert "ran on the simulator and its engine is gone" in result.stderr
    shown = json.loads(result.stdout)
    with SqliteStore(db) as store:
        record = store.get(simulated_id)
        assert store.lease_of(simulated_id) is None
    assert record is not None
    assert [shown[k] for k in ("ExecutionId", "Status", "EndTime", "Errors")] == [
        record.to_dict()[k] for k in ("ExecutionId", "Status", "EndTime", "Errors")
    ]
    assert record.Status == "FAILED" and GONE in record.Errors[-1].Message
    statuses = Counter(s.Status.value for w in record.WaveStatus for s in w.ServerResults)
    # Wave 1 had ended; wave 2's first launch was under way; the rest never launched.
    assert statuses == {"COMPLETED": 2, "FAILED": 1, "CANCELLED": 3}, statuses
    assert record.FailedServerCount == 1
    again = resume_cli(db, simulated_id)
    assert again.exit_code == 2 and "already ended FAILED" in again.stderr


def test_cancel_of_a_simulated_execution_whose_engine_is_gone_says_what_will_end_it(
    tmp_path: Any,
) -> None:
    from click.testing import CliRunner

    from drsorch.cli import main

    db = tmp_path / "h.db"
    _, simulated_id = crashed_into(db, environment="simulator")
    result = CliRunner().invoke(main, ["cancel", simulated_id, "--store", str(db)])
    assert result.exit_code == 0, result.stderr
    assert "none can: it ran on the simulator" in result.stdout
    assert f"drsorch resume {simulated_id}` records it FAILED" in result.stdout


def test_a_resume_refused_when_it_claims_says_nothing_first(tmp_path: Any) -> None:
    """Two resumes at once: the loser is refused when it claims the lease, and its
    headline ("resuming ...") is never printed: it is said only once the claim held."""
    from drsorch.store import SqliteStore

    db = tmp_path / "h.db"
    world, execution_id = crashed_into(db, environment="aws", holder="ops@elsewhere pid 1 #1")
    said: list[str] = []
    with SqliteStore(db) as store:
        runner = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock)
        runner.on_resuming = lambda: said.append("resuming")
        with pytest.raises(LeaseHeldError):  # expired, on another host, and no --force
            runner.resume(world.options)
        assert said == []
        world.options.takeover = True  # --force: now it holds, then says so, then goes on
        runner = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock)
        runner.on_resuming = lambda: said.append(f"resuming with {store.lease_of(execution_id)}")
        assert runner.resume(world.options).Status == "COMPLETED"
    assert len(said) == 1 and runner.holder in said[0]  # said while it held the lease


def test_resume_with_aws_continues_and_never_launches_twice(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``drsorch resume ID --aws`` rebuilds the AWS world (here: the same simulated region,
    standing in for AWS), adopts the job sent before the crash and finishes the plan."""
    import json

    import drsorch.cli.run as run_module

    db = tmp_path / "h.db"
    world, execution_id = crashed_into(db, environment="aws")
    monkeypatch.setattr(run_module, "real_aws", lambda plan, **kw: world)
    result = resume_cli(db, execution_id, "--aws", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["ExecutionId"] == execution_id and record["Status"] == "COMPLETED"
    plan_servers = {s["ServerId"] for w in record["WaveStatus"] for s in w["ServerResults"]}
    assert launches_per_server(world) == Counter(dict.fromkeys(plan_servers, 1))
    again = resume_cli(db, execution_id, "--aws")
    assert again.exit_code == 2 and "already ended COMPLETED" in again.stderr


@pytest.mark.parametrize("verbose", [True, False])
def test_resume_verbose_says_which_job_it_adopted(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, verbose: bool
) -> None:
    """Issue 11, item 5: ``resume -v --json`` says on stderr that it found and adopted the
    job its dead engine had started; stdout keeps the record alone. Without -v, silence."""
    import json

    import drsorch.cli.run as run_module

    db = tmp_path / "h.db"
    world, execution_id = crashed_into(db, environment="aws")
    monkeypatch.setattr(run_module, "real_aws", lambda plan, **kw: world)
    result = resume_cli(db, execution_id, "--aws", "--json", *(["-v"] if verbose else []))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["Status"] == "COMPLETED"
    adopted = [line for line in result.stderr.splitlines() if "adopted job drsjob-" in line]
    assert len(adopted) == (1 if verbose else 0)
    if verbose:
        assert adopted[0].endswith("sent before the restart")
