"""Run every benchmark (bench/bench_*.py) in turn and print their output (``make bench``).

Each benchmark runs in its own process with this interpreter, from the repository root,
its output streamed as it comes. A summary of exit codes and wall times follows; the exit
code is non-zero if any benchmark failed.

    .venv/bin/python bench/run_all.py [--quick] [-k SUBSTRING]

``--quick`` is passed on to the benchmarks that accept it (those whose source mentions
``--quick``, e.g. bench_engine.py skips its 10 000-server run); ``-k`` runs only the
benchmarks whose file name contains SUBSTRING.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


def benchmarks(pattern: str | None) -> list[Path]:
    found = sorted(BENCH_DIR.glob("bench_*.py"))
    return [p for p in found if pattern is None or pattern in p.name]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick where accepted")
    parser.add_argument("-k", dest="pattern", help="only benchmarks whose name contains this")
    args = parser.parse_args()

    paths = benchmarks(args.pattern)
    if not paths:
        print(f"no benchmark matches {args.pattern!r} in {BENCH_DIR}", file=sys.stderr)
        return 2
    results: list[tuple[str, int, float]] = []
    for path in paths:
        cmd = [sys.executable, str(path)]
        if args.quick and "--quick" in path.read_text(encoding="utf-8"):
            cmd.append("--quick")
        shown = " ".join([Path(sys.executable).name, str(path.relative_to(ROOT)), *cmd[2:]])
        print(f"=== {shown}", flush=True)
        started = time.perf_counter()
        rc = subprocess.call(cmd, cwd=ROOT)
        seconds = time.perf_counter() - started
        results.append((path.name, rc, seconds))
        print(f"=== {path.name}: exit {rc} in {seconds:.1f} s", flush=True)
        print(flush=True)

    print("summary:")
    for name, rc, seconds in results:
        print(f"  {name:28} {'ok' if rc == 0 else f'FAILED (exit {rc})':18} {seconds:7.1f} s")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
