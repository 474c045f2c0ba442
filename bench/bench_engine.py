"""Benchmark of the execution engine on the in-process simulator (the engine issue's figures).

1. Makespan ratio: the engine's virtual makespan (the record's Duration) divided by the
   critical-path lower bound of the plan, for examples/three-tier.yaml, a 20-server 5-wave
   chain and a 50-server 10-wave DAG, over several seeds (mean and max).
2. Wall time and peak memory (ru_maxrss; tracemalloc peak on request) of a 1 000-server
   10-wave and a 10 000-server 100-wave plan. Each scale run is a fresh child process, so
   its ru_maxrss is its own.
3. API calls per recovered server (StartRecovery, DescribeJobs, DescribeInstanceStatus,
   DescribeRecoveryInstances, DescribeSourceServers, DescribeJobLogItems) for every run.

The lower bound uses the simulator's own drawn durations: each server's launch
(job creation -> LAUNCHED), running (LAUNCHED -> EC2 running) and, when the wave requires
STATUS_OK, status_ok (running -> checks ok) are re-drawn from the same seeded stream the
simulator uses (``stable_rng(seed, "launch", server_id, 1)``) and checked against the
simulator's timeline after the run. A wave takes its slowest server's time (PARALLEL) or
the sum over its servers (SEQUENTIAL); the bound is the longest dependency chain of those,
plus each dependency's WaitTimeSeconds. It ignores polling, so no engine that polls every
30 s can reach a ratio of exactly 1.0 (see bench/README.md).

    .venv/bin/python bench/bench_engine.py [--quick] [--json] [--seeds 5] [--tracemalloc]
                                           [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.utils

from tests.utils.plans import make_plan

from drsorch.clock import VirtualClock
from drsorch.plan import Plan, load_plan, parse_plan
from drsorch.runner import Runner
from drsorch.sim import SimRegion
from drsorch.sim.timing import stable_rng
from drsorch.store import MemoryStore
from drsorch.wiring import simulated

ROOT = Path(__file__).resolve().parents[1]

OPERATIONS = (
    "StartRecovery",
    "DescribeJobs",
    "DescribeInstanceStatus",
    "DescribeRecoveryInstances",
    "DescribeSourceServers",
    "DescribeJobLogItems",
)
SHORT = {
    "StartRecovery": "Start",
    "DescribeJobs": "Jobs",
    "DescribeInstanceStatus": "InstSt",
    "DescribeRecoveryInstances": "RecInst",
    "DescribeSourceServers": "SrcSrv",
    "DescribeJobLogItems": "JobLog",
}
JOB_POLL_SECONDS = 30.0  # drsorch.core.state.DEFAULT_CONFIG["job_poll_seconds"]


def log(text: str) -> None:
    """Progress goes to stderr, so ``--json`` keeps stdout clean."""
    print(text, file=sys.stderr, flush=True)


# -- the lower bound -----------------------------------------------------------------------


@dataclass
class Bound:
    seconds: float  # the critical-path lower bound
    chain: list[int]  # wave numbers on the critical path, first wave first
    steps: int  # launches on the chain that must each be noticed (1 per PARALLEL wave)
    wave_seconds: dict[int, float] = field(default_factory=dict)


def server_seconds(region: SimRegion, server_id: str, require: str | None) -> float:
    """One server's launch + health time as the simulator draws it for its first launch.

    ``require`` is "RUNNING", "STATUS_OK", or None when health checks are off. The order of
    the draws is the simulator's (lifecycle._schedule_server): launch, running, status_ok.
    The simulator also clamps LAUNCHED to at least 10 s after the job starts (5-15 s after
    creation); launch draws are 480 s or more, so that clamp never binds here.
    """
    server = region.model.servers[server_id]
    rng = stable_rng(region.seed, "launch", server_id, 1)
    t = server.timing
    launch, running, ok = t.launch.draw(rng), t.running.draw(rng), t.status_ok.draw(rng)
    if require is None:
        return launch
    return launch + running + (ok if require == "STATUS_OK" else 0.0)


def lower_bound(plan: Plan, region: SimRegion) -> Bound:
    by_number = {w.wave_number: w for w in plan.waves}
    wave_seconds: dict[int, float] = {}
    for w in plan.waves:
        hc = plan.health_check_for(w)
        require = hc.require if hc.enabled else None
        each = [server_seconds(region, sid, require) for sid in w.server_ids]
        wave_seconds[w.wave_number] = sum(each) if w.execution_type == "SEQUENTIAL" else max(each)
    finish: dict[int, float] = {}
    best: dict[int, list[int]] = {}
    for layer in plan.levels():
        for n in layer:
            deps = plan.dependencies_of(by_number[n])
            ready, prev = 0.0, []
            for d in deps:
                at = finish[d] + by_number[d].wait_time_seconds
                if at > ready:
                    ready, prev = at, best[d]
            finish[n] = ready + wave_seconds[n]
            best[n] = [*prev, n]
    last = max(finish, key=lambda n: finish[n])
    chain = best[last]
    steps = sum(
        len(by_number[n].server_ids) if by_number[n].execution_type == "SEQUENTIAL" else 1
        for n in chain
    )
    return Bound(finish[last], chain, steps, wave_seconds)


def check_draws(plan: Plan, region: SimRegion) -> int:
    """Compare the re-drawn launch durations with the simulator's timeline; returns how many
    servers were checked. Raises if the bound was computed from the wrong numbers."""
    launched: dict[str, float] = {}
    for when, kind, ident, value in region.timeline:
        if kind == "launch" and value == "LAUNCHED":
            launched[ident] = when
    checked = 0
    for job in region.jobs:
        for sid in job.participants:
            when = launched.get(f"{job.id}/{sid}")
            if when is None:
                continue
            server = region.model.servers[sid]
            if server.launches != 1:
                raise AssertionError(f"{sid} was launched {server.launches} times")
            expected = server.timing.launch.draw(stable_rng(region.seed, "launch", sid, 1))
            if abs((when - job.created) - expected) > 1e-6:
                raise AssertionError(
                    f"{sid}: simulator launched it after {when - job.created:.3f} s, "
                    f"the bound assumed {expected:.3f} s"
                )
            checked += 1
    if checked != len(plan.all_server_ids()):
        raise AssertionError(f"only {checked} of {len(plan.all_server_ids())} servers launched")
    return checked


# -- one execution ---------------------------------------------------------------------------


class Progress:
    """Runner observer: a progress line every ``every`` wall seconds."""

    def __init__(self, label: str, every: float = 5.0) -> None:
        self.label, self.every = label, every
        self.started = self.last = time.monotonic()
        self.start_virtual: float | None = None

    def update(self, state: Any) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        waves = state["waves"]
        done = sum(1 for w in waves if w["status"] in ("COMPLETED", "FAILED", "SKIPPED"))
        servers = state["servers"].values()
        ended = sum(1 for s in servers if s["status"] in ("COMPLETED", "FAILED", "SKIPPED"))
        log(
            f"  [{self.label}] {now - self.started:6.1f} s wall: waves {done}/{len(waves)}, "
            f"servers {ended}/{len(state['servers'])}"
        )


def run_once(plan: Plan, seed: int, label: str, progress: bool = False) -> dict[str, Any]:
    """Run ``plan`` on a fresh simulated region; the figures of that run."""
    world = simulated(plan, clock=VirtualClock(), seed=seed)
    region = world.sim
    assert region is not None
    observer = Progress(label) if progress else None
    runner = Runner(
        drs=world.drs, ec2=world.ec2, store=MemoryStore(), clock=world.clock, observer=observer
    )
    start = time.perf_counter()
    cpu = time.process_time()
    record = runner.run(plan, world.options)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if record.Status != "COMPLETED":
        first = "; ".join(e.Message for e in record.Errors[:3])
        raise AssertionError(f"{label}: execution ended {record.Status}: {first}")
    servers = len(plan.all_server_ids())
    counts = {op: region.recorder.count(operation=op) for op in OPERATIONS}
    errors = region.recorder.count(outcome="error") + region.recorder.count(outcome="fault")
    assert record.Duration is not None
    return {
        "label": label,
        "seed": seed,
        "servers": servers,
        "waves": len(plan.waves),
        "makespan": record.Duration,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "calls": counts,
        "calls_total": len(region.recorder.calls),
        "call_errors": errors,
        "per_server": {op: n / servers for op, n in counts.items()},
        "_record": record,
        "_region": region,
    }


# -- 1. makespan ratio ---------------------------------------------------------------------


def plan_cases() -> list[tuple[str, Any]]:
    """(name, seed -> Plan): the plans of the makespan table."""
    three_tier = load_plan(ROOT / "examples" / "three-tier.yaml")
    return [
        ("three-tier.yaml (6 servers, 3 waves)", lambda seed: three_tier),
        (
            "chain 20 servers, 5 waves x 4",
            lambda seed: parse_plan(make_plan(seed, waves=5, servers_per_wave=4)),
        ),
        (
            "DAG 50 servers, 10 waves x 5",
            lambda seed: parse_plan(make_plan(seed, waves=10, servers_per_wave=5, dag=True)),
        ),
    ]


def gaps(plan: Plan, bound: Bound, record: Any) -> dict[str, float]:
    """Where the engine's time beyond the bound goes, along the critical path: inside the
    waves (wave duration - its bound) and between them (next start - end - WaitTime)."""
    waves = {w.WaveNumber: w for w in record.WaveStatus}
    by_number = {w.wave_number: w for w in plan.waves}
    inside = between = 0.0
    prev: int | None = None
    for n in bound.chain:
        w = waves[n]
        inside += (w.EndTime - w.StartTime) - bound.wave_seconds[n]
        if prev is None:
            between += w.StartTime - record.StartTime
        else:
            between += w.StartTime - (waves[prev].EndTime + by_number[prev].wait_time_seconds)
        prev = n
    last = waves[bound.chain[-1]]
    tail = record.EndTime - last.EndTime
    return {"inside_waves": inside, "between_waves": between, "after_last_wave": tail}


def makespan_bench(seeds: int) -> list[dict[str, Any]]:
    out = []
    for name, build in plan_cases():
        runs = []
        for seed in range(seeds):
            plan = build(seed)
            run = run_once(plan, seed, name)
            region, record = run.pop("_region"), run.pop("_record")
            check_draws(plan, region)
            bound = lower_bound(plan, region)
            run.update(
                lower_bound=bound.seconds,
                ratio=run["makespan"] / bound.seconds,
                chain=bound.chain,
                chain_steps=bound.steps,
                # what a perfect engine polling every 30 s may lose: <= 30 s to notice each
                # launch and <= 30 s to notice each healthy instance, per step of the chain
                poll_allowance=2 * JOB_POLL_SECONDS * bound.steps,
                overhead=run["makespan"] - bound.seconds,
                gaps=gaps(plan, bound, record),
            )
            runs.append(run)
            log(
                f"  {name} seed {seed}: makespan {run['makespan']:.0f} s, bound "
                f"{bound.seconds:.0f} s, ratio {run['ratio']:.3f} "
                f"({run['wall_seconds']:.2f} s wall)"
            )
        ratios = [r["ratio"] for r in runs]
        out.append(
            {
                "plan": name,
                "seeds": seeds,
                "runs": runs,
                "ratio_mean": statistics.mean(ratios),
                "ratio_max": max(ratios),
                "makespan_mean": statistics.mean(r["makespan"] for r in runs),
                "bound_mean": statistics.mean(r["lower_bound"] for r in runs),
                "overhead_mean": statistics.mean(r["overhead"] for r in runs),
                "poll_allowance_mean": statistics.mean(r["poll_allowance"] for r in runs),
                "per_server": mean_per_server(runs),
            }
        )
    return out


def mean_per_server(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {op: statistics.mean(r["per_server"][op] for r in runs) for op in OPERATIONS}


# -- 2. scale ------------------------------------------------------------------------------


MAX_TIMEOUT_SECONDS = 7 * 86_400  # the plan schema's maximum TimeoutSeconds
SCALES = {"1k": (10, 100), "10k": (100, 100)}  # name: (waves, servers per wave)


def scale_child(name: str, trace: bool, profile: bool) -> dict[str, Any]:
    """One scale run in this (child) process; its figures as a dict."""
    waves, per = SCALES[name]
    t0 = time.perf_counter()
    raw = make_plan(0, waves=waves, servers_per_wave=per)
    # A 100-wave chain takes ~35 virtual hours: past the default TimeoutSeconds (4 h) the
    # engine aborts it, so scale runs use the largest timeout a plan may set (7 days).
    raw["TimeoutSeconds"] = MAX_TIMEOUT_SECONDS
    plan = parse_plan(raw)
    plan_seconds = time.perf_counter() - t0
    if trace:
        tracemalloc.start()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    run = run_once(plan, 0, f"{name}: {waves} waves x {per}", progress=True)
    if profiler is not None:
        profiler.disable()
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    region = run.pop("_region")
    run.pop("_record")
    check_draws(plan, region)
    bound = lower_bound(plan, region)
    run.update(lower_bound=bound.seconds, ratio=run["makespan"] / bound.seconds)
    run["plan_seconds"] = plan_seconds
    run["maxrss_mib"] = maxrss_mib()
    run["tracemalloc_peak_mib"] = peak / 2**20 if peak is not None else None
    run["sim_calls"] = len(region.recorder.calls)
    run["clock_sleeps"] = len(region.clock.sleeps) if hasattr(region.clock, "sleeps") else None
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(25)
        run["profile"] = text.getvalue()
    return run


def maxrss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB else


def scale_bench(names: list[str], trace: bool, profile: bool) -> list[dict[str, Any]]:
    out = []
    for name in names:
        waves, per = SCALES[name]
        log(f"scale run {name}: {waves} waves x {per} servers (fresh process) ...")
        cmd = [sys.executable, __file__, "--scale-child", name]
        if trace:
            cmd.append("--tracemalloc")
        if profile:
            cmd.append("--profile")
        started = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        run = json.loads(proc.stdout)
        run["process_seconds"] = time.perf_counter() - started
        log(
            f"  done: {run['wall_seconds']:.1f} s wall for the run "
            f"({run['process_seconds']:.1f} s with start-up), ru_maxrss {run['maxrss_mib']:.0f} MiB"
        )
        out.append(run)
    return out


# -- report --------------------------------------------------------------------------------


def print_report(result: dict[str, Any]) -> None:
    print(f"drsorch engine benchmark — {result['date']} — {result['machine']}")
    print()
    print("1. Makespan ratio (virtual seconds; makespan = record Duration)")
    head = (
        f"{'plan':38} {'seeds':>5} {'makespan':>9} {'bound':>8} {'ratio mean':>10} "
        f"{'ratio max':>9} {'overhead':>8} {'poll allow':>10}"
    )
    print(head)
    for p in result["makespan"]:
        print(
            f"{p['plan']:38} {p['seeds']:5d} {p['makespan_mean']:9.0f} {p['bound_mean']:8.0f} "
            f"{p['ratio_mean']:10.3f} {p['ratio_max']:9.3f} {p['overhead_mean']:8.0f} "
            f"{p['poll_allowance_mean']:10.0f}"
        )
    print("   (means over seeds; overhead = makespan - bound; poll allow = 60 s per launch on")
    print("    the critical chain, the most a perfect 30 s-polling engine could lose)")
    print()
    if result["scale"]:
        print("2. Scale (one fresh process per run)")
        print(
            f"{'run':26} {'servers':>7} {'wall s':>7} {'cpu s':>6} {'ms/server':>9} "
            f"{'maxrss MiB':>10} {'tracemalloc MiB':>15} {'makespan s':>10} {'ratio':>6}"
        )
        for r in result["scale"]:
            tm = r["tracemalloc_peak_mib"]
            print(
                f"{r['label']:26} {r['servers']:7d} {r['wall_seconds']:7.1f} "
                f"{r['cpu_seconds']:6.1f} {r['wall_seconds'] / r['servers'] * 1000:9.2f} "
                f"{r['maxrss_mib']:10.0f} {'-' if tm is None else f'{tm:.0f}':>15} "
                f"{r['makespan']:10.0f} {r['ratio']:6.3f}"
            )
        print()
    print("3. API calls per recovered server")
    print(f"{'run':38} " + " ".join(f"{SHORT[op]:>7}" for op in OPERATIONS) + "   errors")
    rows = [(p["plan"], p["per_server"], 0) for p in result["makespan"]]
    rows += [(r["label"], r["per_server"], r["call_errors"]) for r in result["scale"]]
    for name, per, errors in rows:
        print(f"{name:38} " + " ".join(f"{per[op]:7.3f}" for op in OPERATIONS) + f"   {errors}")
    print("   (Start=StartRecovery Jobs=DescribeJobs InstSt=DescribeInstanceStatus")
    print("    RecInst=DescribeRecoveryInstances SrcSrv=DescribeSourceServers")
    print("    JobLog=DescribeJobLogItems; makespan rows are means over the seeds)")
    for r in result["scale"]:
        if r.get("profile"):
            print()
            print(f"cProfile of {r['label']}:")
            print(r["profile"])


def machine() -> str:
    cpus = os.cpu_count()
    python = platform.python_version()
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs, Python {python}"


def strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 10 000-server run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per makespan plan")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slower)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the scale runs and print the top"
    )
    parser.add_argument("--scale-child", choices=sorted(SCALES), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.scale_child:
        print(json.dumps(strip(scale_child(args.scale_child, args.tracemalloc, args.profile))))
        return 0

    started = time.perf_counter()
    log(f"makespan runs ({args.seeds} seeds per plan) ...")
    makespan = makespan_bench(args.seeds)
    scale = scale_bench(["1k"] if args.quick else ["1k", "10k"], args.tracemalloc, args.profile)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "argv": sys.argv[1:],
        "makespan": makespan,
        "scale": scale,
        "bench_seconds": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps(strip(result), indent=2, default=str))
    else:
        print_report(strip(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
