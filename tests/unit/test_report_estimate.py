"""The arithmetic of ``drsorch estimate`` (issue 12, item 3): percentiles, the summary of
many runs, and fitting launch and boot durations from AWS history. Pure: no engine."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from drsorch.core.statuses import ExecutionStatus
from drsorch.history import ExecutionRecord
from drsorch.report.estimate import RunResult, fit_timing, percentile, summarize
from drsorch.sim.timing import Span, Timing

COMPLETED, FAILED = ExecutionStatus.COMPLETED, ExecutionStatus.FAILED


def test_percentiles_of_known_inputs_interpolate_linearly() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 99) == 7.0
    hundred = [float(i) for i in range(1, 101)]
    assert percentile(hundred, 50) == 50.5
    assert percentile(hundred, 90) == pytest.approx(90.1)
    assert percentile(hundred, 99) == pytest.approx(99.01)


@pytest.mark.parametrize(("values", "p"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_refuses_no_values_and_p_out_of_range(values: list[float], p: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, p)


def run(seed: int, total: float, status: ExecutionStatus = COMPLETED, **waves: Any) -> RunResult:
    return RunResult(
        seed=seed,
        status=status,
        recovery_seconds=total,
        waves={1: ("db", waves.get("w1", total / 2)), 2: ("app", waves.get("w2", total / 2))},
        first_error=None if status is COMPLETED else "s-1 failed",
    )


def test_summary_counts_completed_runs_and_measures_only_them() -> None:
    results = [
        run(10, 100.0),
        run(11, 200.0),
        run(12, 50.0, FAILED, w2=None),
        run(13, 300.0),
    ]
    estimate = summarize("plan", 250, results)
    assert (estimate.runs, estimate.completed, estimate.seeds) == (4, 3, (10, 13))
    assert estimate.statuses == {"COMPLETED": 3, "FAILED": 1}
    assert estimate.total is not None
    assert (estimate.total.count, estimate.total.p50) == (3, 200.0)
    wave2 = estimate.waves[1]
    assert (wave2.number, wave2.name, wave2.completed) == (2, "app", 3)
    assert estimate.waves[0].completed == 4  # wave 1 of the failed run completed
    # 100 and 200 met 250; the failed run (50 s) did not, and 300 did not.
    assert estimate.rto_probability == 0.5
    assert estimate.example_failure == (12, "s-1 failed")
    data = estimate.to_dict()
    assert data["RecoverySeconds"]["P50"] == 200.0
    assert data["ExampleFailure"] == {"Seed": 12, "Error": "s-1 failed"}


def test_summary_without_target_or_completed_runs() -> None:
    estimate = summarize("plan", None, [run(0, 10.0, FAILED, w1=None, w2=None)])
    assert estimate.rto_probability is None
    assert estimate.total is None
    assert estimate.waves[0].seconds is None
    assert estimate.to_dict()["RecoverySeconds"] is None
    with pytest.raises(ValueError):
        summarize("plan", None, [])


SERVERS = ("s-00000000000000001", "s-00000000000000002")


def record(kind: str | None, launching: float, booting: float | None) -> ExecutionRecord:
    """A COMPLETED execution of two servers, each taking these durations."""
    start = 1_764_000_000.0
    servers = [
        {
            "ServerId": sid,
            "Status": "COMPLETED",
            "StartTime": start + i,
            "LaunchedTime": start + i + launching,
            "HealthyTime": None if booting is None else start + i + launching + booting,
            "EndTime": start + i + launching + (booting or 0),
        }
        for i, sid in enumerate(SERVERS)
    ]
    end = start + 1 + launching + (booting or 0)
    return ExecutionRecord.from_dict(
        {
            "ExecutionId": str(uuid.uuid4()),
            "PlanId": "plan",
            "PlanName": "Plan",
            "ExecutionType": "DRILL",
            "Status": "COMPLETED",
            "InitiatedBy": "me",
            "StartTime": start,
            "EndTime": end,
            "Duration": end - start,
            "SourceAccountId": "123456789012",
            "TargetAccountId": "123456789012",
            "Region": "us-east-1",
            "ServerCount": 2,
            "Environment": None if kind is None else {"Kind": kind},
            "WaveStatus": [
                {
                    "WaveNumber": 1,
                    "WaveName": "one",
                    "Status": "COMPLETED",
                    "StartTime": start,
                    "EndTime": end,
                    "ServerResults": servers,
                }
            ],
        }
    )


def test_fit_takes_launching_and_booting_from_aws_records_only() -> None:
    fit = fit_timing(
        [
            record("aws", 600.0, 120.0),
            record("aws", 900.0, None),  # health check disabled: no boot sample
            record("simulator", 5.0, 5.0),
            record(None, 5.0, 5.0),  # older record: where it ran is unknown
        ]
    )
    assert fit.usable and fit.executions == 2
    assert sorted(fit.launching) == [600.0, 600.0, 900.0, 900.0]
    assert fit.booting == (120.0, 120.0)
    timing = fit.timing(Timing())
    assert timing.launch == Span(min=600, max=900)
    assert timing.running == Span(min=120, max=120)
    assert timing.status_ok == Span(min=0, max=0)
    assert timing.job_start == Timing().job_start  # not observed: kept
    assert fit.to_dict()["Launching"] == {"Min": 600.0, "Max": 900.0}


def test_fit_of_no_aws_history_is_unusable() -> None:
    fit = fit_timing([record("simulator", 5.0, 5.0)])
    assert not fit.usable and fit.executions == 0
    assert fit.timing(Timing()) == Timing()
    assert fit.to_dict()["Booting"] is None
