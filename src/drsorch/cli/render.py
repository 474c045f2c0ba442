"""Shared pieces of the command line: error-to-exit-code mapping and record rendering.

- :func:`exits_on_errors` turns drsorch's own errors into one line on stderr and the exit
  code of design §6, so no command ever shows a traceback.
- :func:`render_record` prints an :class:`~drsorch.history.ExecutionRecord` for a person
  (``drsorch show``, and the summary at the end of ``drsorch run``);
  :func:`render_history` prints a list of them as one table (``drsorch history``).
- :func:`echo_json` prints JSON and nothing else, for ``--json``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from drsorch.cli import EXIT_BAD_INPUT, EXIT_INTERNAL
from drsorch.errors import DrsorchError, PlanError, RefusedError, ScenarioError, StoreError
from drsorch.history import ExecutionRecord
from drsorch.store.base import StoreConfigError

__all__ = [
    "STATUS_STYLES",
    "echo_json",
    "exit_code_for",
    "exits_on_errors",
    "format_duration",
    "format_time",
    "make_console",
    "render_history",
    "render_record",
]

P = ParamSpec("P")
R = TypeVar("R")

#: Colour of each status, whichever lifecycle it belongs to.
STATUS_STYLES = {
    "COMPLETED": "green",
    "FAILED": "bold red",
    "CANCELLED": "yellow",
    "SKIPPED": "yellow",
    "RUNNING": "cyan",
    "LAUNCHING": "cyan",
    "LAUNCHED": "cyan",
    "HEALTH_CHECK": "cyan",
    "PAUSED": "magenta",
    "WAITING": "blue",
    "PENDING": "dim",
}

# -- errors -> exit codes -----------------------------------------------------------------


def exit_code_for(error: DrsorchError) -> int:
    """2 for bad input or a refused request, 3 when something of ours broke (design §6)."""
    if isinstance(error, PlanError | RefusedError | ScenarioError | StoreConfigError):
        return EXIT_BAD_INPUT
    return EXIT_INTERNAL


def exits_on_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a click command so that errors end it with a message and an exit code.

    A DrsorchError prints ``error: <message>`` (for a PlanError, each problem too) and exits
    with :func:`exit_code_for`. Anything else is a bug: one line and exit 3, with the
    traceback only when ``DRSORCH_DEBUG`` is set.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except DrsorchError as exc:
            _fail(str(exc), exc)
            if isinstance(exc, PlanError) and exc.problems != [str(exc)]:
                for problem in exc.problems:
                    click.echo(f"  - {problem}", err=True)
            raise SystemExit(exit_code_for(exc)) from None
        except Exception as exc:
            if os.environ.get("DRSORCH_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (set DRSORCH_DEBUG=1 for details)")
            raise SystemExit(EXIT_INTERNAL) from None

    return wrapper


def _fail(message: str, exc: DrsorchError | None = None) -> None:
    lines = message.splitlines() or [type(exc).__name__ if exc else "error"]
    kind = "store error" if isinstance(exc, StoreError) else "error"
    click.echo(f"{kind}: {lines[0]}", err=True)


# -- plain output -------------------------------------------------------------------------


def echo_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, and nothing else."""
    click.echo(json.dumps(data, indent=2))


