"""Plan properties (issue 2): every generated valid plan validates and survives
load -> dump -> load unchanged, through memory, YAML and JSON files; every generated
invalid mutation is rejected with a message naming the offending field path."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from tests.utils.plans import MUTATION_KINDS, Mutation, invalid_plans, mutate, plans

from drsorch.errors import PlanError
from drsorch.plan import Plan, load_plan, parse_plan, plan_json_schema, validate_data

pytestmark = [pytest.mark.property, pytest.mark.timeout(60)]  # a hang fails, not blocks

SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(plan_json_schema())


def _valid(data: dict[str, Any]) -> Plan:
    plan, problems = validate_data(data)
    assert problems == [], (problems, data)
    assert plan is not None
    return plan


@settings(max_examples=50)
@given(plans())
def test_generated_plans_are_valid_and_match_the_schema(data: dict[str, Any]) -> None:
    plan = _valid(data)
    assert len(plan.waves) == len(data["Waves"])
    assert list(SCHEMA_VALIDATOR.iter_errors(data)) == []


@settings(max_examples=40)
@given(plans(), st.sampled_from(["yaml", "json"]))
def test_load_dump_load_is_unchanged(data: dict[str, Any], fmt: str) -> None:
    plan = _valid(data)
    dumped = plan.to_dict()
    assert parse_plan(dumped) == plan
    assert parse_plan(dumped).to_dict() == dumped  # the dump is a fixed point
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"plan.{fmt}"
        text = json.dumps(dumped, indent=2) if fmt == "json" else yaml.safe_dump(dumped)
        path.write_text(text, encoding="utf-8")
        assert load_plan(path) == plan
        # The raw file as generated (with "Wave-N" refs, omitted defaults) loads the same.
        raw = Path(tmp) / "raw.yaml"
        raw.write_text(yaml.safe_dump(data), encoding="utf-8")
        assert load_plan(raw) == plan


@settings(max_examples=40)
@given(plans(dag=True, min_waves=2))
def test_levels_respect_every_dependency(data: dict[str, Any]) -> None:
    plan = _valid(data)
    level_of = {n: i for i, layer in enumerate(plan.levels()) for n in layer}
    assert sorted(level_of) == sorted(w.wave_number for w in plan.waves)
    for w in plan.waves:
        deps = plan.dependencies_of(w)
        for d in deps:
            assert level_of[d] < level_of[w.wave_number]
        # each wave sits right after its latest dependency: as early as it can run
        assert level_of[w.wave_number] == 1 + max((level_of[d] for d in deps), default=-1)
    chain = plan.longest_chain()
    assert len(chain) == len(plan.levels())


@settings(max_examples=40)
@given(plans(dag=False))
def test_plans_without_a_dag_run_strictly_in_wave_number_order(data: dict[str, Any]) -> None:
    plan = _valid(data)
    numbers = sorted(w.wave_number for w in plan.waves)
    assert plan.levels() == [[n] for n in numbers]
    assert plan.longest_chain() == numbers


@settings(max_examples=40)
@given(plans())
def test_launch_order_is_a_permutation_of_the_wave(data: dict[str, Any]) -> None:
    plan = _valid(data)
    for w in plan.waves:
        assert sorted(w.launch_order()) == sorted(w.server_ids)
        if w.execution_type == "SEQUENTIAL" and w.execution_order:
            assert w.launch_order()[0] == w.server_ids[w.execution_order[0] - 1]


@settings(max_examples=80)
@given(invalid_plans())
def test_every_mutation_is_rejected_naming_its_path(mutation: Mutation) -> None:
    plan, problems = validate_data(mutation.data)
    assert plan is None
    assert mutation.found_in(problems), (mutation.kind, mutation.expected, problems)


@pytest.mark.parametrize("kind", MUTATION_KINDS)
@settings(max_examples=15)
@given(data=plans(max_waves=5), seed=st.integers(0, 2**32))
def test_each_mutation_kind_is_rejected(kind: str, data: dict[str, Any], seed: int) -> None:
    mutation = mutate(data, kind, random.Random(seed))
    problems = validate_data(mutation.data)[1]
    assert mutation.found_in(problems), (mutation.expected, problems)


# Mutations that touch different fields, so that each one's problem must still be reported
# when the others are present: validation reports ALL problems at once.
_INDEPENDENT = ("corrupt_server_id", "unknown_field", "bad_duration", "missing_dependency")


@settings(max_examples=50)
@given(
    data=plans(min_waves=2, max_waves=6),
    kinds=st.lists(st.sampled_from(_INDEPENDENT), min_size=2, max_size=4, unique=True),
    seed=st.integers(0, 2**32),
)
def test_several_problems_are_all_reported(
    data: dict[str, Any], kinds: list[str], seed: int
) -> None:
    rng = random.Random(seed)
    mutations = []
    for kind in kinds:
        m = mutate(data, kind, rng)
        mutations.append(m)
        data = m.data
    problems = validate_data(data)[1]
    for m in mutations:
        assert m.found_in(problems), (m.kind, m.expected, problems)


@settings(max_examples=50)
@given(invalid_plans(kinds=["cycle", "missing_dependency", "self_dependency"]))
def test_rejected_plans_fail_through_the_file_loader_too(mutation: Mutation) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.yaml"
        path.write_text(yaml.safe_dump(mutation.data), encoding="utf-8")
        with pytest.raises(PlanError) as info:
            load_plan(path)
    assert mutation.found_in(info.value.problems)


# The strategy reaches the shapes the engine tests need (a generator that never produced a
# DAG or an ExecutionOrder would make the properties above vacuous).
_SHAPES = {
    "parallel branches": lambda d: any(len(layer) > 1 for layer in parse_plan(d).levels()),
    "a chain of 4+": lambda d: len(parse_plan(d).longest_chain()) >= 4,
    "ExecutionOrder": lambda d: any("ExecutionOrder" in w for w in d["Waves"]),
    "Wave-N reference": lambda d: any(
        isinstance(r, str) for w in d["Waves"] for r in w.get("Dependencies", [])
    ),
    "health-check override": lambda d: any("HealthCheck" in w for w in d["Waves"]),
    "defaults": lambda d: "Defaults" in d,
    "gaps in WaveNumbers": lambda d: max(w["WaveNumber"] for w in d["Waves"]) > len(d["Waves"]),
    "a wait": lambda d: any(w.get("WaitTimeSeconds", 0) > 0 for w in d["Waves"]),
    "cross-account target": lambda d: "RoleArn" in d.get("Target", {}),
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_the_strategy_generates(shape: str) -> None:
    quick = settings(max_examples=1000, database=None, phases=[Phase.generate])
    find(plans(), _SHAPES[shape], settings=quick)  # raises NoSuchExample if never
