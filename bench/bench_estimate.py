"""Benchmark of ``drsorch estimate`` (issue 12, item 3): 200 runs of a 100-server plan on
the in-process simulator, target under 30 s.

The plan is ``tests.utils.plans.make_plan(seed=1, waves=5, servers_per_wave=20)``: five
PARALLEL waves of 20 servers in a chain, health checks on (RUNNING), the simulator's
default timing. The runs go through exactly what the command runs
(:func:`drsorch.estimating.run_many`, then :func:`~drsorch.report.estimate.summarize`).

    .venv/bin/python bench/bench_estimate.py [--runs 200] [--jobs 0] [--profile] [--json] [--wire]

``--jobs 0`` (the default) is the command's own choice (one worker per CPU, up to 8);
``--jobs 1`` runs in this process. It prints wall seconds and CPU seconds (this process
and its workers): on a shared machine compare the CPU figure. ``--profile`` runs 20 runs
in this process under cProfile and prints the top functions by cumulative time.
``--wire`` answers the clients through the simulator's wire (``before-send``, signed
requests, botocore parsing HTTP bodies) instead of the direct transport the command uses:
the figure before issue 12's speed-up, for comparison on the same machine at the same time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.utils

from tests.utils.plans import make_plan

from drsorch import estimating
from drsorch.cli import tune_gc
from drsorch.estimating import auto_jobs, run_many
from drsorch.plan import parse_plan
from drsorch.report.estimate import summarize
from drsorch.sim import Scenario
from drsorch.wiring import SimClients

TARGET_SECONDS = 30.0


def _cpu() -> float:
    """CPU seconds of this process and of its finished worker processes (the machine may
    be shared: wall seconds then say more about the neighbours than about drsorch)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=0, help="0: the command's default")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--wire", action="store_true", help="the wire, not the direct transport")
    parser.add_argument("--default-gc", action="store_true", help="Python's own GC settings")
    args = parser.parse_args()
    if not args.default_gc:
        tune_gc()  # as the drsorch console script does (forked workers inherit it)
    if args.wire:  # worker processes are forked: they inherit the module's clients
        estimating._CLIENTS = SimClients()
    plan = parse_plan(make_plan(1, waves=5, servers_per_wave=20, plan_id="bench-estimate"))
    scenario = Scenario()
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_many, plan, scenario, range(20), jobs=1)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
        return 0
    jobs = args.jobs or auto_jobs(args.runs)
    cpu_before = _cpu()
    started = time.perf_counter()
    results = run_many(plan, scenario, range(args.runs), jobs=jobs)
    seconds = time.perf_counter() - started
    cpu = _cpu() - cpu_before
    estimate = summarize(plan.plan_id, None, results)
    figures = {
        "servers": len(plan.all_server_ids()),
        "runs": args.runs,
        "jobs": jobs,
        "transport": "wire" if args.wire else "direct",
        "cpus": os.cpu_count(),
        "seconds": round(seconds, 2),
        "runs_per_second": round(args.runs / seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_run": round(cpu / args.runs, 3),
        "completed": estimate.completed,
        "p50_recovery_seconds": None if estimate.total is None else estimate.total.p50,
        "target_seconds": TARGET_SECONDS,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"runs {args.runs}  seconds {seconds:.1f}  runs/s {args.runs / seconds:.2f}  "
            f"cpu {cpu:.1f}s ({cpu / args.runs:.3f}/run)  "
            f"(100 servers, {jobs} worker(s) on {os.cpu_count()} CPUs, "
            f"{'wire' if args.wire else 'direct'}; target "
            f"{TARGET_SECONDS:.0f} s: {'met' if seconds < TARGET_SECONDS else 'MISSED'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
