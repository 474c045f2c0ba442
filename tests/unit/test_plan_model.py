"""The plan model's derived views: effective dependencies, levels, longest chain, launch
order, merged health checks, DRS job count, and the validate summary built on them."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from tests.utils.plans import example_paths, fixture_path, make_plan

from drsorch.cli.validate import summarize
from drsorch.plan import HealthCheck, Plan, load_plan, parse_plan

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]  # a hang fails, not blocks

S = [f"s-{i:017x}" for i in range(1, 40)]


def plan_of(*waves: dict[str, Any], **top: Any) -> Plan:
    return parse_plan({"PlanId": "p", "PlanName": "test", "Waves": list(waves), **top})


def wave(n: int, *servers: str, **fields: Any) -> dict[str, Any]:
    return {"WaveNumber": n, "ServerIds": list(servers) or [S[n]], **fields}


@pytest.fixture(scope="module")
def dag() -> Plan:
    return load_plan(next(p for p in example_paths() if p.name == "dag-two-branches.yaml"))


@pytest.fixture(scope="module")
def three_tier() -> Plan:
    return load_plan(next(p for p in example_paths() if p.name == "three-tier.yaml"))


# -- Dependencies ---------------------------------------------------------------------------


def test_omitted_dependencies_mean_the_previous_wave_by_number_not_by_file_order() -> None:
    plan = plan_of(wave(10), wave(2), wave(5))
    assert [plan.dependencies_of(plan.wave(n)) for n in (2, 5, 10)] == [[], [2], [5]]
    assert plan.levels() == [[2], [5], [10]]


def test_empty_dependencies_make_a_wave_a_root() -> None:
    plan = plan_of(wave(1), wave(2, Dependencies=[]))
    assert plan.dependencies_of(plan.wave(2)) == []
    assert plan.levels() == [[1, 2]]


@pytest.mark.parametrize("ref", [3, "3", "Wave-3", "wave-3", "Wave3", " Wave-3 "])
def test_wave_references_are_normalized_to_wave_numbers(ref: Any) -> None:
    plan = plan_of(wave(3), wave(4, Dependencies=[ref]))
    assert plan.wave(4).dependencies == [3]
    assert plan.to_dict()["Waves"][1]["Dependencies"] == [3]


def test_repeated_dependency_counts_once() -> None:
    plan = plan_of(wave(1), wave(2, Dependencies=[1, "Wave-1"]))
    assert plan.dependencies_of(plan.wave(2)) == [1]


# -- levels and longest chain ---------------------------------------------------------------


def test_levels_and_longest_chain_of_the_dag_example(dag: Plan) -> None:
    assert dag.levels() == [[1], [2, 4], [3], [5]]
    assert dag.longest_chain() == [1, 2, 3, 5]
    assert dag.dependencies_of(dag.wave(5)) == [3, 4]


def test_levels_of_a_sequential_plan_are_one_wave_each(three_tier: Plan) -> None:
    assert three_tier.levels() == [[1], [2], [3]]
    assert three_tier.longest_chain() == [1, 2, 3]


def test_independent_waves_share_the_first_level() -> None:
    plan = plan_of(wave(1, Dependencies=[]), wave(2, Dependencies=[]), wave(3, Dependencies=[1]))
    assert plan.levels() == [[1, 2], [3]]
    assert plan.longest_chain() == [1, 3]


def test_levels_of_a_large_generated_dag_respect_every_dependency() -> None:
    plan = parse_plan(make_plan(7, waves=100, servers_per_wave=3, dag=True))
    level_of = {n: i for i, layer in enumerate(plan.levels()) for n in layer}
    assert sorted(level_of) == list(range(1, 101))
    for w in plan.waves:
        for d in plan.dependencies_of(w):
            assert level_of[d] < level_of[w.wave_number]
    chain = plan.longest_chain()
    assert len(chain) == len(plan.levels())
    for a, b in itertools.pairwise(chain):
        assert a in plan.dependencies_of(plan.wave(b))


# -- launch order ---------------------------------------------------------------------------


def test_sequential_wave_launches_in_execution_order(three_tier: Plan) -> None:
    """The example's database wave launches its primary (listed first) before its replica,
    as its comment says (issue 11, item 9: it used to say [2, 1])."""
    db = three_tier.wave(1)
    assert db.server_ids == ["s-3d75cdc0d9a28a725", "s-3afa164776f93ce4f"]
    assert db.execution_order == [1, 2]
    assert db.launch_order() == ["s-3d75cdc0d9a28a725", "s-3afa164776f93ce4f"]


def test_sequential_wave_without_order_launches_in_listed_order() -> None:
    plan = plan_of(wave(1, S[1], S[2], S[3], ExecutionType="SEQUENTIAL"))
    assert plan.wave(1).launch_order() == [S[1], S[2], S[3]]


def test_launch_order_with_a_three_server_permutation() -> None:
    plan = plan_of(wave(1, S[1], S[2], S[3], ExecutionType="SEQUENTIAL", ExecutionOrder=[3, 1, 2]))
    assert plan.wave(1).launch_order() == [S[3], S[1], S[2]]


def test_parallel_wave_launch_order_is_the_listed_order() -> None:
    plan = plan_of(wave(1, S[1], S[2]))
    assert plan.wave(1).execution_type == "PARALLEL"
    assert plan.wave(1).launch_order() == [S[1], S[2]]


# -- health checks --------------------------------------------------------------------------


def test_builtin_health_check_is_running_30s_times_10() -> None:
    plan = plan_of(wave(1))
    assert plan.health_check_for(plan.wave(1)) == HealthCheck(
        enabled=True, poll_interval_seconds=30, max_polls=10, require="RUNNING"
    )


def test_defaults_and_wave_health_checks_merge_field_by_field() -> None:
    plan = plan_of(
        wave(1, HealthCheck={"Require": "STATUS_OK"}),
        wave(2, HealthCheck={"MaxPolls": 3, "Enabled": False}),
        wave(3),
        Defaults={"HealthCheck": {"PollIntervalSeconds": 15, "MaxPolls": 20}},
    )
    hc = {w.wave_number: plan.health_check_for(w) for w in plan.waves}
    assert hc[1] == HealthCheck(poll_interval_seconds=15, max_polls=20, require="STATUS_OK")
    assert hc[2] == HealthCheck(enabled=False, poll_interval_seconds=15, max_polls=3)
    assert hc[3] == HealthCheck(poll_interval_seconds=15, max_polls=20)


def test_health_check_of_the_dag_example_overrides_only_what_it_names(dag: Plan) -> None:
    assert dag.health_check_for(dag.wave(4)) == HealthCheck(max_polls=20, require="STATUS_OK")
    assert dag.health_check_for(dag.wave(1)) == HealthCheck()


def test_a_wave_can_disable_checks_that_defaults_enable() -> None:
    plan = load_plan(fixture_path("five-wave-parallel.yaml"))
    assert plan.health_check_for(plan.wave(10)).enabled is False
    assert plan.health_check_for(plan.wave(1)).enabled is True


# -- defaults, dump, jobs, summary ----------------------------------------------------------


def test_defaults_of_a_minimal_plan() -> None:
    plan = plan_of(wave(1))
    assert plan.execution_type == "DRILL"
    assert plan.timeout_seconds == 14_400
    assert plan.target is None and plan.notifications is None
    w = plan.wave(1)
    assert (w.execution_type, w.wait_time_seconds, w.pause_before) == ("PARALLEL", 0, False)
    assert w.name == "Wave 1"


def test_to_dict_writes_pascal_case_and_reloads_to_the_same_plan() -> None:
    plan = load_plan(fixture_path("five-wave-dag.yaml"))
    data = plan.to_dict()
    assert data["Target"]["AccountId"] == "111122223333"  # unquoted in YAML: an int there
    assert data["Waves"][3]["Dependencies"] == [1]  # "wave1"
    assert "wave_number" not in data["Waves"][0]
    assert parse_plan(data) == plan


@pytest.mark.parametrize(("servers", "kind", "jobs"), [(1, "PARALLEL", 1), (100, "PARALLEL", 1),
                                                         (101, "PARALLEL", 2), (250, "PARALLEL", 3),
                                                         (5, "SEQUENTIAL", 5)])  # fmt: skip
def test_job_count_chunks_parallel_waves_by_100(servers: int, kind: str, jobs: int) -> None:
    plan = plan_of(wave(1, *[f"s-{i:017x}" for i in range(servers)], ExecutionType=kind))
    assert plan.job_count(plan.wave(1)) == jobs


def test_summary_of_the_dag_example(dag: Plan) -> None:
    assert summarize(dag) == [
        "plan dag-two-branches (Shared services with two application branches): DRILL, "
        "5 waves, 8 servers",
        "run order: 1 -> {2, 4} -> 3 -> 5",
        "longest chain: 1 -> 2 -> 3 -> 5 (4 waves)",
    ]


def test_summary_says_a_large_parallel_wave_runs_as_several_jobs() -> None:
    plan = load_plan(fixture_path("large-parallel-wave.yaml"))
    lines = summarize(plan)
    assert "153 servers" in lines[0]
    assert lines[-1] == "wave 2 has 150 servers: it runs as 2 DRS jobs of at most 100"


def test_summary_of_a_single_wave_is_singular() -> None:
    lines = summarize(load_plan(fixture_path("one-wave.yaml")))
    assert lines[0].endswith("DRILL, 1 wave, 2 servers")
    assert lines[2] == "longest chain: 1 (1 wave)"


# -- scale ----------------------------------------------------------------------------------


def test_a_10000_wave_chain_against_wave_number_order_has_10000_levels() -> None:
    data = make_plan(2, waves=10_000, servers_per_wave=1)
    for w in data["Waves"]:  # wave n waits for wave n + 1: deep, and not in file order
        w["Dependencies"] = [w["WaveNumber"] + 1] if w["WaveNumber"] < 10_000 else []
    plan = parse_plan(data)
    assert plan.levels()[:2] == [[10_000], [9_999]]
    assert plan.longest_chain()[:3] == [10_000, 9_999, 9_998]
    assert len(plan.longest_chain()) == 10_000


def test_levels_of_an_unvalidated_plan_with_a_cycle_raise() -> None:
    plan = Plan.model_validate(
        {
            "PlanId": "p",
            "PlanName": "n",
            "Waves": [wave(1, Dependencies=[2]), wave(2, Dependencies=[1])],
        }
    )
    with pytest.raises(ValueError, match="dependency cycle"):
        plan.levels()


def test_summary_of_a_10000_wave_plan_stays_short() -> None:
    lines = summarize(parse_plan(make_plan(1, waves=10_000, servers_per_wave=1)))
    first_nine = " -> ".join(map(str, range(1, 10)))
    assert lines[1] == f"run order: {first_nine} -> ... 9989 more ... -> 9999 -> 10000"
    assert lines[2].endswith("... 9989 more ... -> 9999 -> 10000 (10000 waves)")
    assert all(len(line) < 200 for line in lines)


def test_summary_elides_a_wide_step() -> None:
    data = make_plan(1, waves=30, servers_per_wave=1)
    for w in data["Waves"][1:]:
        w["Dependencies"] = [1]
    lines = summarize(parse_plan(data))
    assert lines[1] == "run order: 1 -> {2, 3, 4, 5, 6, 7, 8, 9, 10, ... 18 more ..., 29, 30}"
    assert lines[2] == "longest chain: 1 -> 2 (2 waves)"
