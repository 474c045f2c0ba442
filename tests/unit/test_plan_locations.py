"""Validation a person can act on (issue 11.6): every problem of a plan file at its line and
column, in file order, the wave named by its WaveNumber, enum and key mistakes answered with
what was meant, in our words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drsorch.errors import PlanError
from drsorch.plan import load_plan, validate_data
from drsorch.plan.loader import PlanProblems, Problem

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

A, B = "s-3d75cdc0d9a28a725", "s-3afa164776f93ce4f"


def located(tmp_path: Path, name: str, text: str) -> list[str]:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    with pytest.raises(PlanProblems) as info:
        load_plan(p)
    return [problem.located("F") for problem in info.value.located]


YAML = f"""\
PlanId: p
PlanName: n
Waves:
  - WaveNumber: 7
    ServerIds: [{A}, s-1]
    WaitTimeSecond: 5
  - ServerIds: [{B}]
    ExecutionType: parallel
"""


def test_yaml_problems_have_line_and_column_and_name_the_wave(tmp_path: Path) -> None:
    assert located(tmp_path, "p.yaml", YAML) == [
        "F:5:38: Waves[0].ServerIds[1] (wave 7): 's-1' is not a DRS source server id "
        "('s-' followed by 17 letters or digits)",
        "F:6:5: Waves[0].WaitTimeSecond (wave 7): unknown field; did you mean WaitTimeSeconds?",
        # a missing field is placed at the mapping that lacks it; no valid WaveNumber: no name
        "F:7:5: Waves[1].WaveNumber: required field is missing",
        "F:8:5: Waves[1].ExecutionType: 'parallel' is not accepted: did you mean PARALLEL? "
        "(one of PARALLEL, SEQUENTIAL)",
    ]


def test_json_problems_have_line_and_column_too(tmp_path: Path) -> None:
    data = {
        "PlanId": "p",
        "PlanName": 'n \\" \u00e9',
        "Waves": [
            {"WaveNumber": 7, "ServerIds": [A, "s-1"], "WaitTimeSecond": 5},
            {"ServerIds": [B], "ExecutionType": "parallel"},
        ],
    }
    found = located(tmp_path, "p.json", json.dumps(data, indent=2))
    assert [line.split(": ", 1)[0] for line in found] == ["F:9:9", "F:11:7", "F:13:5", "F:17:7"]
    text = json.dumps(data)  # one line, escapes before the places
    found = located(tmp_path, "q.json", text)
    assert [line.split(": ", 1)[0] for line in found] == [
        f"F:1:{text.index(token) + 1}"
        for token in ('"s-1"', '"WaitTimeSecond"', '{"ServerIds": ["s-3afa', '"ExecutionType"')
    ]


def test_problems_come_in_file_order_and_plan_wide_ones_last(tmp_path: Path) -> None:
    text = f"""\
Waves:
  - WaveNumber: 2
    ServerIds: [{A}]
    Dependencies: [9]
  - WaveNumber: 1
    ServerIds: [{A}]
Owner: me
PlanName: n
"""
    assert located(tmp_path, "p.yaml", text) == [
        "F:4:20: Waves[0].Dependencies[0] (wave 2): wave 9 does not exist",
        f"F:6:17: Waves[1].ServerIds[0] (wave 1): {A} is already in wave 2",
        "F:7:1: Owner: unknown field (fields here: PlanId, PlanName, Description, "
        "ExecutionType, TimeoutSeconds, RtoTargetSeconds, ApprovalTimeoutSeconds, Target, "
        "Notifications, Defaults, "
        "Waves)",
        "F: PlanId: required field is missing",
    ]


def test_merge_keys_and_aliases_are_placed_where_written(tmp_path: Path) -> None:
    text = f"""\
PlanId: p
PlanName: n
base: &base
  ServerIds: [{A}]
  WaitTimeSeconds: -1
Waves:
  - <<: *base
    WaveNumber: 1
"""
    found = located(tmp_path, "p.yaml", text)
    assert "F:3:1: base: unknown field" in found[0]
    assert found[1] == "F:5:3: Waves[0].WaitTimeSeconds (wave 1): must be at least 0"


def test_a_recursive_alias_is_located_without_walking_for_ever(tmp_path: Path) -> None:
    text = f"PlanId: p\nPlanName: n\nWaves: [{{WaveNumber: 1, ServerIds: [{A}]}}]\n"
    found = located(tmp_path, "p.yaml", text + "Extra: &a [*a, *a, *a]\n")
    assert found[0].startswith("F:4:1: Extra: unknown field")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sequential", "'sequential' is not accepted: did you mean SEQUENTIAL?"),
        (" Parallel ", "' Parallel ' is not accepted: did you mean PARALLEL?"),
        ("PARALEL", "'PARALEL' is not accepted: did you mean PARALLEL?"),
        ("BATCH", "'BATCH' is not accepted: must be one of PARALLEL, SEQUENTIAL"),
        (3, "must be one of PARALLEL, SEQUENTIAL, not 3"),
    ],
)
def test_enum_mistakes_are_answered_with_the_accepted_values(value: object, message: str) -> None:
    """Lowercase is never accepted (the model is strict): it is named, with the fix."""
    data = {
        "PlanId": "p",
        "PlanName": "n",
        "Waves": [{"WaveNumber": 1, "ServerIds": [A], "ExecutionType": value}],
    }
    plan, found = validate_data(data)
    assert plan is None
    assert found == [
        f"Waves[0].ExecutionType: {message}"
        + ("" if value in (3, "BATCH") else (" (one of PARALLEL, SEQUENTIAL)"))
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"ExecutionType": "drill"}, "ExecutionType: 'drill' is not accepted: did you mean DRILL?"),
        (
            {"Defaults": {"HealthCheck": {"Require": "status_ok"}}},
            "Defaults.HealthCheck.Require: 'status_ok' is not accepted: did you mean STATUS_OK?",
        ),
    ],
)
def test_every_enum_gets_the_same_help(where: dict[str, object], expected: str) -> None:
    data = {"PlanId": "p", "PlanName": "n", "Waves": [{"WaveNumber": 1, "ServerIds": [A]}]}
    (found,) = validate_data({**data, **where})[1]
    assert found.startswith(expected), found


def test_a_sequential_only_rule_does_not_call_a_lowercase_wave_sequential() -> None:
    """The user's report: `ExecutionType: sequential` with an ExecutionOrder got "only a
    SEQUENTIAL wave has a launch order (this wave is sequential)"; now only the enum."""
    data = {
        "PlanId": "p",
        "PlanName": "n",
        "Waves": [
            {
                "WaveNumber": 1,
                "ServerIds": [A, B],
                "ExecutionType": "sequential",
                "ExecutionOrder": [2, 1],
            }
        ],
    }
    (found,) = validate_data(data)[1]
    assert found.startswith("Waves[0].ExecutionType: 'sequential' is not accepted: did you mean")


def test_problem_keeps_the_machine_readable_path() -> None:
    p = Problem(("Waves", 3, "ServerIds", 0), "bad", 12, 7, wave=4)
    assert str(p) == "Waves[3].ServerIds[0]: bad"
    assert p.located("plan.yaml") == "plan.yaml:12:7: Waves[3].ServerIds[0] (wave 4): bad"
    assert Problem((), "x").located("f") == "f: (plan): x"


def test_plan_problems_is_a_plan_error_with_path_lines(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(YAML)
    with pytest.raises(PlanError) as info:
        load_plan(p)
    assert str(info.value) == f"{p}: 4 problems"
    assert info.value.problems[0].startswith("Waves[0].ServerIds[1]: ")
