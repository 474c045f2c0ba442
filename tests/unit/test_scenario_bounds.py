"""Every size, count, duration and probability of a scenario file is bounded (issue 7): a
value out of range is one ScenarioError line naming the file and the field, raised before
the simulated region allocates anything."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from drsorch.cli import params
from drsorch.errors import ScenarioError
from drsorch.sim import Scenario
from drsorch.sim import scenario as scenario_module
from drsorch.sim.scenario import (
    MAX_COUNT,
    MAX_FAULTS,
    MAX_SECONDS,
    MAX_SEED,
    MAX_SERVERS,
    MAX_TAGS,
    MAX_TEXT,
)

pytestmark = pytest.mark.unit

SID = "s-1234567890abcdef0"


def load(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return Scenario.from_file(path)


def rejected(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "scenario.yaml") + ": "), message
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("generate_servers: 100000000\n", "generate_servers"),
        (f"generate_servers: {MAX_SERVERS + 1}\n", "generate_servers"),
        ("generate_servers: -1\n", "generate_servers"),
        (
            f"generate_servers: {MAX_SERVERS}\nsource_servers: [{{id: {SID}}}]\n",
            "generate_servers",
        ),
        ("seed: -1\n", "seed"),
        (f"seed: {MAX_SEED + 1}\n", "seed"),
        ("seed: 1" + "0" * 60 + "\n", "seed"),
        ("timing: {launch: {min: 1, max: .inf}}\n", "timing.launch.max"),
        ("timing: {launch: {min: .nan, max: 5}}\n", "timing.launch.min"),
        (f"timing: {{job_end: {{min: 0, max: {MAX_SECONDS + 1}}}}}\n", "timing.job_end.max"),
        (
            f"source_servers: [{{id: {SID}, timing: {{running: {{min: 0, max: 1e300}}}}}}]\n",
            "source_servers.0.timing.running.max",
        ),
        ("terminated_visible_seconds: .inf\n", "terminated_visible_seconds"),
        ("terminated_visible_seconds: -1\n", "terminated_visible_seconds"),
        ("quotas: {concurrent_jobs: 100000000}\n", "quotas.concurrent_jobs"),
        ("quotas: {servers_per_job: 0}\n", "quotas.servers_per_job"),
        ("faults: [{kind: throttle, rate: .inf}]\n", "faults.0.rate"),
        ("faults: [{kind: throttle, rate: 1e9}]\n", "faults.0.rate"),
        ("faults: [{kind: throttle, burst: .inf}]\n", "faults.0.burst"),
        ("faults: [{kind: throttle, retry_after: 100000000000}]\n", "faults.0.retry_after"),
        ("faults: [{kind: throttle, before: .inf}]\n", "faults.0.before"),
        ("faults: [{kind: throttle, after: .nan}]\n", "faults.0.after"),
        ("faults: [{kind: throttle, probability: .nan}]\n", "faults.0.probability"),
        ("faults: [{kind: throttle, probability: 1.5}]\n", "faults.0.probability"),
        (f"faults: [{{kind: throttle, nth: {MAX_COUNT + 1}}}]\n", "faults.0.nth"),
        ("faults: [{kind: throttle, times: " + "9" * 40 + "}]\n", "faults.0.times"),
        (
            "faults: [{kind: launch_failure, raw_error: " + "x" * (MAX_TEXT + 1) + "}]\n",
            "faults.0.raw_error",
        ),
        ("faults: [" + ", ".join(["{kind: throttle}"] * (MAX_FAULTS + 1)) + "]\n", "faults"),
        (
            f"source_servers: [{{id: {SID}, tags: {{"
            + ", ".join(f"k{i}: v" for i in range(MAX_TAGS + 1))
            + "}}]\n",
            "source_servers.0.tags",
        ),
        (f"source_servers: [{{id: {SID}, tags: {{'': v}}}}]\n", "source_servers.0.tags"),
        (f"source_servers: [{{id: {SID}, hostname: {'h' * 300}}}]\n", "source_servers.0.hostname"),
    ],
)
def test_out_of_range_values_name_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    message = rejected(tmp_path, text)
    assert f": {field}: " in message, message
    assert len(message) < 400  # a huge value is summarized, not echoed


def test_the_largest_values_are_accepted(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        f"seed: {MAX_SEED}\n"
        f"generate_servers: {MAX_SERVERS - 1}\n"
        f"source_servers: [{{id: {SID}, tags: {{"
        + ", ".join(f"k{i}: v" for i in range(MAX_TAGS))
        + "}}]\n"
        f"timing: {{launch: {{min: {MAX_SECONDS}, max: {MAX_SECONDS}}}}}\n"
        f"terminated_visible_seconds: {MAX_SECONDS}\n"
        f"faults: [{{kind: throttle, rate: 1000000, burst: 1000000, nth: {MAX_COUNT},"
        f" times: {MAX_COUNT}, after: 0, before: {MAX_SECONDS}, retry_after: {MAX_SECONDS},"
        " probability: 0}]\n",
    )
    assert scenario.generate_servers == MAX_SERVERS - 1 and scenario.seed == MAX_SEED


def test_a_huge_generate_servers_allocates_nothing(tmp_path: Path) -> None:
    """The bound is checked by validation, before any server exists: a few hundred kB."""
    tracemalloc.start()
    try:
        rejected(tmp_path, "generate_servers: 100000000\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20


def test_programmatic_scenarios_have_the_same_bounds() -> None:
    with pytest.raises(ValueError, match="generate_servers"):
        Scenario(generate_servers=MAX_SERVERS + 1)
    with pytest.raises(ValueError, match=r"timing\.launch\.max"):
        Scenario.model_validate({"timing": {"launch": {"min": 0, "max": float("inf")}}})


def test_a_file_too_large_is_refused_without_reading_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenario_module, "MAX_FILE_BYTES", 1000)
    assert "larger than" in rejected(tmp_path, "# padding\n" * 200)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_an_endless_file_is_refused() -> None:
    with pytest.raises(ScenarioError, match="larger than"):
        Scenario.from_file("/dev/zero")


def test_deep_nesting_is_a_scenario_error_not_a_crash(tmp_path: Path) -> None:
    # One "[" a line: the same 5000 levels, far past the recursion limit. All on one line,
    # PyYAML's scanner rechecks every open "[" of the line for each new one (quadratic over
    # its 1024-character look-ahead): seconds spent in PyYAML before the same RecursionError.
    assert "nested too deeply" in rejected(tmp_path, "[\n" * 5000 + "]" * 5000)


def test_the_cli_bounds_agree_with_the_scenario_bounds() -> None:
    """sim serve --servers and --seed share the scenario's bounds (kept apart for speed)."""
    assert params.MAX_SERVERS == MAX_SERVERS
    assert params.MAX_SEED == MAX_SEED
