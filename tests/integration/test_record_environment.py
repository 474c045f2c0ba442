"""Records that say what they are (issue 11, item 3) and ``--recovery`` that only permits
(item 4), through ``drsorch run`` in-process: where the execution ran, a StartTime that is
the wall time at start whatever ``--speed``, and the scenario's seed unless ``--seed``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drsorch.cli import main
from drsorch.clock import VirtualClock
from drsorch.plan import load_plan
from drsorch.runner import RunOptions
from drsorch.store import SqliteStore
from drsorch.wiring import _endpoint, simulated

EXAMPLE = Path(__file__).parents[2] / "examples" / "three-tier.yaml"


def run(*args: str, store: Path) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(main, ["run", *args, "--json", "--store", str(store)])
    assert "Traceback" not in result.output + result.stderr
    record = json.loads(result.stdout) if result.exit_code in (0, 1) else {}
    return result.exit_code, record, result.stderr


def scenario(tmp_path: Path, **data: Any) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_simulated_record_says_so_with_its_seed(tmp_path: Path) -> None:
    code, record, _ = run(str(EXAMPLE), store=tmp_path / "h.db")
    assert code == 0
    assert record["Environment"] == {
        "Kind": "simulator",
        "Endpoint": None,
        "Seed": 0,
        "Scenario": None,
    }
    with SqliteStore(tmp_path / "h.db") as store:  # the stored record says it too
        saved = store.get(record["ExecutionId"])
        assert saved is not None and saved.to_dict()["Environment"] == record["Environment"]


def test_the_scenarios_seed_is_honoured_unless_seed_is_given(tmp_path: Path) -> None:
    path = scenario(tmp_path, seed=2026)
    code, record, _ = run(str(EXAMPLE), "--sim", str(path), store=tmp_path / "h.db")
    assert code == 0
    assert record["Environment"]["Seed"] == 2026
    assert record["Environment"]["Scenario"] == str(path)
    code, record, _ = run(str(EXAMPLE), "--sim", str(path), "--seed", "5", store=tmp_path / "h.db")
    assert code == 0
    assert record["Environment"]["Seed"] == 5


def test_a_sped_up_record_starts_at_the_wall_time(tmp_path: Path) -> None:
    """At --speed 600 the record's StartTime was minutes after the real start (the clock ran
    ahead while the world was set up); now it is the wall time at which the run began.
    Its EndTime is in simulated time: ahead of the wall (documented in the README)."""
    # Short launches: a drill of about 1,000 simulated seconds (an hour with the default
    # 8-20 minute launches), so about 2 s at 600x.
    fast = scenario(tmp_path, timing={"launch": {"min": 60, "max": 90}})
    before = time.time()
    # 600x: slow enough that a loaded machine keeps up with the health checks (at 20 000x
    # a busy CI machine could not, and the drill failed)
    code, first, _ = run(
        str(EXAMPLE), "--sim", str(fast), "--speed", "600", store=tmp_path / "h.db"
    )
    after = time.time()
    assert code == 0
    assert before <= first["StartTime"] <= after
    assert first["Duration"] > 900  # a quarter of an hour of simulated drill, in seconds
    code, second, _ = run(str(EXAMPLE), store=tmp_path / "h.db")
    assert code == 0
    assert first["StartTime"] < second["StartTime"]  # history stays in order


def test_a_virtual_clock_made_by_the_wiring_starts_at_the_wall_time() -> None:
    before = time.time()
    world = simulated(load_plan(EXAMPLE))
    assert isinstance(world.clock, VirtualClock)
    assert before <= world.clock.now() <= time.time()
    assert world.options.start_clock is None


def test_a_sped_up_clock_stands_still_until_the_run_starts() -> None:
    world = simulated(load_plan(EXAMPLE), speed=1_000_000)
    held = world.clock.now()
    time.sleep(0.01)  # 10 000 s at this speed, had it been running
    assert world.clock.now() == held
    assert world.options.start_clock is not None
    world.options.start_clock()
    started = time.time()
    now = world.clock.now()
    assert held <= now and abs(now - started) < 1000  # wall time, then running fast


def test_an_aws_record_names_its_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DRS"):
        monkeypatch.delenv(name, raising=False)
    assert _endpoint(None) is None
    assert _endpoint("http://127.0.0.1:4599") == "http://127.0.0.1:4599"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://sim:1")
    assert _endpoint(None) == "http://sim:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DRS", "http://drs:2")
    assert _endpoint(None) == "http://drs:2"
    options = RunOptions(
        initiated_by="arn:aws:iam::123456789012:user/alice",
        source_account_id="123456789012",
        target_account_id="123456789012",
        region="us-east-1",
        endpoint_url="http://drs:2",
        seed=3,  # not a simulator: a seed means nothing, and is not recorded
    )
    assert options.environment_details() == {
        "kind": "aws",
        "endpoint": "http://drs:2",
        "seed": None,
        "scenario": None,
    }


@pytest.mark.parametrize("flags", [("--recovery", "--yes"), ("--recovery",)])
def test_recovery_on_a_drill_plan_exits_2_and_runs_nothing(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    """--recovery only permits (item 4): a DRILL plan is never run as a RECOVERY."""
    store = tmp_path / "h.db"
    result = CliRunner().invoke(main, ["run", str(EXAMPLE), *flags, "--store", str(store)])
    assert result.exit_code == 2
    assert "is a DRILL, and --recovery does not make it a RECOVERY" in result.stderr
    assert "RECOVERY" not in result.stdout
    if store.exists():
        with SqliteStore(store) as opened:
            assert opened.query() == []
