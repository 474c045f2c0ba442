"""History at scale (issue 9, item 4): what a run costs through ``drsorch run`` on SQLite.

For 1 000 and 10 000 servers (``make_plan(0, waves, 100)``: 10 or 100 waves of 100, a 7-day
timeout), each measured in a fresh child process running the ``drsorch`` command in-process
(the same code as the console script), side by side in one run:

- ``sim``: ``drsorch run PLAN --json --quiet --store sqlite:///...`` as it is (a simulated
  run keeps no engine state and coalesces server-only saves to one per simulated hour);
- ``kept``: the same run keeping the engine state as ``--aws`` does: the state is saved
  with every save (and written ahead of every StartRecovery), on the simulation's save
  cadence (``keep_state=True``; server-only changes still coalesced per simulated hour,
  since against AWS a poll comes every 30 real seconds, not thousands per second);

and for each: CPU seconds (user + system of the child, imports included), peak RSS
(``ru_maxrss``), the number of saves, and the bytes handed to the store (JSON of the
summary, the waves written and the engine state, as SQLite receives them). Then the ratios
the issue asks for: CPU per server at 10 000 against 1 000, and kept against sim.

    .venv/bin/python bench/bench_history.py [--quick] [--json] [--profile NAME]

``--quick`` runs 1 000 servers only; ``--profile 10k-sim`` (any NAME below) prints the
cProfile top of that child instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.utils

SCALES = {"1k": 10, "10k": 100}  # waves of 100 servers
MODES = ("sim", "kept")


def write_plan(directory: Path, scale: str) -> Path:
    from tests.utils.plans import make_plan

    data = make_plan(0, waves=SCALES[scale], servers_per_wave=100)
    data["TimeoutSeconds"] = 7 * 86_400
    path = directory / f"plan-{scale}.json"
    path.write_text(json.dumps(data))
    return path


def child(scale: str, mode: str, directory: Path, profile: bool) -> dict[str, Any]:
    """Run the command in this process and measure it (the child's side)."""
    import drsorch.cli.run as run_module
    import drsorch.store.sqlite as sqlite_module
    from drsorch.cli import main, tune_gc

    tune_gc()  # as the drsorch console script does

    plan = write_plan(directory, scale)
    written = {"bytes": 0, "saves": 0}
    real_dumps = sqlite_module._dumps

    def counting_dumps(data: Any) -> str:
        text = real_dumps(data)
        written["bytes"] += len(text.encode())
        return text

    sqlite_module._dumps = counting_dumps  # type: ignore[assignment]
    real_put = sqlite_module.SqliteStore.put_parts

    def counting_put(self: Any, *args: Any, **kwargs: Any) -> None:
        written["saves"] += 1
        real_put(self, *args, **kwargs)

    sqlite_module.SqliteStore.put_parts = counting_put  # type: ignore[method-assign]
    if mode == "kept":
        real_simulated = run_module.simulated

        def keeping(*args: Any, **kwargs: Any) -> Any:
            world = real_simulated(*args, **kwargs)
            world.options.keep_state = True
            return world

        run_module.simulated = keeping  # type: ignore[assignment]
    args = ["run", str(plan), "--json", "--quiet", "--store", f"sqlite:///{directory}/h.db"]
    devnull = open(os.devnull, "w")  # noqa: SIM115 (kept open until the process ends)
    sys.stdout = devnull
    start = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
    with contextlib.suppress(SystemExit):  # click ends the command with the exit code
        main.main(args, standalone_mode=False)
    wall = time.perf_counter() - start
    if profile:
        profiler.disable()
        sys.stdout = sys.__stdout__
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    sys.stdout = sys.__stdout__
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "scale": scale,
        "mode": mode,
        "servers": SCALES[scale] * 100,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "maxrss_mib": round(usage.ru_maxrss / 1024, 1),
        "saves": written["saves"],
        "store_mib": round(written["bytes"] / 2**20, 2),
    }


def measure(scale: str, mode: str, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--child", scale, mode, tmp]
        if profile:
            cmd.append("--profile-child")
            subprocess.run(cmd, check=True, cwd=ROOT)
            return {}
        out = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 000 servers only")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--profile", metavar="SCALE-MODE", help="e.g. 10k-sim")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        scale, mode, directory = args.child
        result = child(scale, mode, Path(directory), args.profile_child)
        print(json.dumps(result))
        return 0
    if args.profile:
        scale, mode = args.profile.split("-")
        measure(scale, mode, profile=True)
        return 0
    scales = ["1k"] if args.quick else list(SCALES)
    rows = [measure(scale, mode, profile=False) for scale in scales for mode in MODES]
    by = {(r["scale"], r["mode"]): r for r in rows}
    ratios: dict[str, float] = {}
    if "10k" in scales:
        for mode in MODES:
            big, small = by[("10k", mode)], by[("1k", mode)]
            per_big, per_small = big["cpu_s"] / big["servers"], small["cpu_s"] / small["servers"]
            ratios[f"cpu per server 10k/1k ({mode})"] = round(per_big / per_small, 2)
            ratios[f"store bytes 10k/1k ({mode})"] = round(big["store_mib"] / small["store_mib"], 2)
    for scale in scales:
        ratios[f"cpu kept/sim ({scale})"] = round(
            by[(scale, "kept")]["cpu_s"] / by[(scale, "sim")]["cpu_s"], 2
        )
    if args.json:
        print(json.dumps({"runs": rows, "ratios": ratios}, indent=2))
        return 0
    heads = ("wall s", 8), ("CPU s", 8), ("maxrss MiB", 11), ("saves", 7), ("store MiB", 10)
    print(f"{'run':<10} " + " ".join(f"{name:>{width}}" for name, width in heads))
    for r in rows:
        print(
            f"{r['scale'] + ' ' + r['mode']:<10} {r['wall_s']:>8} {r['cpu_s']:>8} "
            f"{r['maxrss_mib']:>11} {r['saves']:>7} {r['store_mib']:>10}"
        )
    for name, value in ratios.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
