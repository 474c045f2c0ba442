"""Readable anywhere (issue 11, item 5), as a person runs the CLI (in-process, on the
simulator's virtual clock): ``-v`` shows retries, throttling, Retry-After waits and lost
answers as they happen (on stderr with ``--json``); a heartbeat per wave during long
launches; hostnames beside server ids; ISO-8601 UTC beside epoch seconds in ``--json``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from drsorch.cli import main
from drsorch.cli.render import record_json
from drsorch.store import SqliteStore

pytestmark = pytest.mark.integration

DB, APP = "s-0db0000000000000a", "s-0a990000000000000"
PLAN = {
    "PlanId": "readable",
    "PlanName": "Readable",
    "Waves": [{"WaveNumber": 1, "WaveName": "App tier", "ServerIds": [DB, APP]}],
}
SCENARIO = {
    "source_servers": [{"id": DB, "hostname": "db01"}, {"id": APP}],
    "faults": [
        # StartRecovery is processed, then its answer is lost: the job is found by its token.
        {"kind": "internal_error", "operation": "StartRecovery", "phase": "after", "nth": 1},
        # (the 1st DescribeJobs looks for that job; the 2nd is the first poll of it)
        {"kind": "throttle", "operation": "DescribeJobs", "nth": 2, "retry_after": 7},
    ],
}
LOST = f"lost answer: StartRecovery for {DB}, {APP}: the answer was lost"
THROTTLED = "Retry-After 7 s: trying again in 7 s"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("readable")
    (where / "plan.yaml").write_text(yaml.safe_dump(PLAN))
    (where / "scenario.yaml").write_text(yaml.safe_dump(SCENARIO))
    return where


def drsorch(files: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--store", str(files / "h.db")])
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def run(files: Path, *options: str) -> tuple[int, str, str]:
    plan, scenario = str(files / "plan.yaml"), str(files / "scenario.yaml")
    return drsorch(files, "run", plan, "--sim", scenario, *options)


def test_verbose_shows_the_lost_answer_and_the_throttling_as_they_happen(files: Path) -> None:
    code, out, err = run(files, "-v")
    assert code == 0, err
    lines = out.splitlines()
    [lost] = [line for line in lines if LOST in line]
    assert "(InternalServerException: Internal server error)" in lost
    assert "was found by its tag drsorch:token=" in lost and "adopted, not launched again" in lost
    [throttled] = [line for line in lines if THROTTLED in line]
    assert "throttled: DescribeJobs for job drsjob-" in throttled
    assert "attempt 1 failed" in throttled
    # ...in the order they happened, between the wave's start and its end
    order = [
        next(i for i, line in enumerate(lines) if text in line)
        for text in ("wave 1 App tier: RUNNING", LOST, THROTTLED, "wave 1 App tier: COMPLETED")
    ]
    assert order == sorted(order)
    # ...stamped with the execution's clock: the launch at the start, the first poll 30 s on
    start, lost_at, throttled_at = (datetime.strptime(lines[i][:8], "%H:%M:%S") for i in order[:3])
    assert lost_at == start and (throttled_at - start).total_seconds() % 86_400 == 30


def test_without_verbose_nothing_of_it_is_said(files: Path) -> None:
    code, out, err = run(files)
    assert code == 0, err
    assert LOST not in out + err and "throttled" not in out + err and "retry" not in out + err


def test_a_long_launch_has_a_heartbeat_and_servers_their_hostnames(files: Path) -> None:
    """The simulator's launches take 8 to 20 minutes: every 5 minutes of its clock the
    wave says how many servers are still launching; servers show their hostnames (the
    scenario's, else the simulator's own), in the live view and in the summary."""
    code, out, _ = run(files)
    assert code == 0
    assert "wave 1 App tier: 2 of 2 servers still launching (5 min)" in out
    live = [line for line in out.splitlines() if "LAUNCHING" in line]
    assert any(f"{DB} (db01) LAUNCHING" in line for line in live)
    assert any(f"{APP} (host-0a990000) LAUNCHING" in line for line in live)
    summary = out[out.index("Execution ") :]
    assert f"{DB} (db01)" in summary and f"{APP} (host-0a990000)" in summary


def test_json_with_verbose_keeps_stdout_for_the_record(files: Path) -> None:
    code, out, err = run(files, "--json", "-v")
    assert code == 0, err
    record = json.loads(out)  # stdout is the record and nothing else
    assert LOST in err and THROTTLED in err
    assert "still launching" not in err  # -v adds its lines, not the live view
    servers = {s["ServerId"]: s for s in record["WaveStatus"][0]["ServerResults"]}
    assert servers[DB]["Hostname"] == "db01" and servers[APP]["Hostname"] == "host-0a990000"
    assert record["StartTimeIso"].endswith("Z") and servers[DB]["LaunchedTimeIso"]
    with SqliteStore(files / "h.db") as store:  # the store keeps the record's own shape
        stored = store.get(record["ExecutionId"])
    assert stored is not None and "StartTimeIso" not in stored.to_dict()
    assert record_json(stored) == record  # what --json printed: the stored record, ISO added
    assert stored.WaveStatus[0].ServerResults[0].Hostname == "db01"


def test_quiet_with_verbose_says_it_on_stderr(files: Path) -> None:
    code, out, err = run(files, "--quiet", "-v")
    assert code == 0
    assert LOST in err and LOST not in out and "Execution " in out


def test_show_and_history_json_carry_iso_times_and_hostnames(files: Path) -> None:
    code, out, _ = run(files, "--json")
    assert code == 0
    execution = json.loads(out)["ExecutionId"]
    code, shown, _ = drsorch(files, "show", execution, "--json")
    assert code == 0 and json.loads(shown) == json.loads(out)
    code, listed, _ = drsorch(files, "history", "--json", "--limit", "1")
    [newest] = json.loads(listed)
    assert code == 0 and newest == json.loads(out)
    server = newest["WaveStatus"][0]["ServerResults"][0]
    assert server["Hostname"] == "db01" and server["EndTimeIso"].endswith("Z")
    code, text, _ = drsorch(files, "show", execution[:8])
    assert code == 0 and f"{DB} (db01)" in text
