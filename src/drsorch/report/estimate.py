"""The recovery-time estimate of a plan (issue 12, item 3): the arithmetic, apart from
running anything. Pure: no click, no I/O, no clock.

:mod:`drsorch.estimating` runs the plan N times on the simulator (the engine's own code
path) and hands each finished record to :func:`run_result`, which reads it through the
report view (:func:`~drsorch.report.view.build_report`), so an estimate measures recovery
time exactly as ``drsorch report`` does. :func:`summarize` turns the runs into an
:class:`Estimate`.

**What is measured.** The *total* is the execution's recovery time (its Duration: the
preflight, every wave, every wait). A *wave* takes its StartTime to its EndTime. Both are
taken over the runs that ended COMPLETED (for a wave: the runs where that wave COMPLETED),
since a failed run did not recover; how many runs completed is reported beside them. The
probability of meeting ``RtoTargetSeconds`` is the share of *all* runs that the report
calls MET (COMPLETED within the target), so failed runs count against it.

**Percentiles** are linear interpolation between the closest ranks (numpy's default,
"type 7"): ``p`` of ``[x0 <= ... <= xn-1]`` is ``x[k] + (x[k+1] - x[k]) * f`` where
``k + f = p / 100 * (n - 1)``. p50 of an even count is the mean of the middle two.

**Fitting from history** (``--from-history``, :func:`fit_timing`). From this plan's past
executions against AWS (records whose ``Environment.Kind`` is ``"aws"``), every server
that has both times gives one sample of

- *launching* = ``LaunchedTime - StartTime`` (StartRecovery sent to DRS reporting it
  LAUNCHED), which becomes the simulator's ``launch`` span;
- *booting* = ``HealthyTime - LaunchedTime`` (launched to its health check passing), which
  becomes the simulator's ``running`` span, with ``status_ok`` set to 0 so the status
  checks pass the moment the instance runs: a wave requiring RUNNING and one requiring
  STATUS_OK then both take the observed booting time.

Each span is uniform from the smallest to the largest sample (the simulator's timing model
is a uniform :class:`~drsorch.sim.timing.Span`, not an arbitrary distribution). The
recorded times were seen through the engine's polls (every 30 s), and the simulated run
polls again on top of them, so a fitted estimate leans long by up to a poll interval per
phase: a cautious error for an RTO. Other spans (job start and end) keep the scenario's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drsorch.core.statuses import ExecutionStatus, WaveStatus
from drsorch.history import ExecutionRecord
from drsorch.report.view import build_report
from drsorch.sim.timing import Span, Timing

__all__ = [
    "QUANTILES",
    "Estimate",
    "HistoryFit",
    "Quantiles",
    "RunResult",
    "WaveEstimate",
    "fit_timing",
    "percentile",
    "run_result",
    "summarize",
]

#: The percentiles an estimate reports.
QUANTILES = (50, 90, 99)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of ``values`` by linear interpolation (see the
    module docstring). Raises ValueError for no values or ``p`` out of range."""
    if not values:
        raise ValueError("no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is not within 0..100")
    ordered = sorted(values)
    rank = p / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Quantiles:
    """p50/p90/p99 (and the range) of ``count`` durations, in seconds."""

    count: int
    p50: float
    p90: float
    p99: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Quantiles | None:
        if not values:
            return None
        p50, p90, p99 = (percentile(values, p) for p in QUANTILES)
        return cls(len(values), p50, p90, p99, min(values), max(values))

    def to_dict(self) -> dict[str, Any]:
        return {
            "Count": self.count,
            "P50": self.p50,
            "P90": self.p90,
            "P99": self.p99,
            "Min": self.low,
            "Max": self.high,
        }


@dataclass(frozen=True)
class RunResult:
    """What one simulated run of the plan came to."""

    seed: int
    status: ExecutionStatus
    recovery_seconds: float
    #: wave number -> (its name, its seconds when it COMPLETED, else None)
    waves: Mapping[int, tuple[str, float | None]]
    #: the record's first error entry, if any (why a run failed)
    first_error: str | None = None

    def meets(self, target: int) -> bool:
        """Whether this run met ``target`` seconds as a report says it (COMPLETED, and
        within the target: :class:`~drsorch.report.view.RtoVerdict`)."""
        return self.status is ExecutionStatus.COMPLETED and self.recovery_seconds <= target


def run_result(seed: int, record: ExecutionRecord) -> RunResult:
    """One finished run, read through the report view (as ``drsorch report`` reads it)."""
    report = build_report(record)
    waves = {
        wave.number: (
            wave.name,
            wave.seconds if wave.status is WaveStatus.COMPLETED else None,
        )
        for wave in report.waves
    }
    return RunResult(
        seed=seed,
        status=record.Status,
        recovery_seconds=report.recovery_seconds,
        waves=waves,
        first_error=record.Errors[0].Message if record.Errors else None,
    )


