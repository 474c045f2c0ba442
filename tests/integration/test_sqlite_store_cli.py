"""``drsorch history`` and ``drsorch show`` over a real SQLite store, through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.utils.history import make_record, make_records

from drsorch.cli import EXIT_BAD_INPUT, EXIT_OK, main
from drsorch.cli.render import record_json
from drsorch.history import ExecutionRecord
from drsorch.store import SqliteStore

pytestmark = pytest.mark.integration


@pytest.fixture
def records() -> list[ExecutionRecord]:
    return make_records(30, seed=21, plans=3)


@pytest.fixture
def url(tmp_path: Path, records: list[ExecutionRecord]) -> str:
    path = tmp_path / "history.db"
    with SqliteStore(path) as store:
        for record in records:
            store.put(record)
    return f"sqlite:///{path}"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def newest(records: list[ExecutionRecord]) -> list[ExecutionRecord]:
    return sorted(records, key=lambda r: r.StartTime, reverse=True)


def test_history_json_is_the_newest_records_and_nothing_else(
    url: str, records: list[ExecutionRecord]
) -> None:
    result = run("history", "--store", url, "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout) == [record_json(r) for r in newest(records)[:20]]


def test_history_filters_by_plan_and_status_with_a_limit(
    url: str, records: list[ExecutionRecord]
) -> None:
    expected = [r for r in newest(records) if r.PlanId == "plan-2" and r.Status == "FAILED"]
    assert expected
    result = run(
        "history",
        "--plan",
        "plan-2",
        "--status",
        "failed",
        "--limit",
        "2",
        "--store",
        url,
        "--json",
    )
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout) == [record_json(r) for r in expected[:2]]


def test_history_table_lists_executions_for_a_person(
    url: str, records: list[ExecutionRecord]
) -> None:
    result = run("history", "--store", url, "--limit", "3")
    assert result.exit_code == EXIT_OK, result.output
    first = newest(records)[0]
    # Issue 11: ids as their shortest unique prefix (8 characters at least), which `show`
    # accepts back; no hard wrap when not a terminal: one line per execution.
    [row] = [line for line in result.stdout.splitlines() if line.startswith(first.ExecutionId[:8])]
    assert first.Status.value in row
    assert first.ExecutionId not in result.stdout
    assert newest(records)[3].ExecutionId[:8] not in result.stdout
    for header in ("ID", "PLAN", "STATUS", "STARTED (", "DURATION", "ERR"):
        assert header in result.stdout
    shown = run("show", first.ExecutionId[:8], "--store", url, "--json")
    assert shown.exit_code == EXIT_OK, shown.output
    assert json.loads(shown.stdout)["ExecutionId"] == first.ExecutionId


def test_history_of_an_empty_store_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert "No executions found" in run("history", "--store", url).stdout
    assert json.loads(run("history", "--store", url, "--json").stdout) == []


def test_history_reads_the_store_from_the_environment(
    url: str, records: list[ExecutionRecord]
) -> None:
    result = run("history", "--json", "--limit", "100", env={"DRSORCH_STORE": url})
    assert result.exit_code == EXIT_OK, result.output
    assert len(json.loads(result.stdout)) == len(records)


def test_history_with_a_bad_status_exits_2_naming_the_allowed_values(url: str) -> None:
    result = run("history", "--status", "DONE", "--store", url)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED" in result.stderr


@pytest.mark.parametrize(
    "bad", ["ftp://somewhere/x.db", "sqlite:/x.db", "dynamodb://t?region=us-east-1"]
)
def test_a_bad_store_url_exits_2_with_one_line(bad: str) -> None:
    result = run("history", "--store", bad)
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_broken_store_exits_2_with_one_line(tmp_path: Path) -> None:
    """A damaged file is not a bug of drsorch's: bad input, named, exit 2."""
    bad = tmp_path / "broken.db"
    bad.write_bytes(b"not a database at all\n" * 100)
    for args in (["history"], ["show", "0b1f2c3d-0000-4000-8000-000000000000"]):
        result = run(*args, "--store", str(bad))
        assert result.exit_code == EXIT_BAD_INPUT
        assert "not a database" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_show_json_is_exactly_the_record(url: str, records: list[ExecutionRecord]) -> None:
    record = records[7]
    result = run("show", record.ExecutionId, "--store", url, "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout) == record_json(record)
    assert result.stderr == ""


def test_show_text_has_header_waves_servers_and_errors(tmp_path: Path) -> None:
    record = make_record(31, Status="FAILED", PlanId="three-tier-app")
    url = f"sqlite:///{tmp_path / 'h.db'}"
    with SqliteStore(tmp_path / "h.db") as store:
        store.put(record)
    result = run("show", record.ExecutionId, "--store", url)
    assert result.exit_code == EXIT_OK, result.output
    out = result.stdout
    assert record.ExecutionId in out and "three-tier-app" in out and "FAILED" in out
    for wave in record.WaveStatus:
        assert wave.WaveName in out
        for server in wave.ServerResults:
            assert server.ServerId in out
    for error in record.Errors:
        assert error.JobId is not None and error.JobId in out


def test_show_of_an_unknown_execution_exits_2(url: str) -> None:
    result = run("show", "00000000-0000-4000-8000-000000000000", "--store", url)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "no execution 00000000-0000-4000-8000-000000000000" in result.stderr
    assert result.stdout == ""
