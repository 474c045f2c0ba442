"""``drsorch run`` / ``history`` / ``show`` as a user runs them: the installed console
script in a subprocess, on the simulator (the default), with a SQLite store in tmp_path
(design §5, §6; invariant 4: a RECOVERY needs --recovery and a confirmation).

The independent runs are started together by a module fixture and awaited once, so the
module costs about as much wall time as its slowest run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from drsorch.store import open_store

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
DRSORCH = Path(sys.executable).parent / "drsorch"
TIMEOUT = 120

TINY_SERVERS = ["s-0a1b2c3d4e5f60718", "s-0a1b2c3d4e5f60719"]
TINY: dict[str, Any] = {
    "PlanId": "tiny-e2e",
    "PlanName": "Tiny e2e plan",
    "ExecutionType": "DRILL",
    "Waves": [
        {"WaveNumber": 1, "WaveName": "Database", "ServerIds": TINY_SERVERS[:1]},
        {"WaveNumber": 2, "WaveName": "Web", "ServerIds": TINY_SERVERS[1:]},
    ],
}
#: Short launches, so the small runs take a few polls.
FAST_SCENARIO: dict[str, Any] = {"timing": {"launch": {"min": 60, "max": 90}}}
FAIL_SCENARIO: dict[str, Any] = {
    **FAST_SCENARIO,
    "faults": [
        {"kind": "launch_failure", "server_id": TINY_SERVERS[0], "raw_error": "No capacity in AZ"}
    ],
}
#: An error message that would retitle the terminal, clear it, restyle it through rich
#: markup, reverse the text and start a C1 sequence, were it printed raw (issue 7).
NASTY = (
    "\x1b]0;pwned\x07 \x1b[2J [bold red]x[/] [link=http://evil.example]y[/link] \u202eevil \x9b31m"
)
NASTY_SCENARIO: dict[str, Any] = {
    **FAST_SCENARIO,
    "faults": [{"kind": "launch_failure", "server_id": TINY_SERVERS[0], "raw_error": NASTY}],
}
#: What must never reach a terminal (rich's own colour codes, ESC [ ... m, are removed first).
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
SGR = re.compile(r"\x1b\[[0-9;]*m")
COLOUR = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "NO_COLOR": ""}


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def _env(store: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRSORCH_"))}
    env.update(
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="200",
        # never a real account, even by mistake
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    if store is not None:
        env["DRSORCH_STORE"] = f"sqlite:///{store}"
    return env


def start(
    args: list[str], store: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(DRSORCH), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**_env(store), **(env or {})},
        cwd=REPO,
    )


def finish(proc: subprocess.Popen[str]) -> Result:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"drsorch {proc.args} did not finish in {TIMEOUT} s:\n{err}")
    result = Result(list(proc.args)[1:], proc.returncode, out, err)  # type: ignore[arg-type]
    assert "Traceback" not in out and "Traceback" not in err, (result.args, out, err)
    return result


def drsorch(*args: str, store: Path | None = None) -> Result:
    return finish(start(list(args), store))


def saved(path: Path, plan_id: str | None = None) -> list[Any]:
    """The records a store file holds (read in-process: cheaper than `drsorch history`)."""
    if not path.exists():
        return []
    store = open_store(f"sqlite:///{path}")
    try:
        return list(store.query(plan_id=plan_id, limit=100))
    finally:
        store.close()


@dataclass
class Runs:
    tmp: Path
    store: Path
    results: dict[str, Result]

    def __getitem__(self, name: str) -> Result:
        return self.results[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    tmp = tmp_path_factory.mktemp("cli")
    store = tmp / "h.db"  # shared by the runs that the history must list
    other = tmp / "other.db"

    def dump(name: str, data: dict[str, Any]) -> str:
        path = tmp / name
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return str(path)

    tiny = dump("tiny.yaml", TINY)
    recovery = dump(
        "recovery.yaml", {**TINY, "PlanId": "tiny-recovery", "ExecutionType": "RECOVERY"}
    )
    fast = dump("fast.yaml", FAST_SCENARIO)
    failing = dump("fail.yaml", FAIL_SCENARIO)
    nasty = dump("nasty.yaml", NASTY_SCENARIO)
    (tmp / "invalid.yaml").write_text(
        "PlanId: bad plan!\nPlanName: x\nWaves:\n  - WaveNumber: 1\n    ServerIds: [s-123]\n",
        encoding="utf-8",
    )
    three_tier = str(EXAMPLES / "three-tier.yaml")
    dag = str(EXAMPLES / "dag-two-branches.yaml")
    procs = {
        # --store on the command line for one, DRSORCH_STORE for the other: the same file
        "three-tier": start(["run", three_tier, "--json", "--store", f"sqlite:///{store}"]),
        "dag": start(["run", dag, "--json"], store=store),
        "text": start(["run", tiny, "--sim", fast, "--store", str(other)]),
        "recovery-refused": start(["run", recovery, "--sim", fast, "--json"], store=other),
        "recovery-yes": start(
            ["run", recovery, "--sim", fast, "--recovery", "--yes", "--json"], store=other
        ),
        "recovery-drill": start(["run", recovery, "--sim", fast, "--drill", "--json"], store=other),
        "recovery-no-yes": start(
            ["run", recovery, "--sim", fast, "--recovery", "--json"], store=tmp / "refused.db"
        ),
        "invalid": start(["run", str(tmp / "invalid.yaml"), "--json"], store=tmp / "invalid.db"),
        "failing": start(["run", tiny, "--sim", failing, "--json"], store=other),
        "nasty-text": start(["run", tiny, "--sim", nasty], store=tmp / "nasty.db", env=COLOUR),
        "nasty-json": start(["run", tiny, "--sim", nasty, "--json"], store=tmp / "nasty.db"),
        "speed-nan": start(["run", tiny, "--speed", "nan", "--json"], store=tmp / "nan.db"),
        "no-profile": start(["run", tiny, "--aws", "--profile", "NOSUCH"], store=tmp / "aws.db"),
    }
    results = {name: finish(proc) for name, proc in procs.items()}
    yield Runs(tmp, store, results)


# -- the examples, --json, history, show -----------------------------------------------------


@pytest.mark.parametrize("name", ["three-tier", "dag"])
def test_run_example_json(runs: Runs, name: str) -> None:
    """Req 5.5 / design §6: `drsorch run EXAMPLE --json` exits 0 and prints exactly one
    JSON record (nothing else on stdout), COMPLETED, with every server COMPLETED."""
    result = runs[name]
    assert result.returncode == 0, result.stderr
    record = result.json()  # the whole stdout is one JSON document
    assert isinstance(record, dict)
    assert record["Status"] == "COMPLETED"
    assert record["ExecutionType"] == "DRILL"
    assert record["Errors"] == []
    assert record["Duration"] == pytest.approx(record["EndTime"] - record["StartTime"])
    plan = yaml.safe_load(
        (
            EXAMPLES / f"{'three-tier' if name == 'three-tier' else 'dag-two-branches'}.yaml"
        ).read_text()
    )
    assert record["PlanId"] == plan["PlanId"]
    servers = [r for w in record["WaveStatus"] for r in w["ServerResults"]]
    assert sorted(r["ServerId"] for r in servers) == sorted(
        sid for w in plan["Waves"] for sid in w["ServerIds"]
    )
    assert all(r["Status"] == "COMPLETED" and r["JobId"] for r in servers)


def test_history_lists_both_runs(runs: Runs) -> None:
    """Req 5 / design §6: `drsorch history --json` lists both executions of the store
    (one saved with --store, one with DRSORCH_STORE), newest first, as saved."""
    listed = drsorch("history", "--store", f"sqlite:///{runs.store}", "--json")
    assert listed.returncode == 0, listed.stderr
    records = listed.json()
    ids = {runs["three-tier"].json()["ExecutionId"], runs["dag"].json()["ExecutionId"]}
    assert {r["ExecutionId"] for r in records} == ids
    assert len(records) == 2
    by_id = {r["ExecutionId"]: r for r in records}
    for name in ("three-tier", "dag"):
        printed = runs[name].json()
        assert by_id[printed["ExecutionId"]] == printed
    starts = [r["StartTime"] for r in records]
    assert starts == sorted(starts, reverse=True)


def test_show_returns_the_same_record(runs: Runs) -> None:
    """Req 5 / design §6: `drsorch show ID --json` returns the record `run --json` printed."""
    printed = runs["dag"].json()
    shown = drsorch("show", printed["ExecutionId"], "--json", store=runs.store)
    assert shown.returncode == 0, shown.stderr
    assert shown.json() == printed


def test_show_unknown_id_is_bad_input(runs: Runs) -> None:
    """Design §6: showing an execution that is not in the store exits 2 with a message."""
    shown = drsorch("show", "00000000-0000-4000-8000-000000000000", "--json", store=runs.store)
    assert shown.returncode == 2
    assert shown.stdout == ""
    assert "no execution" in shown.stderr


# -- text mode -------------------------------------------------------------------------------


def test_text_mode_shows_progress_and_summary(runs: Runs) -> None:
    """Design §6: without --json a person sees live progress per wave and server, then a
    summary naming the execution, its status and every server."""
    result = runs["text"]
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.lstrip().startswith("DRILL of plan tiny-e2e on the simulator: execution ")
    for line in (
        "wave 1 Database: RUNNING",
        f"{TINY_SERVERS[0]} (host-{TINY_SERVERS[0][2:10]}) LAUNCHING",  # its hostname beside
        f"{TINY_SERVERS[0]} (host-{TINY_SERVERS[0][2:10]}) COMPLETED",
        "wave 1 Database: COMPLETED",
        "wave 2 Web: RUNNING",
        "wave 2 Web: COMPLETED",
    ):
        assert line in out, line
    # progress comes in order
    assert out.index("wave 1 Database: COMPLETED") < out.index("wave 2 Web: RUNNING")
    summary = out[out.index("Execution ") :]
    assert "COMPLETED" in summary and "tiny-e2e" in summary
    assert all(sid in summary for sid in TINY_SERVERS)
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


# -- RECOVERY needs confirmation (invariant 4) ----------------------------------------------------


def test_recovery_without_flag_is_refused(runs: Runs) -> None:
    """Invariant 4: a RECOVERY plan without --recovery exits 2, says how to run it, prints
    no record and saves none."""
    result = runs["recovery-refused"]
    assert result.returncode == 2
    assert result.stdout == ""
    assert "RECOVERY" in result.stderr and "--recovery" in result.stderr
    types = sorted(r.ExecutionType for r in saved(runs.tmp / "other.db", plan_id="tiny-recovery"))
    assert types == ["DRILL", "RECOVERY"]  # only the two runs that were allowed


def test_recovery_without_confirmation_is_refused(runs: Runs) -> None:
    """Invariant 4: --recovery without --yes and without a terminal exits 2; nothing saved."""
    result = runs["recovery-no-yes"]
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--yes" in result.stderr
    assert saved(runs.tmp / "refused.db") == []


def test_recovery_confirmed_runs_a_recovery(runs: Runs) -> None:
    """Invariant 4 / Req 2.2: --recovery --yes runs it; the record says RECOVERY."""
    result = runs["recovery-yes"]
    assert result.returncode == 0, result.stderr
    record = result.json()
    assert record["ExecutionType"] == "RECOVERY"
    assert record["Status"] == "COMPLETED"


def test_drill_flag_rehearses_a_recovery_plan(runs: Runs) -> None:
    """Invariant 4: --drill runs a RECOVERY plan as a DRILL, no confirmation needed."""
    result = runs["recovery-drill"]
    assert result.returncode == 0, result.stderr
    record = result.json()
    assert record["ExecutionType"] == "DRILL"
    assert record["PlanId"] == "tiny-recovery"
    assert record["Status"] == "COMPLETED"


# -- bad input and failed executions ---------------------------------------------------------------


def test_invalid_plan_exits_2(runs: Runs) -> None:
    """Design §6: an invalid plan exits 2 with the problems on stderr; no record."""
    result = runs["invalid"]
    assert result.returncode == 2
    assert result.stdout == ""
    assert "PlanId" in result.stderr
    assert "s-123" in result.stderr or "ServerIds" in result.stderr
    assert saved(runs.tmp / "invalid.db") == []


def test_scenario_launch_failure_exits_1(runs: Runs) -> None:
    """Design §6 / Req 5.4: a scenario whose launch fails ends the execution FAILED: exit 1,
    the JSON record names the server, its job and the raw error; the next wave SKIPPED."""
    result = runs["failing"]
    assert result.returncode == 1, result.stderr
    record = result.json()
    assert record["Status"] == "FAILED"
    server = record["WaveStatus"][0]["ServerResults"][0]
    assert server["Status"] == "FAILED"
    assert "No capacity in AZ" in server["Error"]
    assert server["JobId"]
    entry = next(e for e in record["Errors"] if e["ServerId"] == TINY_SERVERS[0])
    assert entry["JobId"] == server["JobId"]
    assert "No capacity in AZ" in entry["Message"] and server["JobId"] in entry["Message"]
    assert record["WaveStatus"][1]["Status"] == "SKIPPED"


# -- bad options and credentials: exit 2, one line, no traceback (issue 7) -----------------------


def test_a_nan_speed_is_a_usage_error(runs: Runs) -> None:
    result = runs["speed-nan"]
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Invalid value for '--speed'" in result.stderr
    assert not (runs.tmp / "nan.db").exists()


def test_an_unknown_profile_is_bad_input(runs: Runs) -> None:
    """No such profile: exit 2 naming it (the config files are /dev/null: no network)."""
    result = runs["no-profile"]
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: no AWS profile 'NOSUCH' in {os.devnull} and {os.devnull}"
    ]


# -- nothing printed controls the terminal (issue 7) -----------------------------------------------


def assert_inert(output: str) -> str:
    plain = SGR.sub("", output)
    found = sorted({f"U+{ord(c):04X}" for c in FORBIDDEN.findall(plain)})
    assert not found, f"control characters reached the terminal: {found}"
    assert "\x1b]" not in output
    return plain


def test_text_mode_escapes_names_from_outside(runs: Runs) -> None:
    """An AWS error message full of escape sequences and markup shows as inert text, in the
    live progress and in the summary, on a colour terminal."""
    result = runs["nasty-text"]
    assert result.returncode == 1, result.stderr
    assert "\x1b[" in result.stdout  # colours are on: rich's own codes are still there
    plain = assert_inert(result.stdout)
    assert_inert(result.stderr)
    assert plain.count(r"\x1b]0;pwned\x07") >= 2  # a progress line and the summary
    assert "[bold red]x[/]" in plain and r"\u202eevil" in plain


def test_json_mode_carries_names_exactly_as_escaped_ascii(runs: Runs) -> None:
    result = runs["nasty-json"]
    assert result.returncode == 1, result.stderr
    assert result.stdout.isascii()
    assert_inert(result.stdout + result.stderr)
    record = result.json()
    server = record["WaveStatus"][0]["ServerResults"][0]
    assert NASTY in server["Error"]  # JSON is data: the message is kept exactly


def test_show_and_history_escape_a_stored_record(runs: Runs) -> None:
    record = runs["nasty-json"].json()
    store = runs.tmp / "nasty.db"
    shown = finish(start(["show", record["ExecutionId"]], store=store, env=COLOUR))
    listed = finish(start(["history"], store=store, env=COLOUR))
    assert shown.returncode == 0 and listed.returncode == 0, shown.stderr + listed.stderr
    assert r"\x1b]0;pwned\x07" in assert_inert(shown.stdout)
    # history shows ids as their shortest unique prefix, 8 characters at least (issue 11)
    assert record["ExecutionId"][:8] in assert_inert(listed.stdout)
