"""Running plans through the real engine, adapters and in-process simulator, for tests.

``run_plan(plan, ...)`` builds a simulated region on a VirtualClock that starts at
``DEFAULT_EPOCH``, attaches it below a real boto3 session, runs the plan with a
:class:`RecordingStore` and returns everything a test wants to look at::

    out = run_plan(make_plan(1, waves=3), faults=[Fault(kind="launch_failure", ...)])
    out.record            # the final ExecutionRecord
    out.puts              # every record the runner saved, in order (Req 5.1-5.3)
    out.sim.recorder      # every API call the simulator answered, with its virtual time
    out.runner.trace      # (time, event, commands) of every core step, for replay
    out.calls("StartRecovery")   # recorded calls of one operation

``store=`` keeps a reference to the store when the run is expected to raise (a crash
test reads the record the runner left behind); ``observe(runner, state)`` is called after
every step of the core (e.g. to cancel at a chosen moment).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.core import new_execution
from drsorch.core.state import State
from drsorch.history import ExecutionRecord
from drsorch.plan import Plan, parse_plan
from drsorch.runner import Runner
from drsorch.sim import Fault, Scenario, Span, Timing
from drsorch.sim.recorder import RecordedCall
from drsorch.store import MemoryStore
from drsorch.store.base import Lease, RecordParts, StateParts, assemble
from drsorch.wiring import SimClients, World, simulated

#: One pair of botocore clients for every simulated world this process makes (re-attached
#: to each world's new region, as ``drsorch estimate`` does): building an EC2 client costs
#: more than a short simulated run.
_CLIENTS = SimClients()


class RecordingStore(MemoryStore):
    """A MemoryStore that also keeps, after every save, the whole record it then held, in
    order (``puts``): what a reader would have seen, put together from the parts saved so
    far (so the history properties hold for saves that write only what changed).

    Each save keeps a snapshot of the stored texts only; the records are read from them
    when ``puts`` is first asked for (most runs never ask)."""

    def __init__(self) -> None:
        super().__init__()
        self._snapshots: list[tuple[str, dict[int, tuple[int, str]]]] = []
        self._built: list[ExecutionRecord] = []

    def put_parts(
        self,
        parts: RecordParts,
        state: Mapping[str, Any] | StateParts | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        super().put_parts(parts, state, lease=lease)
        with self._lock:
            summary = self._summaries[parts.execution_id][3]
            waves = dict(self._waves.get(parts.execution_id, {}))
        self._snapshots.append((summary, waves))

    @property
    def puts(self) -> list[ExecutionRecord]:
        for summary, waves in self._snapshots[len(self._built) :]:
            ordered = (json.loads(text) for _, text in sorted(waves.values()))
            self._built.append(ExecutionRecord.from_dict(assemble(json.loads(summary), ordered)))
        return list(self._built)


@dataclass
class Outcome:
    plan: Plan
    record: ExecutionRecord
    world: World
    runner: Runner
    store: RecordingStore
    clock: VirtualClock

    @property
    def puts(self) -> list[ExecutionRecord]:
        """Every record the runner saved, in order (read when first asked for)."""
        return self.store.puts

    @property
    def sim(self) -> Any:
        return self.world.sim

    def calls(self, operation: str, *, ok_only: bool = False) -> list[RecordedCall]:
        calls = [c for c in self.sim.recorder.calls if c.operation == operation]
        return [c for c in calls if c.outcome == "ok"] if ok_only else calls

    def server(self, server_id: str) -> Any:
        for wave in self.record.WaveStatus:
            for result in wave.ServerResults:
                if result.ServerId == server_id:
                    return result
        raise KeyError(server_id)

    def fresh_state(self) -> dict[str, Any]:
        """A new state of the same execution (same id, start, accounts), as the runner
        made it before its first event: the starting point of a replay."""
        r = self.record
        state = new_execution(
            self.plan,
            execution_id=r.ExecutionId,
            now=r.StartTime,
            initiated_by=r.InitiatedBy,
            source_account_id=r.SourceAccountId,
            target_account_id=r.TargetAccountId,
            region=r.Region,
            environment=self.world.options.environment_details(),
        )
        state["environment"] = self.world.options.environment
        return state

    def wave(self, number: int) -> Any:
        wave = self.record.wave(number)
        assert wave is not None, number
        return wave


#: Shorter DRS/EC2 durations than the simulator's realistic defaults (8-20 min launches):
#: the same behaviour with fewer poll ticks, so generated tests run quickly.
FAST_TIMING = Timing(
    launch=Span(min=60, max=240),
    running=Span(min=10, max=60),
    status_ok=Span(min=30, max=120),
)


def healthy_within(timing: Timing) -> float:
    """Seconds after DRS reports a server LAUNCHED by which its EC2 instance is running
    with both status checks ok, at the latest, in a region with ``timing``: a health check
    that polls at least this long (PollIntervalSeconds x MaxPolls) always passes there."""
    return timing.running.max + timing.status_ok.max


#: FAST_TIMING's longest time from LAUNCHED to status checks ok (60 + 120 s).
FAST_HEALTHY_WITHIN = healthy_within(FAST_TIMING)


#: Short, tight durations for tests that count polls and retries: a run takes a few polls.
SHORT = Scenario(
    timing=Timing(
        job_start=Span(min=2, max=2),
        launch=Span(min=60, max=90),
        running=Span(min=10, max=20),
        status_ok=Span(min=20, max=30),
        job_end=Span(min=2, max=5),
    )
)


@dataclass
class _Observe:
    """An Observer from a function."""

    fn: Callable[[State], None]

    def update(self, state: State) -> None:
        self.fn(state)


def as_plan(plan: Plan | Mapping[str, Any]) -> Plan:
    return plan if isinstance(plan, Plan) else parse_plan(dict(plan))


def run_plan(
    plan: Plan | Mapping[str, Any],
    *,
    seed: int = 0,
    faults: Iterable[Fault | Mapping[str, Any]] = (),
    scenario: Scenario | None = None,
    replication: Mapping[str, str] | None = None,
    missing: Iterable[str] = (),
    approve: bool = True,
    fast: bool = True,
    store: RecordingStore | None = None,
    observe: Callable[[Runner, State], None] | None = None,
) -> Outcome:
    """Run ``plan`` to its end on a fresh simulated region; see the module docstring.

    ``replication`` sets some servers' replication state; ``missing`` leaves servers out of
    the region (preflight tests). ``fast`` (default) uses :data:`FAST_TIMING` unless a
    scenario is given.
    """
    the_plan = as_plan(plan)
    clock = VirtualClock(start=DEFAULT_EPOCH)
    scenario = scenario or Scenario(timing=FAST_TIMING if fast else Timing())
    absent = set(missing)
    if absent:
        from drsorch.sim import ServerSpec

        scenario = scenario.model_copy(
            update={
                "source_servers": [
                    ServerSpec(id=sid) for sid in the_plan.all_server_ids() if sid not in absent
                ]
            }
        )
    world = simulated(the_plan, seed=seed, clock=clock, scenario=scenario, clients=_CLIENTS)
    assert world.sim is not None
    for fault in faults:
        world.sim.add_fault(fault if isinstance(fault, Fault) else Fault(**dict(fault)))
    for sid, state in (replication or {}).items():
        world.sim.set_replication_state(sid, state)
    store = store if store is not None else RecordingStore()
    runner = Runner(
        drs=world.drs,
        ec2=world.ec2,
        store=store,
        clock=clock,
        approve=lambda wave: approve,
        observer=None if observe is None else _Observe(lambda state: observe(runner, state)),
    )
    runner.stepper.keep_trace = True  # for the tests that replay it
    world.options.save_every = 0.0  # save every change, as a run against AWS does
    record = runner.run(the_plan, world.options)
    return Outcome(the_plan, record, world, runner, store, clock)
