"""The scenario file: loading, defaults, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from drsorch.sim import Scenario
from drsorch.sim.faults import FaultKind

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def test_defaults() -> None:
    scenario = Scenario()
    assert scenario.source_servers == [] and scenario.faults == []
    assert scenario.quotas.servers_per_job == 100
    assert scenario.quotas.concurrent_jobs == 20
    assert scenario.quotas.servers_in_active_jobs == 500
    assert scenario.recovery_instance_ids == "same"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_scenarios_load(path: Path) -> None:
    Scenario.from_file(path)


def test_the_rough_day_example_exercises_every_fault_kind() -> None:
    scenario = Scenario.from_file(EXAMPLES / "rough-day.yaml")
    assert {f.kind for f in scenario.faults} == set(FaultKind)


def test_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as typo:
        Scenario.from_yaml("timing:\n  lanch: {min: 1, max: 2}\n")
    assert "lanch" in str(typo.value)
    with pytest.raises(ValidationError) as bad_id:
        Scenario.from_yaml("source_servers:\n  - id: s-123\n")
    assert "source_servers.0.id" in str(bad_id.value)
    with pytest.raises(ValidationError) as state:
        Scenario.from_yaml(
            "source_servers:\n  - {id: s-1234567890abcdefg, replication_state: OK}\n"
        )
    assert "CONTINUOUS" in str(state.value)
    with pytest.raises(ValidationError) as twice:
        Scenario.from_yaml(
            "source_servers:\n  - {id: s-1234567890abcdefg}\n  - {id: s-1234567890abcdefg}\n"
        )
    assert "twice" in str(twice.value)
    with pytest.raises(ValidationError):
        Scenario.from_yaml("faults:\n  - {kind: meteor}\n")


def test_empty_and_non_mapping_documents() -> None:
    assert Scenario.from_yaml("") == Scenario()
    with pytest.raises(ValueError):
        Scenario.from_yaml("- just\n- a list\n")
