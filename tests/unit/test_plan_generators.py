"""The test-data generators themselves (tests/utils): ids have DRS/EC2 shapes, make_plan is
deterministic, valid and fast at 10 000 servers, fixture_path finds fixtures."""

from __future__ import annotations

import random
import time

import pytest
from tests.utils.ids import (
    INSTANCE_ID_RE,
    JOB_ID_RE,
    SERVER_ID_RE,
    instance_id,
    job_id,
    server_id,
    unique_server_ids,
)
from tests.utils.plans import (
    MUTATION_KINDS,
    PERTURBATION_KINDS,
    fixture_path,
    make_plan,
    mutate,
    perturb,
    valid_fixture_paths,
)

from drsorch.plan import parse_plan, validate_data

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]  # a hang fails, not blocks


def test_id_shapes() -> None:
    rng = random.Random(1)
    for _ in range(200):
        assert SERVER_ID_RE.match(server_id(rng))
        assert JOB_ID_RE.match(job_id(rng))
        assert INSTANCE_ID_RE.match(instance_id(rng))


def test_ids_are_deterministic_with_a_seeded_rng() -> None:
    assert server_id(random.Random(5)) == server_id(random.Random(5))
    assert unique_server_ids(3, random.Random(5)) == unique_server_ids(3, random.Random(5))


def test_unique_server_ids() -> None:
    ids = unique_server_ids(10_000, random.Random(0))
    assert len(set(ids)) == 10_000
    assert all(SERVER_ID_RE.match(s) for s in ids)


def test_make_plan_is_deterministic_and_seed_dependent() -> None:
    assert make_plan(1, waves=5) == make_plan(1, waves=5)
    assert make_plan(1, waves=5) != make_plan(2, waves=5)


@pytest.mark.parametrize("dag", [False, True])
@pytest.mark.parametrize("execution_type", ["PARALLEL", "SEQUENTIAL", "MIXED"])
def test_make_plan_is_valid_at_10000_servers_quickly(dag: bool, execution_type: str) -> None:
    start = time.monotonic()
    data = make_plan(
        9, waves=100, servers_per_wave=100, dag=dag, execution_type=execution_type,  # type: ignore[arg-type]
        wait_seconds=(0, 300),
    )  # fmt: skip
    plan = parse_plan(data)
    assert time.monotonic() - start < 3
    assert len(plan.waves) == 100 and len(plan.all_server_ids()) == 10_000
    assert all(0 <= w.wait_time_seconds <= 300 for w in plan.waves)
    if dag:
        assert all(w.dependencies for w in plan.waves[1:])
    else:
        assert plan.levels() == [[n] for n in range(1, 101)]
    kinds = {w.execution_type for w in plan.waves}
    assert kinds == ({"PARALLEL", "SEQUENTIAL"} if execution_type == "MIXED" else {execution_type})


def test_make_plan_health_check_switch() -> None:
    plan = parse_plan(make_plan(0, health_check=False))
    assert not any(plan.health_check_for(w).enabled for w in plan.waves)


def test_fixture_path_finds_plans_and_other_fixtures() -> None:
    assert fixture_path("one-wave.yaml").name == "one-wave.yaml"
    assert fixture_path("invalid/cycle.yaml").parent.name == "invalid"
    with pytest.raises(FileNotFoundError, match=r"one-wave\.yaml"):
        fixture_path("no-such-plan.yaml")


def test_there_are_1_3_and_5_wave_fixtures_including_json() -> None:
    names = {p.name for p in valid_fixture_paths()}
    assert {"one-wave.yaml", "three-wave-sequential.yaml", "three-wave-mixed.json"} <= names
    assert {"five-wave-parallel.yaml", "five-wave-dag.yaml"} <= names


@pytest.mark.parametrize("kind", MUTATION_KINDS)
def test_mutate_copies_and_breaks(kind: str) -> None:
    data = make_plan(4, waves=3, servers_per_wave=2)
    before = repr(data)
    m = mutate(data, kind, random.Random(4))
    assert repr(data) == before and m.data != data and m.kind == kind


@pytest.mark.parametrize("kind", PERTURBATION_KINDS)
def test_each_perturbation_gets_the_verdict_it_promises(kind: str) -> None:
    data = make_plan(5, waves=3, servers_per_wave=2, dag=True)
    before = repr(data)
    for seed in range(25):
        p = perturb(data, [kind], random.Random(seed))
        assert repr(data) == before, "the input is copied, never changed"
        plan, problems = validate_data(p.data)
        if p.verdict == "reject":
            assert plan is None, (kind, seed, p.data)
            assert p.found_in(problems), (kind, seed, p.paths, problems)
        elif p.verdict == "accept":
            assert plan == parse_plan(data), (kind, seed, problems)
