"""``drsorch estimate`` in-process (click's CliRunner) on the in-process simulator, with
SQLite stores in tmp_path for ``--from-history`` (issue 12, item 3)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drsorch.cli import main
from drsorch.estimating import run_many
from drsorch.history import ExecutionRecord
from drsorch.plan import load_plan
from drsorch.runner import Runner
from drsorch.sim import Scenario
from drsorch.store import MemoryStore, SqliteStore
from drsorch.wiring import SimClients, simulated

pytestmark = pytest.mark.integration

WAVES = (
    ("Database", ("s-0000000000000000a", "s-0000000000000000b")),
    ("Application", ("s-0000000000000000c", "s-0000000000000000d")),
)
#: Quick DRS timings (seconds): a run takes a handful of polls.
QUICK = {
    "timing": {
        "job_start": {"min": 2, "max": 5},
        "launch": {"min": 60, "max": 240},
        "running": {"min": 10, "max": 40},
        "status_ok": {"min": 20, "max": 40},
    }
}


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def write_plan(tmp_path: Path, **fields: Any) -> Path:
    data: dict[str, Any] = {
        "PlanId": "estimated",
        "PlanName": "Estimated plan",
        "Waves": [
            {"WaveNumber": n, "WaveName": name, "ServerIds": list(ids)}
            for n, (name, ids) in enumerate(WAVES, start=1)
        ],
        **fields,
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    return write_plan(tmp_path)


@pytest.fixture
def quick(tmp_path: Path) -> Path:
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump(QUICK))
    return path


def estimate(*args: str) -> dict[str, Any]:
    code, out, err = cli("estimate", *args, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_n_runs_give_n_results_with_distinct_seeds(plan: Path, quick: Path) -> None:
    results = run_many(load_plan(plan), Scenario.from_file(quick), range(7, 10))
    assert [r.seed for r in results] == [7, 8, 9]
    # distinct seeds draw distinct durations: the runs do not all take the same time
    assert len({r.recovery_seconds for r in results}) > 1
    data = estimate(str(plan), "--scenario", str(quick), "--runs", "3", "--seed", "7")
    assert (data["Runs"], data["FirstSeed"], data["LastSeed"]) == (3, 7, 9)
    assert data["CompletedRuns"] == 3 and data["Statuses"] == {"COMPLETED": 3}
    assert data["RecoverySeconds"]["Count"] == 3
    assert [w["WaveNumber"] for w in data["Waves"]] == [1, 2]
    total = data["RecoverySeconds"]
    assert total["Min"] <= total["P50"] <= total["P90"] <= total["P99"] <= total["Max"]
    assert total["Max"] == max(r.recovery_seconds for r in results)  # the same runs


def test_the_same_base_seed_gives_identical_figures(plan: Path, quick: Path) -> None:
    args = (str(plan), "--scenario", str(quick), "--runs", "3", "--seed", "3")
    first = estimate(*args)
    assert estimate(*args) == first
    assert estimate(*args, "--jobs", "2") == first  # worker processes change nothing


@pytest.mark.parametrize(("rto", "probability"), [(86_400, 1.0), (1, 0.0)])
def test_probability_of_meeting_the_rto(
    tmp_path: Path, quick: Path, rto: int, probability: float
) -> None:
    plan = write_plan(tmp_path, RtoTargetSeconds=rto)
    code, out, _ = cli("estimate", str(plan), "--scenario", str(quick), "--runs", "2")
    assert code == 0
    assert f"met in {round(probability * 2)} of 2 runs (probability {probability:.2f})" in out


def test_text_fits_80_columns_and_names_every_wave(plan: Path, quick: Path) -> None:
    code, out, _ = cli("estimate", str(plan), "--scenario", str(quick), "--runs", "3")
    assert code == 0
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80
    assert any(line.startswith("Wave 1: Database") for line in lines)
    assert any(line.startswith("Total recovery time") for line in lines)
    assert "Completed: 3 of 3" in out
    assert "no target" in out


def aws_record(start: float, launching: float, booting: float, *, kind: str = "aws") -> dict:
    """A COMPLETED execution of the plan in which every server took these durations."""
    waves, t = [], start
    for n, (name, ids) in enumerate(WAVES, start=1):
        end = t + launching + booting
        servers = [
            {
                "ServerId": sid,
                "Status": "COMPLETED",
                "StartTime": t,
                "LaunchedTime": t + launching,
                "HealthyTime": end,
                "EndTime": end,
            }
            for sid in ids
        ]
        waves.append(
            {
                "WaveNumber": n,
                "WaveName": name,
                "Status": "COMPLETED",
                "StartTime": t,
                "EndTime": end,
                "ServerResults": servers,
            }
        )
        t = end
    return {
        "ExecutionId": str(uuid.uuid4()),
        "PlanId": "estimated",
        "PlanName": "Estimated plan",
        "ExecutionType": "DRILL",
        "Status": "COMPLETED",
        "InitiatedBy": "arn:aws:iam::123456789012:user/dr",
        "StartTime": start,
        "EndTime": t,
        "Duration": t - start,
        "SourceAccountId": "123456789012",
        "TargetAccountId": "123456789012",
        "Region": "us-east-1",
        "ServerCount": 4,
        "Environment": {"Kind": kind},
        "WaveStatus": waves,
    }


def seeded_store(path: Path, *records: dict) -> str:
    store = SqliteStore(path)
    try:
        for data in records:
            store.put(ExecutionRecord.from_dict(data))
    finally:
        store.close()
    return str(path)


def test_from_history_slower_history_gives_a_longer_estimate(plan: Path, tmp_path: Path) -> None:
    fast = seeded_store(
        tmp_path / "fast.db",
        aws_record(1_764_000_000.0, 60, 20),
        aws_record(1_764_100_000.0, 90, 30),
    )
    slow = seeded_store(
        tmp_path / "slow.db",
        aws_record(1_764_000_000.0, 600, 120),
        aws_record(1_764_100_000.0, 700, 150),
        aws_record(1_764_200_000.0, 5, 5, kind="simulator"),  # not AWS: ignored
    )
    args = (str(plan), "--runs", "2", "--from-history", "--store")
    quick, late = estimate(*args, fast), estimate(*args, slow)
    assert quick["FromHistory"]["Launching"] == {"Min": 60, "Max": 90}
    assert late["FromHistory"]["Executions"] == 2
    assert late["FromHistory"]["Booting"] == {"Min": 120, "Max": 150}
    assert late["RecoverySeconds"]["P50"] > quick["RecoverySeconds"]["P50"] + 2 * 500
    for q, s in zip(quick["Waves"], late["Waves"], strict=True):
        assert s["Seconds"]["P50"] > q["Seconds"]["P50"]
    # every wave's launch falls in the fitted range (plus polling and job start)
    assert 600 + 120 <= late["Waves"][0]["Seconds"]["Min"] <= 700 + 150 + 3 * 30 + 15
    code, out, _ = cli("estimate", *args, slow)
    assert code == 0 and "8 launches and 8 boots of 2 AWS execution(s)" in out


def test_from_history_without_aws_history_is_refused(plan: Path, tmp_path: Path) -> None:
    only_sim = seeded_store(
        tmp_path / "sim.db", aws_record(1_764_000_000.0, 5, 5, kind="simulator")
    )
    empty = str(tmp_path / "empty.db")
    for store in (only_sim, empty):
        code, out, err = cli("estimate", str(plan), "--from-history", "--store", store)
        assert code == 2 and out == ""
        assert "no execution of plan estimated against AWS" in err
        assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--runs", "0"], "--runs"),
        (["--runs", "10001"], "--runs"),
        (["--scenario", "{missing}"], "cannot read"),
        (["--scenario", "{bad}"], "launch"),
        (["--store", "x.db"], "--from-history"),
        (["--seed", str(2**63 - 1), "--runs", "2"], "largest seed"),
    ],
)
def test_bad_input_exits_2_without_a_traceback(
    plan: Path, tmp_path: Path, args: list[str], says: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("timing:\n  launch: {min: 10, max: 5}\n")
    args = [a.format(missing=tmp_path / "nope.yaml", bad=bad) if "{" in a else a for a in args]
    code, out, err = cli("estimate", str(plan), *args)
    assert code == 2 and out == ""
    assert says in err


def test_an_invalid_plan_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("PlanId: x\nWaves: []\n")
    code, out, err = cli("estimate", str(broken))
    assert code == 2 and out == ""
    assert err.startswith("error: ")


def test_clients_are_made_once_and_rebuilt_for_another_region(tmp_path: Path) -> None:
    clients = SimClients()
    plan = load_plan(write_plan(tmp_path))
    scenario = Scenario.model_validate(QUICK)
    first = simulated(plan, scenario=scenario, clients=clients)
    drs = clients.drs
    second = simulated(plan, scenario=scenario, clients=clients)
    assert clients.drs is drs and second.sim is not first.sim
    Runner(drs=second.drs, ec2=second.ec2, store=MemoryStore(), clock=second.clock).run(
        plan, second.options
    )
    assert second.sim is not None and first.sim is not None
    assert second.sim.jobs and not first.sim.jobs  # the shared clients reach the new region
    elsewhere = load_plan(
        write_plan(tmp_path, Target={"AccountId": "111122223333", "Region": "eu-west-1"})
    )
    simulated(elsewhere, scenario=scenario, clients=clients)
    assert clients.drs is not drs and clients.region_name == "eu-west-1"


def test_failed_runs_are_counted_and_one_is_shown(tmp_path: Path, plan: Path) -> None:
    scenario = tmp_path / "failing.yaml"
    fault = {"kind": "launch_failure", "server_id": WAVES[0][1][0], "raw_error": "No capacity"}
    scenario.write_text(yaml.safe_dump({**QUICK, "faults": [fault]}))
    code, out, _ = cli("estimate", str(plan), "--scenario", str(scenario), "--runs", "2")
    assert code == 0  # the estimate was made: its figures say the runs failed
    assert "Completed: 0 of 2 (2 FAILED)" in out
    assert "e.g. the run with seed 0:" in out and "No capacity" in out
    total = next(line for line in out.splitlines() if line.startswith("Total"))
    assert total.split()[-4:] == ["-", "-", "-", "0"]
    assert max(map(len, out.splitlines())) <= 80
