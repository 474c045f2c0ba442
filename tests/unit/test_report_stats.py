"""Recovery time across a plan's executions (issue 12 item 5, drsorch.report.stats): min,
median, last, the trend rule, runs grouped by where they ran, and the RTO kept or not."""

from __future__ import annotations

import pytest
from tests.utils.history import make_record
from tests.utils.reports import completed

from drsorch.report.stats import plan_stats, trend_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("times", "direction", "window"),
    [
        ([100, 100, 100], "unknown", 0),  # fewer than 4 runs
        ([100, 100, 80, 80], "faster", 2),  # 80 against 100: -20 %
        ([100, 100, 100, 91, 91, 91], "steady", 3),  # -9 %: within 10 %
        ([100, 100, 100, 89, 89, 89], "faster", 3),  # -11 %
        ([50, 50, 50, 120, 100, 100, 111], "slower", 3),  # median 100 against 50
        ([500, 100, 100, 100, 100, 900, 100], "steady", 3),  # one slow drill does not turn it
    ],
)
def test_the_trend_compares_the_medians_of_the_newest_runs_with_those_before(
    times: list[float], direction: str, window: int
) -> None:
    trend = trend_of(times)
    assert (trend.direction, trend.window) == (direction, window)


def test_the_trend_says_by_how_much() -> None:
    trend = trend_of([600, 620, 580, 450, 460, 440])
    assert trend.direction == "faster"
    assert (trend.earlier_median, trend.recent_median) == (600, 450)
    assert trend.change == pytest.approx(-0.25)


def test_stats_are_per_place_it_ran_oldest_first_and_count_the_other_outcomes() -> None:
    day = 86_400.0
    records = [
        completed(1, 1_800_000_000 + 3 * day, 3000, "aws", RtoTargetSeconds=3600),
        completed(2, 1_800_000_000 + 1 * day, 4000, "aws", RtoTargetSeconds=3600),
        completed(3, 1_800_000_000 + 2 * day, 3500, "aws"),
        completed(4, 1_800_000_000 + 0 * day, 60, "simulator"),
        completed(5, 1_700_000_000, 5000, None),
        make_record(6, Status="FAILED", PlanId="p"),
        make_record(7, Status="CANCELLED", PlanId="p"),
    ]
    stats = plan_stats("p", records)  # in any order: the store gives them newest first
    assert stats.executions == 7
    assert stats.by_status == {"COMPLETED": 5, "FAILED": 1, "CANCELLED": 1}
    aws, sim, unknown = stats.groups
    assert aws.environment == "aws" and aws.seconds == (4000, 3500, 3000)
    assert (aws.minimum, aws.median, aws.last) == (3000, 3500, 3000)
    assert aws.last_execution_id == records[0].ExecutionId
    assert (aws.rto_judged, aws.rto_met) == (2, 1)
    assert aws.trend.direction == "unknown"
    assert sim.seconds == (60,) and unknown.seconds == (5000,)
    data = stats.to_dict()
    assert data["Groups"][0]["MedianSeconds"] == 3500
    assert "within 10% is steady" in data["TrendRule"]


def test_no_completed_execution_gives_no_groups() -> None:
    stats = plan_stats("p", [make_record(6, Status="FAILED", PlanId="p")])
    assert stats.groups == () and stats.by_status == {"FAILED": 1}
