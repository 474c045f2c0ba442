"""Cold start of the Step Functions Lambda handler (issue 10, item 1).

Each run is a fresh ``python -X importtime`` child that does what a new Lambda container
does before its first event: imports ``drsorch.stepfunctions.handler`` and builds its driver
(``build_driver``: the driver, the DynamoDB store, boto3), then imports what the first step
adds (``drsorch.wiring`` for the adapters of real AWS). The store's table check
(DescribeTable) is answered by a stub on 127.0.0.1 (``&endpoint_url=``): nothing leaves the
machine. Reported: wall seconds of each phase, the child's CPU seconds (interpreter start
included; the figure to compare on a shared machine) (median of the runs), the total of
``-X importtime``'s self times, the modules that cost most (self and cumulative), how many
modules were loaded, and whether any module a step must not load was loaded: the
simulator, the command line, click, rich, matplotlib (a failure if so).

    .venv/bin/python bench/bench_coldstart.py [--runs 5] [--top 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Modules a Lambda step must never import (their top-level names or packages).
FORBIDDEN = ("drsorch.sim", "drsorch.cli", "click", "rich", "matplotlib")

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import drsorch.stepfunctions.handler as h
t1 = time.perf_counter()
driver = h.build_driver({"DRSORCH_STORE": sys.argv[1]})
t2 = time.perf_counter()
import drsorch.wiring  # what the first step adds: the adapters of real AWS
t3 = time.perf_counter()
forbidden = sys.argv[2].split(",")
loaded = sorted(
    name for name in sys.modules
    if any(name == f or name.startswith(f + ".") for f in forbidden)
)
print(json.dumps({
    "import_handler_s": t1 - t0,
    "build_driver_s": t2 - t1,
    "first_step_imports_s": t3 - t2,
    "cpu_s": time.process_time(),
    "modules": len(sys.modules),
    "forbidden_loaded": loaded,
}))
"""


def _table_stub() -> tuple[ThreadingHTTPServer, str]:
    """A local endpoint that answers DescribeTable with the store's own table schema."""
    sys.path.insert(0, str(ROOT / "src"))
    from drsorch.store.dynamodb_layout import table_definition

    name = "drsorch-bench"
    table = {**table_definition(name), "TableName": name, "TableStatus": "ACTIVE"}
    for index in table.get("GlobalSecondaryIndexes", []):
        index["IndexStatus"] = "ACTIVE"
    body = json.dumps({"Table": table}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _importtime(stderr: str) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) of each line of ``-X importtime``."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line[12:].split("|")
        # The name keeps its indentation: one space for a module imported at top level.
        rows.append((name[1:].rstrip(), int(self_us), int(cumulative_us)))
    return rows


def run_once(store_url: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _CHILD, store_url, ",".join(FORBIDDEN)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the child failed:\n{done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["importtime"] = _importtime(done.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    server, endpoint = _table_stub()
    try:
        url = f"dynamodb://drsorch-bench?region=us-east-1&endpoint_url={endpoint}"
        runs = [run_once(url) for _ in range(args.runs)]
    finally:
        server.shutdown()

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    last = runs[-1]["importtime"]
    totals = [sum(row[1] for row in r["importtime"]) / 1e6 for r in runs]
    by_self = sorted(last, key=lambda row: -row[1])[: args.top]
    # Top-level packages by cumulative time (lines without leading spaces in the name).
    packages = [row for row in last if not row[0].startswith(" ")]
    by_cumulative = sorted(packages, key=lambda row: -row[2])[: args.top]
    forbidden = sorted({name for r in runs for name in r["forbidden_loaded"]})
    result = {
        "runs": args.runs,
        "python": sys.version.split()[0],
        "import_handler_s": median("import_handler_s"),
        "build_driver_s": median("build_driver_s"),
        "first_step_imports_s": median("first_step_imports_s"),
        "cold_start_s": statistics.median(
            r["import_handler_s"] + r["build_driver_s"] + r["first_step_imports_s"] for r in runs
        ),
        "importtime_total_s": statistics.median(totals),
        "child_cpu_s": median("cpu_s"),
        "modules": runs[-1]["modules"],
        "top_self_ms": [(name.strip(), round(s / 1000, 1)) for name, s, _ in by_self],
        "top_cumulative_ms": [(name, round(c / 1000, 1)) for name, _, c in by_cumulative],
        "forbidden_loaded": forbidden,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"cold start of drsorch.stepfunctions.handler, median of {args.runs} fresh children")
        for key in (
            "import_handler_s",
            "build_driver_s",
            "first_step_imports_s",
            "cold_start_s",
            "importtime_total_s",
            "child_cpu_s",
        ):
            print(f"  {key:22} {result[key]:.3f}")
        print(f"  modules loaded         {result['modules']}")
        print("  top-level imports by cumulative ms:")
        for name, ms in result["top_cumulative_ms"]:
            print(f"    {ms:8.1f}  {name}")
        print("  modules by self ms:")
        for name, ms in result["top_self_ms"]:
            print(f"    {ms:8.1f}  {name}")
        print(f"  not to be loaded ({', '.join(FORBIDDEN)}): {forbidden or 'none loaded'}")
    return 1 if forbidden else 0


if __name__ == "__main__":
    raise SystemExit(main())
