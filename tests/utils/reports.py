"""Execution records written by hand for report tests: times as offsets from ``T0``.

``diamond()`` is the reference DAG: 1 -> {2, 3} -> 4, where wave 2 ends first but its
WaitTimeSeconds makes it the dependency that releases wave 4. ``completed()`` makes a
COMPLETED record of plan ``p`` of a given duration, for plan statistics.
"""

from __future__ import annotations

from typing import Any

from drsorch.history import ExecutionRecord
from tests.utils.history import make_record

T0 = 1_764_070_000.0
A, B, C, D, E = (f"s-{n:017d}" for n in range(1, 6))


def server(sid: str, status: str = "COMPLETED", *times: float | None, **kw: Any) -> dict[str, Any]:
    """A ServerResult; ``times`` are offsets from T0 (sent, launched, healthy, end)."""
    names = ("StartTime", "LaunchedTime", "HealthyTime", "EndTime")
    out: dict[str, Any] = {"ServerId": sid, "Status": status, **kw}
    for name, t in zip(names, times, strict=False):
        out[name] = None if t is None else T0 + t
    return out


def wave(
    number: int,
    status: str,
    start: float | None,
    end: float | None,
    servers: list[dict[str, Any]],
    deps: list[int] | None,
    wait: int | None = 0,
) -> dict[str, Any]:
    return {
        "WaveNumber": number,
        "WaveName": f"Tier {number}",
        "Status": status,
        "DependsOn": deps,
        "WaitTimeSeconds": wait if deps is not None else None,
        "StartTime": None if start is None else T0 + start,
        "EndTime": None if end is None else T0 + end,
        "ServerResults": servers,
    }


def record(
    waves: list[dict[str, Any]], status: str = "COMPLETED", end: float | None = None, **kw: Any
) -> ExecutionRecord:
    terminal = status in ("COMPLETED", "FAILED", "CANCELLED")
    data: dict[str, Any] = {
        "ExecutionId": "1849d377-5c8e-4b1f-9e38-7ad2b1a1b2c3",
        "PlanId": "three-tier-app",
        "PlanName": "Three tiers",
        "ExecutionType": "DRILL",
        "Status": status,
        "InitiatedBy": "alice@host",
        "StartTime": T0,
        "EndTime": T0 + end if terminal and end is not None else None,
        "Duration": end if terminal else None,
        "SourceAccountId": "123456789012",
        "TargetAccountId": "123456789012",
        "Region": "us-east-1",
        "ServerCount": sum(len(w["ServerResults"]) for w in waves),
        "WaveStatus": waves,
        **kw,
    }
    return ExecutionRecord.from_dict(data)


def diamond(**kw: Any) -> ExecutionRecord:
    """1 -> {2, 3} -> 4. Wave 2 ends first (at 500) but waits 300 s before releasing 4;
    wave 3 ends at 600 and waits 0: wave 4 starts at 800, released by wave 2."""
    return record(
        [
            wave(1, "COMPLETED", 10, 200, [server(A, "COMPLETED", 10, 150, 200, 200)], [], 50),
            wave(2, "COMPLETED", 250, 500, [server(B, "COMPLETED", 250, 450, 500, 500)], [1], 300),
            wave(3, "COMPLETED", 250, 600, [server(C, "COMPLETED", 250, 550, 600, 600)], [1], 0),
            wave(4, "COMPLETED", 800, 1000, [server(D, "COMPLETED", 800, 900, 1000, 1000)], [2, 3]),
        ],
        end=1005,
        **kw,
    )


def completed(
    seed: int, start: float, seconds: float, kind: str | None, **kw: Any
) -> ExecutionRecord:
    """A COMPLETED record of plan ``p`` that took ``seconds`` and ran on ``kind``."""
    data = make_record(seed, Status="COMPLETED", PlanId="p", StartTime=start).to_dict()
    data["EndTime"] = start + seconds
    data["Duration"] = seconds
    data["Environment"] = None if kind is None else {"Kind": kind}
    data.update(kw)
    return ExecutionRecord.from_dict(data)
