"""Running a plan many times on the simulator for its recovery-time estimate (issue 12,
item 3; ``drsorch estimate``).

Every run is an ordinary simulated execution: :func:`drsorch.wiring.simulated` builds the
world (real boto3 clients, the simulator below botocore, a virtual clock) and
:class:`~drsorch.runner.Runner` drives the same core through the same adapters as
``drsorch run``. Nothing is written to the history: each run has its own
:class:`~drsorch.store.MemoryStore`, and simulated worlds keep no engine state. A
PauseBefore wave is approved at once (the estimate measures the machines, not the person
who approves).

The boto3 clients are made once per process (and kept for the next estimate) and
re-attached to each run's fresh region (:class:`~drsorch.wiring.SimClients`): for a small
plan, building them took half of a run. They reach the region through the simulator's
direct transport (:mod:`drsorch.sim.direct`): the same client calls, parameter validation
and serialization, the same simulator, but no request signing, HTTP objects or response
parsing below botocore's ``before-call`` (the answer is handed over as botocore's parser
would have made it; ``drsorch run`` keeps the wire). A worker process freezes what it
holds after its first run (:func:`gc.freeze`): botocore's loaded models are most of the
objects, and the collector need not walk them again every few runs.

Run ``i`` (0-based) uses seed ``base + i`` and a virtual clock that starts at the same
epoch, so the same base seed gives the same figures. The runs are independent, so with
``jobs > 1`` they are shared among worker processes (each one the same engine); the
results are put back in seed order, so the figures do not depend on ``jobs``.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.plan import Plan
from drsorch.report.estimate import RunResult, run_result
from drsorch.runner import EngineError, Runner
from drsorch.sim import Scenario
from drsorch.store import MemoryStore
from drsorch.wiring import SimClients, simulated

__all__ = ["MAX_RUNS", "auto_jobs", "run_many", "run_once"]

#: The most runs one estimate makes (``--runs``).
MAX_RUNS = 10_000
#: Fewer runs than this are not worth starting worker processes for.
_POOL_THRESHOLD = 16
#: At most this many worker processes by default.
_MAX_AUTO_JOBS = 8


def run_once(
    plan: Plan, scenario: Scenario, seed: int, clients: SimClients | None = None
) -> RunResult:
    """One simulated execution of ``plan`` with ``seed``, to its end; ``clients`` made by
    an earlier run are reused (see :class:`~drsorch.wiring.SimClients`)."""
    world = simulated(
        plan,
        scenario=scenario,
        seed=seed,
        clock=VirtualClock(DEFAULT_EPOCH),
        clients=clients,
    )
    runner = Runner(
        drs=world.drs,
        ec2=world.ec2,
        store=MemoryStore(),
        clock=world.clock,
        approve=lambda wave: True,
    )
    try:
        record = runner.run(plan, world.options)
    except EngineError as exc:  # the record was finalized FAILED: it counts as a failed run
        if exc.record is None:
            raise
        record = exc.record
    return run_result(seed, record)


def auto_jobs(runs: int) -> int:
    """Worker processes for ``runs`` runs when none are asked for: one per CPU (at most
    :data:`_MAX_AUTO_JOBS`), or none for a few runs."""
    if runs < _POOL_THRESHOLD:
        return 1
    return max(1, min(os.cpu_count() or 1, _MAX_AUTO_JOBS, runs))


#: This process's clients, shared by every estimate it makes (a test session makes many).
_CLIENTS = SimClients(direct=True)

# The plan, scenario and clients of a worker process, set once by _start_worker.
_WORK: tuple[Plan, Scenario, SimClients] | None = None
#: Whether this worker process still has to freeze its long-lived objects (after its first run).
_FREEZE = False


def _start_worker(plan: Plan, scenario: Scenario) -> None:
    global _WORK, _FREEZE
    _WORK = (plan, scenario, _CLIENTS)
    _FREEZE = True


def _work(seed: int) -> RunResult:
    global _FREEZE
    assert _WORK is not None
    plan, scenario, clients = _WORK
    result = run_once(plan, scenario, seed, clients)
    if _FREEZE:  # after a first run, what the worker holds is what it keeps (models...)
        _FREEZE = False
        gc.collect()
        gc.freeze()
    return result


def run_many(
    plan: Plan,
    scenario: Scenario,
    seeds: Sequence[int],
    *,
    jobs: int = 1,
) -> list[RunResult]:
    """A run of ``plan`` per seed, in seed order; ``jobs`` worker processes (1: here)."""
    if jobs <= 1 or len(seeds) < 2:
        return [run_once(plan, scenario, seed, _CLIENTS) for seed in seeds]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    # Small chunks (16 a worker): a worker that runs a little slower than the other (the
    # machine's other work lands on its core) leaves a short tail, not a quarter of its share.
    chunk = max(1, len(seeds) // (jobs * 16))
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_start_worker,
        initargs=(plan, scenario),
    ) as pool:
        return list(pool.map(_work, seeds, chunksize=chunk))
