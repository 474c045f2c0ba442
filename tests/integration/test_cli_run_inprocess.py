"""``drsorch run`` in-process (click's CliRunner): progress lines, the summary, --json,
the refusals of invariant 4, and the --aws wiring against moto's STS (never real AWS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from drsorch.cli import main
from drsorch.clock import RealClock
from drsorch.errors import RefusedError
from drsorch.plan import load_plan
from drsorch.wiring import real_aws

EXAMPLE = Path(__file__).parents[2] / "examples" / "three-tier.yaml"


def run(*args: str, store: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["run", *args, "--store", str(store)])
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_text_run_shows_progress_then_the_summary(tmp_path: Path) -> None:
    code, out, _ = run(str(EXAMPLE), store=tmp_path / "h.db")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("DRILL of plan three-tier-app on the simulator: execution ")
    first_wave = next(i for i, line in enumerate(lines) if "wave 1 Database tier: RUNNING" in line)
    launching = next(i for i, line in enumerate(lines) if "wave 1: job drsjob-" in line)
    done = next(i for i, line in enumerate(lines) if "wave 1 Database tier: COMPLETED" in line)
    assert first_wave < launching < done
    assert "COMPLETED" in out and "Duration" in out and "Errors" in out


def test_json_run_prints_only_the_record(tmp_path: Path) -> None:
    code, out, _ = run(str(EXAMPLE), "--json", store=tmp_path / "h.db")
    assert code == 0
    record = json.loads(out)
    assert record["Status"] == "COMPLETED" and record["ServerCount"] == 6
    from drsorch.store import SqliteStore

    with SqliteStore(tmp_path / "h.db") as store:  # a simulated run cannot be resumed,
        assert store.get_state(record["ExecutionId"]) is None  # so it keeps no state


def test_failed_run_exits_1_and_names_the_server(tmp_path: Path) -> None:
    scenario = tmp_path / "fail.yaml"
    scenario.write_text(
        yaml.safe_dump({"faults": [{"kind": "launch_failure", "server_id": "s-1a2b3c4d5e6f7a8b9"}]})
    )
    code, out, _ = run(str(EXAMPLE), "--sim", str(scenario), store=tmp_path / "h.db")
    assert code == 1
    assert "s-1a2b3c4d5e6f7a8b9" in out and "FAILED" in out and "SKIPPED" in out


def recovery_plan(tmp_path: Path) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["ExecutionType"] = "RECOVERY"
    path = tmp_path / "recovery.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ((), "is a RECOVERY"),
        (("--recovery",), "needs confirmation"),
        (("--recovery", "--drill"), "contradict"),
        (("--profile", "p"), "need --aws"),
        (("--speed", "0"), "--speed must be a positive number"),
        (("--aws", "--sim", "x.yaml"), "for the simulator"),
    ],
)
def test_refusals_exit_2_and_record_nothing(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    store = tmp_path / "h.db"
    code, out, err = run(str(recovery_plan(tmp_path)), *flags, store=store)
    assert code == 2
    assert message in err
    assert not store.exists() or "RECOVERY" not in out


def test_confirmed_recovery_and_drill_override(tmp_path: Path) -> None:
    plan = str(recovery_plan(tmp_path))
    code, out, _ = run(plan, "--recovery", "--yes", "--json", store=tmp_path / "h.db")
    assert code == 0 and json.loads(out)["ExecutionType"] == "RECOVERY"
    code, out, _ = run(plan, "--drill", "--json", store=tmp_path / "h.db")
    assert code == 0 and json.loads(out)["ExecutionType"] == "DRILL"


def test_aws_wiring_uses_the_callers_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """--aws is wired: the account and ARN come from STS (moto here, never real AWS)."""
    moto = pytest.importorskip("moto")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    plan = load_plan(EXAMPLE)
    with moto.mock_aws():
        world = real_aws(plan, profile=None, region="us-east-1", clock=RealClock())
        assert world.options.source_account_id == "123456789012"
        assert world.options.initiated_by.startswith("arn:aws:sts::123456789012:")
        assert world.options.region == "us-east-1" and world.sim is None
        assert world.options.save_every == 0.0  # every record change is saved
        other = plan.model_copy(
            update={"target": plan.target.__class__(account_id="111122223333")}
            if plan.target
            else {
                "target": __import__("drsorch.plan", fromlist=["Target"]).Target(
                    account_id="111122223333"
                )
            }
        )
        with pytest.raises(RefusedError, match="111122223333"):
            real_aws(other, profile=None, region="us-east-1", clock=RealClock())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("faults: [", "YAML syntax error at line"),
        ("faults:\n  - kind: nope\n", "faults.0.kind: Input should be"),
        ("- just a list\n", "a scenario must be a mapping"),
        (None, "cannot read"),
    ],
)
def test_bad_scenario_is_bad_input(tmp_path: Path, content: str | None, message: str) -> None:
    """A scenario the simulator cannot use is exit 2 with one line, as a bad plan is."""
    scenario = tmp_path / "scenario.yaml"
    if content is not None:
        scenario.write_text(content)
    code, _, err = run(str(EXAMPLE), "--sim", str(scenario), store=tmp_path / "h.db")
    assert code == 2
    assert message in err and str(scenario) in err
    assert len(err.strip().splitlines()) == 1
