"""Benchmark of the simulated DRS + EC2 region (issue 3's figures).

Simulates 10 000 source servers recovered in 100 jobs of 100, to completion, in virtual
time, through real boto3 clients attached in-process (the same path the engine uses):
StartRecovery within the DRS quotas (20 concurrent jobs, 500 servers in active jobs),
DescribeJobs polls every 30 virtual seconds, then DescribeRecoveryInstances and
DescribeInstanceStatus (100 ids per call) until every instance is running with checks ok.
Reports wall time, peak RSS (ru_maxrss), virtual time, and API calls by operation.
Targets: under 10 s wall and under 500 MB.

    .venv/bin/python bench/bench_sim.py [--servers 10000] [--job-size 100] [--seed 0]
                                        [--quick] [--json] [--model-only]

``--quick`` runs 1 000 servers; ``--model-only`` drives the region model directly, without
boto3, to show how much of the time is the simulator itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections import Counter
from typing import Any

from drsorch.clock import VirtualClock
from drsorch.sim import Scenario, SimRegion
from drsorch.sim.errors import SimApiError
from drsorch.sim.testing import clients

POLL = 30.0


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def run_boto3(region: SimRegion, job_size: int) -> dict[str, Any]:
    clock = region.clock
    assert isinstance(clock, VirtualClock)
    drs, ec2 = clients(region)
    quotas = region.scenario.quotas
    queue = _chunks(region.source_server_ids, job_size)
    active: dict[str, int] = {}  # job id -> servers
    outcomes: Counter[str] = Counter()
    while queue or active:
        while (
            queue
            and len(active) < quotas.concurrent_jobs
            and sum(active.values()) + len(queue[0]) <= quotas.servers_in_active_jobs
        ):
            chunk = queue.pop(0)
            servers = [{"sourceServerID": sid} for sid in chunk]
            job = drs.start_recovery(sourceServers=servers, isDrill=True, tags={"bench": "1"})
            active[job["job"]["jobID"]] = len(chunk)
        clock.sleep(POLL)
        jobs = drs.describe_jobs(filters={"jobIDs": list(active)})["items"]
        for job in jobs:
            if job["status"] == "COMPLETED":
                del active[job["jobID"]]
                outcomes.update(p["launchStatus"] for p in job["participatingServers"])
    instances: list[str] = []
    for page in drs.get_paginator("describe_recovery_instances").paginate():
        instances.extend(item["ec2InstanceID"] for item in page["items"])
    waiting = set(instances)
    while waiting:
        ids = sorted(waiting)
        for i in range(0, len(ids), 100):
            batch = ids[i : i + 100]
            statuses = ec2.describe_instance_status(InstanceIds=batch, IncludeAllInstances=True)
            for status in statuses["InstanceStatuses"]:
                if (
                    status["InstanceState"]["Name"] == "running"
                    and status["InstanceStatus"]["Status"] == "ok"
                    and status["SystemStatus"]["Status"] == "ok"
                ):
                    waiting.discard(status["InstanceId"])
        if waiting:
            clock.sleep(POLL)
    return {"launch_status": dict(outcomes), "healthy_instances": len(instances)}


def run_model(region: SimRegion, job_size: int) -> dict[str, Any]:
    clock = region.clock
    assert isinstance(clock, VirtualClock)
    queue = _chunks(region.source_server_ids, job_size)
    while queue:
        try:
            region.model.start_recovery(queue[0], True, {"bench": "1"})
            queue.pop(0)
        except SimApiError:
            clock.sleep(POLL)
            region.sync()
    region.run_until_idle()
    statuses = Counter(p.launch_status for j in region.jobs for p in j.participants.values())
    ok = sum(1 for i in region.model.instances.values() if i.instance_checks == "ok")
    return {"launch_status": dict(statuses), "healthy_instances": ok}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--job-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1 000 servers")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--model-only", action="store_true", help="no boto3, the model alone")
    args = parser.parse_args()
    servers = 1_000 if args.quick else args.servers

    started = time.perf_counter()
    cpu_started = time.process_time()
    clock = VirtualClock()
    region = SimRegion(clock=clock, scenario=Scenario(generate_servers=servers), seed=args.seed)
    runner = run_model if args.model_only else run_boto3
    result = runner(region, args.job_size)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    calls = Counter(c.operation for c in region.recorder.calls)
    report = {
        "servers": servers,
        "jobs": len(region.model.jobs),
        "mode": "model-only" if args.model_only else "boto3 in-process",
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),  # differs from wall when the machine is busy
        "load_average": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_mb, 1),
        "virtual_hours": round((clock.now() - region.start) / 3600, 2),
        "calls": dict(sorted(calls.items())),
        "python": platform.python_version(),
        **result,
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:18} {value}")
    launched = result["launch_status"].get("LAUNCHED", 0)
    ok = launched == servers and result["healthy_instances"] == servers
    if not ok:
        print("not every server launched and became healthy", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
