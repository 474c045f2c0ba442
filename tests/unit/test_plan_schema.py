"""The plan JSON Schema (``drsorch schema``) agrees with the loader: every example and
fixture plan validates against it with ``jsonschema``, and it rejects what the model
rejects at field level."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.utils.plans import example_paths, fixture_data, make_plan, valid_fixture_paths

from drsorch.plan import (
    Defaults,
    HealthCheckSettings,
    Notifications,
    Plan,
    Target,
    Wave,
    plan_json_schema,
    read_document,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]  # a hang fails, not blocks

PLAN_FILES = example_paths() + valid_fixture_paths()


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = plan_json_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_schema_is_draft_2020_12_with_a_title() -> None:
    schema = plan_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "drsorch recovery plan"
    assert set(schema["required"]) == {"PlanId", "PlanName", "Waves"}


def test_there_are_examples_and_fixtures_to_check() -> None:
    names = {p.name for p in PLAN_FILES}
    assert {"three-tier.yaml", "dag-two-branches.yaml", "three-wave-mixed.json"} <= names


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_every_example_and_fixture_plan_validates(
    validator: jsonschema.protocols.Validator, path: Path
) -> None:
    errors = [e.message for e in validator.iter_errors(read_document(path))]
    assert errors == []


@pytest.mark.parametrize("dag", [False, True])
def test_generated_plans_validate(validator: jsonschema.protocols.Validator, dag: bool) -> None:
    data = make_plan(5, waves=12, servers_per_wave=4, dag=dag, execution_type="MIXED")
    assert list(validator.iter_errors(data)) == []


def _broken(change: str) -> dict[str, Any]:
    data = copy.deepcopy(fixture_data("five-wave-dag.yaml"))
    wave = data["Waves"][1]
    if change == "unknown field":
        wave["Bogus"] = 1
    elif change == "bad server id":
        wave["ServerIds"][0] = "s-123"
    elif change == "missing WaveNumber":
        del wave["WaveNumber"]
    elif change == "negative wait":
        wave["WaitTimeSeconds"] = -1
    elif change == "bad execution type":
        wave["ExecutionType"] = "SERIAL"
    elif change == "bad dependency":
        wave["Dependencies"] = ["database"]
    elif change == "short account":
        data["Target"]["AccountId"] = "12345"
    elif change == "empty wave":
        wave["ServerIds"] = []
    return data


@pytest.mark.parametrize(
    "change",
    [
        "unknown field",
        "bad server id",
        "missing WaveNumber",
        "negative wait",
        "bad execution type",
        "bad dependency",
        "short account",
        "empty wave",
    ],
)
def test_schema_rejects_field_level_mistakes(
    validator: jsonschema.protocols.Validator, change: str
) -> None:
    assert list(validator.iter_errors(_broken(change))), change


DOC = Path(__file__).resolve().parents[2] / "docs" / "plan-format.md"


@pytest.mark.parametrize(
    "model", [Plan, Target, Notifications, Defaults, Wave, HealthCheckSettings], ids=repr
)
def test_every_field_is_documented_in_the_plan_format_reference(model: type[Plan]) -> None:
    doc = DOC.read_text(encoding="utf-8")
    missing = [
        info.alias
        for info in model.model_fields.values()
        if info.alias and f"| `{info.alias}` |" not in doc
    ]
    assert missing == []
