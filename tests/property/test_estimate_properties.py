"""Properties of the estimate's percentiles (issue 12, item 3)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drsorch.report.estimate import Quantiles, percentile

durations = st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50)


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50),
    st.floats(0, 100),
    st.floats(0, 100),
)
def test_percentile_is_monotone_and_within_the_range(
    values: list[float], p: float, q: float
) -> None:
    low, high = sorted((p, q))
    assert min(values) <= percentile(values, low) <= percentile(values, high) <= max(values)


@given(durations)
def test_quantiles_are_ordered_and_do_not_depend_on_the_order_of_runs(values: list[float]) -> None:
    q = Quantiles.of(values)
    assert q is not None
    assert q.low <= q.p50 <= q.p90 <= q.p99 <= q.high
    assert Quantiles.of(list(reversed(values))) == q