@dataclass(frozen=True)
class WaveEstimate:
    number: int
    name: str
    completed: int  # runs in which this wave COMPLETED
    seconds: Quantiles | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "WaveNumber": self.number,
            "WaveName": self.name,
            "CompletedRuns": self.completed,
            "Seconds": None if self.seconds is None else self.seconds.to_dict(),
        }


@dataclass(frozen=True)
class Estimate:
    """The recovery time of a plan over ``runs`` simulated executions."""

    plan_id: str
    runs: int
    seeds: tuple[int, int]  # first and last
    completed: int
    statuses: Mapping[str, int]
    total: Quantiles | None  # over the COMPLETED runs
    waves: tuple[WaveEstimate, ...]
    rto_target_seconds: int | None
    #: share of all runs that met the target (None: no target)
    rto_probability: float | None
    #: the first run that did not complete: its seed and first error (None: all did)
    example_failure: tuple[int, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "PlanId": self.plan_id,
            "Runs": self.runs,
            "FirstSeed": self.seeds[0],
            "LastSeed": self.seeds[1],
            "CompletedRuns": self.completed,
            "Statuses": dict(self.statuses),
            "RecoverySeconds": None if self.total is None else self.total.to_dict(),
            "RtoTargetSeconds": self.rto_target_seconds,
            "RtoProbability": self.rto_probability,
            "Waves": [wave.to_dict() for wave in self.waves],
            "ExampleFailure": None
            if self.example_failure is None
            else {"Seed": self.example_failure[0], "Error": self.example_failure[1]},
        }


def summarize(plan_id: str, rto_target: int | None, results: Sequence[RunResult]) -> Estimate:
    """The estimate of ``results`` (at least one run)."""
    if not results:
        raise ValueError("an estimate needs at least one run")
    done = [r for r in results if r.status is ExecutionStatus.COMPLETED]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    names: dict[int, str] = {}
    samples: dict[int, list[float]] = {}
    for r in results:
        for number, (name, seconds) in r.waves.items():
            names.setdefault(number, name)
            samples.setdefault(number, [])
            if seconds is not None:
                samples[number].append(seconds)
    waves = tuple(
        WaveEstimate(n, names[n], len(samples[n]), Quantiles.of(samples[n]))
        for n in sorted(samples)
    )
    probability = None
    if rto_target is not None:
        probability = sum(1 for r in results if r.meets(rto_target)) / len(results)
    seeds = [r.seed for r in results]
    failed = [r for r in results if r.status is not ExecutionStatus.COMPLETED]
    example = None
    if failed:
        example = (failed[0].seed, failed[0].first_error or f"ended {failed[0].status.value}")
    return Estimate(
        plan_id=plan_id,
        runs=len(results),
        seeds=(min(seeds), max(seeds)),
        completed=len(done),
        statuses=statuses,
        total=Quantiles.of([r.recovery_seconds for r in done]),
        waves=waves,
        rto_target_seconds=rto_target,
        rto_probability=probability,
        example_failure=example,
    )


# -- fitting launch and boot durations from history ---------------------------------------


@dataclass(frozen=True)
class HistoryFit:
    """Launch and boot durations observed in past AWS executions, and the timing made of
    them (see the module docstring)."""

    executions: int  # AWS executions that gave at least one sample
    launching: tuple[float, ...]
    booting: tuple[float, ...]

    @property
    def usable(self) -> bool:
        return bool(self.launching)

    def timing(self, base: Timing) -> Timing:
        """``base`` with launch (and, when samples exist, running / status_ok) fitted."""
        update: dict[str, Span] = {}
        if self.launching:
            update["launch"] = Span(min=min(self.launching), max=max(self.launching))
        if self.booting:
            update["running"] = Span(min=min(self.booting), max=max(self.booting))
            update["status_ok"] = Span(min=0, max=0)
        return base.model_copy(update=update)

    def to_dict(self) -> dict[str, Any]:
        return {
            "Executions": self.executions,
            "LaunchingSamples": len(self.launching),
            "BootingSamples": len(self.booting),
            "Launching": _range(self.launching),
            "Booting": _range(self.booting),
        }


def _range(values: Sequence[float]) -> dict[str, float] | None:
    return {"Min": min(values), "Max": max(values)} if values else None


def fit_timing(records: Iterable[ExecutionRecord]) -> HistoryFit:
    """The launching and booting samples of ``records`` that ran against AWS."""
    launching: list[float] = []
    booting: list[float] = []
    executions = 0
    for record in records:
        if record.Environment is None or record.Environment.Kind != "aws":
            continue
        before = len(launching) + len(booting)
        for wave in record.WaveStatus:
            for s in wave.ServerResults:
                if s.StartTime is not None and s.LaunchedTime is not None:
                    launching.append(s.LaunchedTime - s.StartTime)
                if s.LaunchedTime is not None and s.HealthyTime is not None:
                    booting.append(s.HealthyTime - s.LaunchedTime)
        executions += len(launching) + len(booting) > before
    return HistoryFit(executions, tuple(launching), tuple(booting))
