"""Rendering records for people, and turning errors into exit codes (drsorch.cli.render)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner
from rich.console import Console
from tests.utils.history import make_record

from drsorch.cli import EXIT_BAD_INPUT, EXIT_INTERNAL
from drsorch.cli.render import (
    exits_on_errors,
    format_duration,
    format_time,
    render_history,
    render_record,
)
from drsorch.errors import PlanError, RefusedError, StoreError
from drsorch.history import ExecutionRecord
from drsorch.store import StoreConfigError

pytestmark = pytest.mark.unit


def rendered(record: ExecutionRecord) -> str:
    console = Console(record=True, width=220, file=None, force_terminal=False)
    with console.capture() as capture:
        render_record(record, console)
    return capture.get()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0.0s"), (12.46, "12.5s"), (245, "4m05s"), (3723, "1h02m03s")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.fixture
def paris(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The local time zone is Europe/Paris (CET in winter) for the test."""
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_format_time_is_local_with_its_zone_or_time_of_day_on_the_same_day(
    paris: None,
) -> None:
    """Issue 11: times on screen are local, the zone named (JSON keeps epoch seconds)."""
    assert format_time(1_764_070_000.0) == "2025-11-25 12:26:40 CET"
    assert format_time(1_764_070_000.0, day_of=1_764_070_000.0 - 3600) == "12:26:40"
    assert format_time(1_764_070_000.0, day_of=1_764_070_000.0 - 86_400) == (
        "2025-11-25 12:26:40 CET"
    )
    assert format_time(1_764_070_000.0, zone=False, seconds=False) == "2025-11-25 12:26"
    assert format_time(1_750_000_000.0) == "2025-06-15 17:06:40 CEST"  # summer time
    assert format_time(None) == "-"


def test_render_record_shows_every_wave_server_and_error() -> None:
    record = make_record(41, Status="FAILED")
    out = rendered(record)
    assert record.ExecutionId in out
    assert "FAILED" in out
    for wave in record.WaveStatus:
        assert wave.WaveName in out
        for server in wave.ServerResults:
            assert server.ServerId in out
    for error in record.Errors:
        assert error.Message in out


def test_render_record_does_not_interpret_markup_in_names() -> None:
    record = make_record(42, PlanName="[bold]Payroll[/bold] [red]")
    assert "[bold]Payroll[/bold] [red]" in rendered(record)


def test_render_history_of_nothing_says_so() -> None:
    console = Console(width=120)
    with console.capture() as capture:
        render_history([], console)
    assert "No executions found" in capture.get()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PlanError("bad plan", ["Waves[0].ServerIds: empty"]), EXIT_BAD_INPUT),
        (RefusedError("RECOVERY needs --yes"), EXIT_BAD_INPUT),
        (StoreConfigError("bad store URL"), EXIT_BAD_INPUT),
        (StoreError("disk on fire"), EXIT_INTERNAL),
        (RuntimeError("a bug"), EXIT_INTERNAL),
    ],
)
def test_errors_become_one_message_and_an_exit_code(error: Exception, code: int) -> None:
    @click.command()
    @exits_on_errors
    def command() -> None:
        raise error

    result = CliRunner().invoke(command, [], env={"DRSORCH_DEBUG": ""})
    assert result.exit_code == code
    assert str(error) in result.stderr
    assert "Traceback" not in result.stderr
    if isinstance(error, PlanError):
        assert "Waves[0].ServerIds: empty" in result.stderr


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_show_fits_80_columns_and_cuts_nothing(seed: int) -> None:
    """On an 80-column terminal every line fits, and every id, time and error is there in
    full (issue 11: the 10-column table collapsed to "…"); a wide one keeps the table."""
    from drsorch.cli.render import render_record

    record = make_record(seed, Status="FAILED")
    narrow = Console(width=80, record=True, highlight=False, emoji=False)
    with narrow.capture() as captured:
        render_record(record, narrow)
    text = captured.get()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    # a long error may wrap inside its cell (between the table's borders), never be cut
    flat = "".join(text.replace("│", " ").replace("┃", " ").split())
    for wave in record.WaveStatus:
        for server in wave.ServerResults:
            for value in (server.ServerId, server.JobId, server.Ec2InstanceId, server.Error):
                if value:
                    assert "".join(value.split()) in flat, value
    wide = Console(width=200, record=True, highlight=False, emoji=False)
    with wide.capture() as captured:
        render_record(record, wide)
    assert "Instance" in captured.get() and "Wave / server" not in captured.get()
