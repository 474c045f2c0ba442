"""Recovery time across a plan's past executions (``drsorch history --plan P --stats``,
issue 12 item 5), so a team sees its drills getting faster or slower. Pure.

Only COMPLETED executions have a recovery time (their Duration: start to end); the others
are counted by status. Executions are grouped by where they ran (``aws``, ``simulator``,
or ``unknown`` for records older than the Environment field): a rehearsal on the simulator
says nothing about how long AWS takes, so the two are never mixed.

**Trend** (per group): the median recovery time of the newest ``k`` completed executions
against the median of the ``k`` before them, ``k`` = :data:`TREND_WINDOW` (fewer when there
are fewer than ``2 * TREND_WINDOW`` runs; at least :data:`MIN_TREND_RUNS` runs are needed).
A change within :data:`STEADY_WITHIN` (10 %) of the earlier median is ``steady``; less
time is ``faster``, more is ``slower``. Medians, not means or a fitted slope: one drill
that hit a slow launch does not turn the trend, and the rule is easy to check by hand.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from drsorch.core.statuses import ExecutionStatus
from drsorch.history import ExecutionRecord

__all__ = [
    "MIN_TREND_RUNS",
    "STEADY_WITHIN",
    "TREND_WINDOW",
    "GroupStats",
    "PlanStats",
    "Trend",
    "plan_stats",
    "trend_of",
]

#: How many of the newest completed runs are compared with as many before them.
TREND_WINDOW = 3
#: Fewer completed runs than this: no trend (two against two is the least that says more
#: than one run against another).
MIN_TREND_RUNS = 4
#: A change of the median within this fraction of the earlier median is "steady".
STEADY_WITHIN = 0.10

Direction = Literal["faster", "slower", "steady", "unknown"]


@dataclass(frozen=True)
class Trend:
    """Whether recovery time is going down (``faster``) or up (``slower``)."""

    direction: Direction
    window: int = 0  # runs in each of the two medians compared (0: no trend)
    recent_median: float | None = None
    earlier_median: float | None = None

    @property
    def change(self) -> float | None:
        """The relative change of the median (-0.25: a quarter faster); None: no trend."""
        if self.recent_median is None or self.earlier_median is None:
            return None
        if self.earlier_median == 0:
            return 0.0 if self.recent_median == 0 else 1.0
        return (self.recent_median - self.earlier_median) / self.earlier_median

    def to_dict(self) -> dict[str, Any]:
        return {
            "Direction": self.direction,
            "Window": self.window,
            "RecentMedianSeconds": self.recent_median,
            "EarlierMedianSeconds": self.earlier_median,
            "Change": self.change,
        }


def trend_of(seconds_oldest_first: Sequence[float]) -> Trend:
    """The trend of recovery times given oldest first (see the module docstring)."""
    n = len(seconds_oldest_first)
    if n < MIN_TREND_RUNS:
        return Trend("unknown")
    k = min(TREND_WINDOW, n // 2)
    recent = statistics.median(seconds_oldest_first[-k:])
    earlier = statistics.median(seconds_oldest_first[-2 * k : -k])
    trend = Trend("steady", k, recent, earlier)
    change = trend.change
    assert change is not None
    if abs(change) <= STEADY_WITHIN:
        return trend
    return Trend("faster" if change < 0 else "slower", k, recent, earlier)


@dataclass(frozen=True)
class GroupStats:
    """Recovery times of the completed executions that ran in one kind of place."""

    environment: str  # "aws", "simulator" or "unknown"
    seconds: tuple[float, ...]  # oldest first
    last_execution_id: str
    rto_judged: int  # completed runs whose plan had an RtoTargetSeconds
    rto_met: int  # ...and that ended within it

    @property
    def runs(self) -> int:
        return len(self.seconds)

    @property
    def minimum(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def last(self) -> float:
        return self.seconds[-1]

    @property
    def trend(self) -> Trend:
        return trend_of(self.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "Environment": self.environment,
            "Runs": self.runs,
            "MinSeconds": self.minimum,
            "MedianSeconds": self.median,
            "LastSeconds": self.last,
            "LastExecutionId": self.last_execution_id,
            "Trend": self.trend.to_dict(),
            "RtoJudged": self.rto_judged,
            "RtoMet": self.rto_met,
        }


@dataclass(frozen=True)
class PlanStats:
    """What ``history --plan P --stats`` says: counts by status, times per group."""

    plan_id: str
    executions: int
    by_status: dict[str, int]
    groups: tuple[GroupStats, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "PlanId": self.plan_id,
            "Executions": self.executions,
            "ByStatus": dict(self.by_status),
            "Groups": [group.to_dict() for group in self.groups],
            "TrendRule": (
                f"median of the newest {TREND_WINDOW} completed runs against the "
                f"{TREND_WINDOW} before them (fewer when there are fewer runs; at least "
                f"{MIN_TREND_RUNS}); within {STEADY_WITHIN:.0%} is steady"
            ),
        }


def plan_stats(plan_id: str, records: Sequence[ExecutionRecord]) -> PlanStats:
    """The statistics of ``records`` (any order) of plan ``plan_id``."""
    ordered = sorted(records, key=lambda r: (r.StartTime, r.ExecutionId))
    by_status = Counter(r.Status.value for r in ordered)
    grouped: dict[str, list[ExecutionRecord]] = {}
    for record in ordered:
        if record.Status is ExecutionStatus.COMPLETED and record.Duration is not None:
            where = record.Environment.Kind if record.Environment is not None else "unknown"
            grouped.setdefault(where, []).append(record)
    groups = []
    for where in ("aws", "simulator", "unknown"):
        runs = grouped.get(where)
        if not runs:
            continue
        judged = [r for r in runs if r.RtoTargetSeconds is not None]
        groups.append(
            GroupStats(
                environment=where,
                seconds=tuple(r.Duration or 0.0 for r in runs),
                last_execution_id=runs[-1].ExecutionId,
                rto_judged=len(judged),
                rto_met=sum(1 for r in judged if (r.Duration or 0.0) <= (r.RtoTargetSeconds or 0)),
            )
        )
    return PlanStats(
        plan_id=plan_id,
        executions=len(ordered),
        by_status={s.value: by_status[s.value] for s in ExecutionStatus if by_status[s.value]},
        groups=tuple(groups),
    )
