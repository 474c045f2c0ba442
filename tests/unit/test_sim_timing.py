"""Seeded durations: spans, per-server overrides, stable random streams."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drsorch.sim.timing import Span, Timing, TimingOverrides, stable_rng

pytestmark = pytest.mark.unit


def test_span_draws_within_bounds_and_fixed_spans_are_fixed() -> None:
    rng = stable_rng(1, "x")
    span = Span(min=480, max=1200)
    draws = [span.draw(rng) for _ in range(1000)]
    assert min(draws) >= 480 and max(draws) <= 1200
    assert Span(min=30, max=30).draw(rng) == 30


def test_span_rejects_inverted_or_negative_bounds() -> None:
    with pytest.raises(ValidationError):
        Span(min=10, max=5)
    with pytest.raises(ValidationError):
        Span(min=-1, max=5)


def test_defaults_match_the_issue() -> None:
    timing = Timing()
    assert (timing.launch.min, timing.launch.max) == (480, 1200)
    assert (timing.running.min, timing.running.max) == (30, 90)
    assert (timing.status_ok.min, timing.status_ok.max) == (120, 240)


def test_overrides_replace_only_what_they_set() -> None:
    base = Timing()
    merged = base.merged(TimingOverrides(launch=Span(min=60, max=60)))
    assert merged.launch == Span(min=60, max=60)
    assert merged.running == base.running
    assert base.merged(None) is base
    assert base.merged(TimingOverrides()) is base


def test_stable_rng_depends_only_on_seed_and_key() -> None:
    a = [stable_rng(7, "launch", "s-1", 1).random() for _ in range(2)]
    assert a[0] == a[1]
    assert stable_rng(7, "launch", "s-1", 1).random() != stable_rng(8, "launch", "s-1", 1).random()
    assert stable_rng(7, "launch", "s-1", 1).random() != stable_rng(7, "launch", "s-1", 2).random()
