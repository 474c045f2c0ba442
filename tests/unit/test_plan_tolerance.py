"""Failure tolerance in the plan (issue 11, item 8): MaxFailedServers / MaxFailedPercent on a
wave or in Defaults — their values, how they resolve to a count, and the rules between them."""

from __future__ import annotations

from typing import Any

import pytest
from tests.utils.plans import make_plan

from drsorch.plan import parse_plan, plan_json_schema, validate_data

pytestmark = pytest.mark.unit


def plan(servers: int = 4, waves: int = 2, **wave: Any) -> dict[str, Any]:
    data = make_plan(1, waves=waves, servers_per_wave=servers)
    data["Waves"][0].update(wave)
    return data


def problems_of(data: dict[str, Any]) -> list[str]:
    return validate_data(data)[1]


def tolerated(data: dict[str, Any]) -> list[int]:
    p = parse_plan(data)
    return [p.max_failed_for(w) for w in p.waves]


def test_no_tolerance_is_the_seeds_behaviour() -> None:
    assert tolerated(plan()) == [0, 0]


@pytest.mark.parametrize(
    ("servers", "fields", "expected"),
    [
        (4, {"MaxFailedServers": 0}, 0),
        (4, {"MaxFailedServers": 1}, 1),
        (4, {"MaxFailedServers": 4}, 4),  # every server may fail
        (4, {"MaxFailedPercent": 25}, 1),
        (4, {"MaxFailedPercent": 49}, 1),  # rounded down: never more than the percentage
        (5, {"MaxFailedPercent": 10}, 0),
        (25, {"MaxFailedPercent": 10}, 2),
        (3, {"MaxFailedPercent": 100}, 3),
        (3, {"MaxFailedPercent": 0}, 0),
    ],
)
def test_a_waves_tolerance_resolves_to_a_count(
    servers: int, fields: dict[str, int], expected: int
) -> None:
    assert tolerated(plan(servers, **fields)) == [expected, 0]


def test_defaults_apply_to_every_wave_and_a_wave_replaces_them_as_a_whole() -> None:
    data = plan(4, waves=3)
    data["Defaults"]["MaxFailedPercent"] = 50
    data["Waves"][1]["MaxFailedServers"] = 0  # takes the Defaults' tolerance away
    data["Waves"][2]["MaxFailedServers"] = 1  # a count replaces the Defaults' percentage
    assert tolerated(data) == [2, 0, 1]


def test_a_count_in_defaults_larger_than_a_wave_means_all_of_it() -> None:
    data = plan(2, waves=2)
    data["Defaults"]["MaxFailedServers"] = 5
    assert problems_of(data) == []
    assert tolerated(data) == [2, 2]


def test_the_fields_round_trip_through_to_dict() -> None:
    data = plan(4, MaxFailedServers=1)
    data["Defaults"]["MaxFailedPercent"] = 10
    again = parse_plan(data).to_dict()
    assert again["Waves"][0]["MaxFailedServers"] == 1
    assert again["Defaults"]["MaxFailedPercent"] == 10
    assert parse_plan(again) == parse_plan(data)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("MaxFailedServers", -1, "MaxFailedServers: must be at least 0"),
        ("MaxFailedServers", "1", "write the number without quotes"),
        ("MaxFailedServers", 1.0, "write 1"),
        ("MaxFailedServers", True, "must be a number, not true"),
        ("MaxFailedServers", 10**6, "MaxFailedServers: must be at most 100000"),
        ("MaxFailedPercent", 101, "MaxFailedPercent: must be at most 100"),
        ("MaxFailedPercent", -5, "MaxFailedPercent: must be at least 0"),
        ("MaxFailedPercent", 12.5, "must be an integer, not 12.5"),
        ("MaxFailedPercent", "10%", "must be an integer, not the text '10%'"),
    ],
)
def test_values_are_strict_integers_in_range(field: str, value: Any, message: str) -> None:
    problems = problems_of(plan(4, **{field: value}))
    assert any(p.startswith(f"Waves[0].{field}:") and message in p for p in problems), problems
    data = plan(4)
    data["Defaults"][field] = value
    problems = problems_of(data)
    assert any(p.startswith(f"Defaults.{field}:") and message in p for p in problems), problems


def test_a_waves_count_is_at_most_its_servers() -> None:
    assert problems_of(plan(3, MaxFailedServers=3)) == []
    assert problems_of(plan(3, MaxFailedServers=4)) == [
        "Waves[0].MaxFailedServers: 4 is more than the wave's 3 server(s); at most 3 "
        "(every server may fail)"
    ]


def test_a_count_and_a_percentage_are_not_given_together() -> None:
    both = "MaxFailedPercent: give MaxFailedServers or MaxFailedPercent, not both"
    assert problems_of(plan(4, MaxFailedServers=1, MaxFailedPercent=10)) == [f"Waves[0].{both}"]
    data = plan(4)
    data["Defaults"].update(MaxFailedServers=1, MaxFailedPercent=10)
    assert problems_of(data) == [f"Defaults.{both}"]


def test_the_cross_field_rules_run_while_other_fields_are_invalid() -> None:
    """All problems in one pass: a bad WaitTimeSeconds does not hide a tolerance problem."""
    data = plan(3, MaxFailedServers=9, WaitTimeSeconds=-1)
    data["Waves"][1].update(MaxFailedServers=1, MaxFailedPercent=5)
    problems = problems_of(data)
    assert any(p.startswith("Waves[0].WaitTimeSeconds:") for p in problems)
    assert any(p.startswith("Waves[0].MaxFailedServers: 9 is more") for p in problems)
    assert any(p.startswith("Waves[1].MaxFailedPercent: give") for p in problems)


def test_the_schema_has_the_fields() -> None:
    defs = plan_json_schema()["$defs"]
    assert isinstance(defs, dict)
    for model in ("Wave", "Defaults"):
        props = defs[model]["properties"]
        assert "MaxFailedServers" in props and "MaxFailedPercent" in props, model
        percent = props["MaxFailedPercent"]["anyOf"][0]
        assert percent == {"type": "integer", "minimum": 0, "maximum": 100}
