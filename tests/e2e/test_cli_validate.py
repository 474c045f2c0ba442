"""``drsorch validate`` and ``drsorch schema`` as a user runs them: the installed console
script in a subprocess. Valid plans exit 0 with a summary; every kind of bad file exits 2
with a clear message, quickly, and never a traceback."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml
from tests.utils.plans import example_paths, fixture_path, make_plan, valid_fixture_paths

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]  # a hang fails, not blocks

TIMEOUT = 15  # seconds; a run takes well under one, this only stops a hang


def _drsorch() -> str:
    beside_python = Path(sys.executable).parent / "drsorch"
    found = str(beside_python) if beside_python.exists() else shutil.which("drsorch")
    if found is None:
        pytest.skip("the drsorch console script is not installed (pip install -e .)")
    return found


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def all(self) -> str:
        return self.out + self.err


def drsorch(*args: str | Path, cwd: Path | None = None) -> Run:
    proc = subprocess.run(
        [_drsorch(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
    )
    run = Run(proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in run.all, run.all
    return run


def example(name: str) -> Path:
    return next(p for p in example_paths() if p.name == name)


# -- valid plans ----------------------------------------------------------------------------


def test_valid_examples_exit_0_with_a_summary_per_file() -> None:
    run = drsorch("validate", example("three-tier.yaml"), example("dag-two-branches.yaml"))
    assert run.code == 0, run.all
    assert run.err == ""
    assert run.out.splitlines() == [
        f"{example('three-tier.yaml')}: valid",
        "  plan three-tier-app (Three-tier application): DRILL, 3 waves, 6 servers",
        "  run order: 1 -> 2 -> 3",
        "  longest chain: 1 -> 2 -> 3 (3 waves)",
        f"{example('dag-two-branches.yaml')}: valid",
        "  plan dag-two-branches (Shared services with two application branches): DRILL, "
        "5 waves, 8 servers",
        "  run order: 1 -> {2, 4} -> 3 -> 5",
        "  longest chain: 1 -> 2 -> 3 -> 5 (4 waves)",
    ]


def test_every_valid_fixture_validates() -> None:
    paths = valid_fixture_paths()
    run = drsorch("validate", *paths)
    assert run.code == 0, run.all
    for p in paths:
        assert f"{p}: valid" in run.out
    # a PARALLEL wave over the DRS job limit is valid, and the summary says how it runs
    assert "  wave 2 has 150 servers: it runs as 2 DRS jobs of at most 100\n" in run.out


def test_quiet_prints_nothing_for_valid_plans() -> None:
    run = drsorch("validate", "--quiet", example("three-tier.yaml"))
    assert (run.code, run.out, run.err) == (0, "", "")


def test_a_10000_server_plan_validates_quickly(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    p.write_text(json.dumps(make_plan(1, waves=100, servers_per_wave=100, dag=True)))
    run = drsorch("validate", p)
    assert run.code == 0, run.all
    assert "100 waves, 10000 servers" in run.out


# -- invalid plans --------------------------------------------------------------------------


def test_invalid_plan_lists_every_problem_with_its_place_in_file_order() -> None:
    """Issue 11.6: FILE:LINE:COL: PATH (wave N): message, sorted by place."""
    p = fixture_path("invalid/many-problems.yaml")
    run = drsorch("validate", p)
    assert run.code == 2
    lines = run.err.splitlines()
    assert lines[0] == f"{p}: 21 problems"
    assert len(lines) == 22
    assert f"{p}:27:23: Waves[2].Dependencies[1] (wave 3): wave 7 does not exist" in lines
    assert f"{p}:14:1: Waves: dependency cycle 2 -> 3 -> 2" in lines
    assert (
        f"{p}:21:38: Waves[1].ServerIds[1] (wave 2): s-3d75cdc0d9a28a725 is already in wave 1"
        in (lines)
    )
    # a missing field is placed at the wave that lacks it
    assert lines[-1] == f"{p}:34:5: Waves[5].WaveNumber: required field is missing"
    places = [tuple(map(int, line[len(str(p)) + 1 :].split(":")[:2])) for line in lines[1:]]
    assert places == sorted(places)


def test_every_error_of_every_file_is_reported_and_valid_files_still_summarized() -> None:
    bad1, bad2 = fixture_path("invalid/many-problems.yaml"), fixture_path("invalid/cycle.yaml")
    good = example("three-tier.yaml")
    run = drsorch("validate", bad1, good, bad2)
    assert run.code == 2
    assert f"{good}: valid" in run.out
    assert f"{bad1}: 21 problems" in run.err
    assert f"{bad2}: 2 problems\n{bad2}:" in run.err
    assert ": Waves: dependency cycle 2 -> 3 -> 2\n" in run.err
    assert ": Waves: dependency cycle 4 -> 5 -> 6 -> 4\n" in run.err


def test_the_users_report_gets_answers_a_person_can_act_on() -> None:
    """Issue 11.6: `sequential`, `WaitTimeSecond` and wave 4 as the user met them, in YAML and
    in JSON: line and column, the wave by its number, what was meant, no library words."""
    for name in ("invalid/user-report.yaml", "invalid/user-report.json"):
        p = fixture_path(name)
        run = drsorch("validate", p)
        assert run.code == 2, run.all
        lines = run.err.splitlines()
        assert lines[0] == f"{p}: 4 problems", run.err
        body = [line.split(": ", 1)[1] for line in lines[1:]]
        assert body == [
            "Waves[3].ServerIds[0] (wave 4): 's-123' is not a DRS source server id "
            "('s-' followed by 17 letters or digits)",
            "Waves[3].ExecutionType (wave 4): 'sequential' is not accepted: "
            "did you mean SEQUENTIAL? (one of PARALLEL, SEQUENTIAL)",
            "Waves[3].WaitTimeSecond (wave 4): unknown field; did you mean WaitTimeSeconds?",
            "Waves[3].HealthCheck.require (wave 4): unknown field; did you mean Require?",
        ], run.err
        for line in lines[1:]:
            assert re.match(rf"{re.escape(str(p))}:[0-9]+:[0-9]+: ", line), line
        assert "Input should" not in run.err and "pydantic" not in run.err


def _junk(tmp_path: Path) -> Path:
    p = tmp_path / "junk.yaml"
    p.write_bytes(bytes(range(256)) * 64)
    return p


def _huge(tmp_path: Path) -> Path:
    p = tmp_path / "huge.yaml"
    with p.open("wb") as f:
        f.write(b"PlanId: huge\nPlanName: huge\n# ")
        f.write(b"x" * (5 * 1024 * 1024))
    return p


def _not_utf8(tmp_path: Path) -> Path:
    p = tmp_path / "latin1.yaml"
    p.write_bytes("PlanName: Caf\xe9\n".encode("latin-1"))
    return p


def _fifo(tmp_path: Path) -> Path:
    p = tmp_path / "pipe.yaml"
    if not p.exists():
        os.mkfifo(p)  # nobody ever writes: reading it would block for ever
    return p


BAD_FILES = {
    "missing file": (lambda tmp: tmp / "nope.yaml", "no such file"),
    "directory": (lambda tmp: tmp, "is a directory, not a plan file"),
    "yaml syntax": (
        lambda tmp: fixture_path("invalid/syntax-error.yaml"),
        "YAML syntax error at line 6, column 15",
    ),
    "json syntax": (
        lambda tmp: fixture_path("invalid/syntax-error.json"),
        "JSON syntax error at line 5, column 60",
    ),
    "over 5 MB": (_huge, "is larger than the 5 MB a plan may have"),
    "binary junk": (_junk, "binary data, not a YAML or JSON plan"),
    "endless device": (lambda tmp: Path("/dev/zero"), "is a device, not a plan file"),
    "named pipe": (_fifo, "is a named pipe, not a plan file"),
    "not utf-8": (_not_utf8, "not UTF-8 text"),
    "billion laughs": (
        lambda tmp: fixture_path("invalid/billion-laughs.yaml"),
        "refusing a possible alias bomb",
    ),
    "python tag": (
        lambda tmp: fixture_path("invalid/python-tag.yaml"),
        "could not determine a constructor",
    ),
    "duplicate key": (
        lambda tmp: fixture_path("invalid/duplicate-key.yaml"),
        "duplicate key 'WaitTimeSeconds' at line 7",
    ),
    "not a mapping": (
        lambda tmp: fixture_path("invalid/not-a-mapping.yaml"),
        "the plan must be a mapping of fields, this file is a list",
    ),
}


# One process per case costs a second of interpreter start-up, so a few cases run alone
# (exit code of a single bad file) and all of them run together below.
@pytest.mark.parametrize("case", ["missing file", "billion laughs", "over 5 MB", "named pipe"])
def test_bad_file_gives_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    make, message = BAD_FILES[case]
    path = make(tmp_path)
    run = drsorch("validate", path)
    assert run.code == 2, run.all
    assert run.out == ""
    assert run.err.count("\n") == 1, run.err  # exactly one line
    assert run.err.startswith(f"{path}: ") and message in run.err, run.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "secret.yaml"
    p.write_text("PlanId: x\n")
    p.chmod(0)
    try:
        run = drsorch("validate", p)
    finally:
        p.chmod(0o600)
    assert run.code == 2 and run.err.count("\n") == 1 and "cannot read" in run.err


def test_every_kind_of_bad_file_gets_one_clear_line(tmp_path: Path) -> None:
    cases = {case: (make(tmp_path), message) for case, (make, message) in BAD_FILES.items()}
    run = drsorch("validate", *(path for path, _ in cases.values()))
    assert run.code == 2
    assert run.out == ""
    lines = run.err.splitlines()
    assert len(lines) == len(cases), run.err
    for (case, (path, message)), line in zip(cases.items(), lines, strict=True):
        assert line.startswith(f"{path}: ") and message in line, (case, line)


def test_no_arguments_is_a_usage_error() -> None:
    run = drsorch("validate")
    assert run.code == 2
    assert run.err == "error: Missing argument 'PLANS...' (see 'drsorch validate --help')\n"


# -- schema ---------------------------------------------------------------------------------


def test_schema_prints_a_json_schema_that_every_plan_satisfies() -> None:
    run = drsorch("schema")
    assert run.code == 0, run.all
    schema = json.loads(run.out)
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    for path in [*example_paths(), *valid_fixture_paths()]:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], path


def test_hostile_files_never_reach_the_terminal_raw(tmp_path: Path) -> None:
    """Issue 7: escape sequences in keys, values and the YAML text itself are printed
    escaped; look-alike numbers are refused, never "valid" and then a traceback."""
    escape = "\x1b]0;pwned\x07"
    sid = "s-3d75cdc0d9a28a725"
    files = {
        "keys.yaml": yaml.safe_dump(
            {
                "PlanId": "p",
                "PlanName": f"n{escape}",
                f"Bogus{escape}": 1,
                "Waves": [{"WaveNumber": 1, "ServerIds": [sid]}],
            }
        ),
        "raw.yaml": f"PlanId: p{escape}\nPlanName: n\n",
        "escaped.json": json.dumps(
            {
                "PlanId": "p",
                "PlanName": "n",
                "Waves": [{"WaveNumber": 1, "ServerIds": [sid]}],
                "Description": "\x9b31m",
            }
        ),
        "lookalike.yaml": yaml.safe_dump(
            {
                "PlanId": "p",
                "PlanName": "n",
                "Waves": [
                    {"WaveNumber": 1, "ServerIds": [sid]},
                    {"WaveNumber": 1.0, "ServerIds": [f" {sid}"]},
                ],
            }
        ),
    }
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)
    run = drsorch("validate", *paths)
    assert run.code == 2, run.all
    assert run.out == ""
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in run.all
    assert "\\x1b]0;pwned\\x07" in run.err
    for p in paths:
        assert f"{p}: " in run.err