def make_console(*, stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (so click's test runner captures it).

    When the output is not a terminal it is made wide, so that ids are not cut.
    """
    stream = sys.stderr if stderr else sys.stdout
    console = Console(file=stream, highlight=False)
    if not console.is_terminal:
        console = Console(file=stream, highlight=False, width=200)
    return console


def format_time(epoch: float | None, *, day_of: float | None = None) -> str:
    """UTC ISO 8601 (``2025-11-25T11:26:40Z``); '-' for None.

    With ``day_of``, a time on the same UTC day as ``day_of`` shows only as ``11:26:40``.
    """
    if epoch is None:
        return "-"
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    if day_of is not None and moment.date() == datetime.fromtimestamp(day_of, tz=UTC).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(seconds: float | None) -> str:
    """``1h02m03s`` / ``4m05s`` / ``12.5s``; '-' for None."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _status(value: str) -> Text:
    return Text(value, style=STATUS_STYLES.get(value, ""))


# -- rich rendering -----------------------------------------------------------------------


def render_history(records: Sequence[ExecutionRecord], console: Console) -> None:
    """One row per execution, as ``drsorch history`` shows them."""
    if not records:
        console.print("No executions found.")
        return
    table = Table(title="Executions (newest first)", title_justify="left")
    for name in ("ExecutionId", "PlanId", "Type", "Status", "Started (UTC)", "Duration"):
        table.add_column(name, no_wrap=True)
    table.add_column("Servers", justify="right")
    table.add_column("Errors", justify="right")
    for record in records:
        table.add_row(
            Text(record.ExecutionId),
            Text(record.PlanId),
            Text(record.ExecutionType),
            _status(record.Status.value),
            format_time(record.StartTime),
            format_duration(record.Duration),
            str(record.ServerCount),
            Text(str(len(record.Errors)), style="red" if record.Errors else ""),
        )
    console.print(table)


def render_record(record: ExecutionRecord, console: Console) -> None:
    """An execution for a person: header, one table of waves and servers, then the errors."""
    console.print(_header(record))
    console.print(_waves(record))
    if record.Errors:
        errors = Table(title="Errors", title_justify="left", title_style="bold red")
        for name in ("Wave", "Server", "Job", "Message"):
            errors.add_column(name, no_wrap=name != "Message")
        for entry in record.Errors:
            errors.add_row(
                "-" if entry.WaveNumber is None else str(entry.WaveNumber),
                Text(entry.ServerId or "-"),
                Text(entry.JobId or "-"),
                Text(entry.Message),
            )
        console.print(errors)


def _header(record: ExecutionRecord) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    accounts = record.SourceAccountId
    if record.TargetAccountId != record.SourceAccountId:
        accounts = f"{record.SourceAccountId} -> {record.TargetAccountId}"
    rows: list[tuple[str, str | Text]] = [
        ("Execution", Text(record.ExecutionId)),
        ("Plan", Text(f"{record.PlanId} ({record.PlanName})")),
        ("Type", record.ExecutionType),
        ("Status", _status(record.Status.value)),
        ("Initiated by", Text(record.InitiatedBy)),
        ("Started", format_time(record.StartTime)),
        ("Ended", format_time(record.EndTime)),
        ("Duration", format_duration(record.Duration)),
        ("Accounts", accounts),
        ("Region", Text(record.Region)),
        ("Servers", str(record.ServerCount)),
        ("Errors", str(len(record.Errors))),
    ]
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _waves(record: ExecutionRecord) -> Table:
    table = Table(title="Waves (times UTC)", title_justify="left")
    for name in ("Wave", "Server", "Status", "Job", "Instance", "Started", "Launched"):
        table.add_column(name, no_wrap=True)
    table.add_column("Healthy", no_wrap=True)
    table.add_column("Ended", no_wrap=True)
    table.add_column("Error")
    day = record.StartTime  # times on the execution's first day show as HH:MM:SS
    for wave in record.WaveStatus:
        table.add_row(
            Text(f"{wave.WaveNumber} {wave.WaveName}", style="bold"),
            f"{len(wave.ServerResults)} server(s)",
            _status(wave.Status.value),
            "",
            "",
            format_time(wave.StartTime, day_of=day),
            "",
            "",
            format_time(wave.EndTime, day_of=day),
            "",
        )
        for server in wave.ServerResults:
            table.add_row(
                "",
                Text(server.ServerId),
                _status(server.Status.value),
                Text(server.JobId or "-"),
                Text(server.Ec2InstanceId or server.RecoveryInstanceId or "-"),
                format_time(server.StartTime, day_of=day),
                format_time(server.LaunchedTime, day_of=day),
                format_time(server.HealthyTime, day_of=day),
                format_time(server.EndTime, day_of=day),
                Text(server.Error or "", style="red"),
            )
    if not record.WaveStatus:
        table.add_row("-", "no waves recorded yet", "", "", "", "", "", "", "", "")
    return table
