"""Shared pieces of the command line: printing errors and rendering records.

- :func:`exits_on_errors` turns an error into one line on stderr and ends the command with
  the exit code :func:`drsorch.outcomes.exit_code_for_error` gives it (design §6), so no
  command ever shows a traceback.
- :func:`render_record` prints an :class:`~drsorch.history.ExecutionRecord` for a person
  (``drsorch show``, and the summary at the end of ``drsorch run``);
  :func:`render_history` prints a list of them as one table (``drsorch history``).
- :func:`echo_json` prints JSON and nothing else, for ``--json``; :func:`record_json` is a
  record as ``--json`` shows it: every epoch field ``X`` (``StartTime``, ``EndTime``,
  ``LaunchedTime``...) with an ISO-8601 UTC sibling ``XIso`` (``"2026-12-02T10:31:57Z"``).
  Only the output has them: stores keep :meth:`~drsorch.history.ExecutionRecord.to_dict`.

Times on screen are local, with the zone; times in JSON are UTC.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from drsorch.cli.streams import unwritable
from drsorch.errors import DrsorchError, PlanError, StoreError
from drsorch.history import ExecutionRecord
from drsorch.outcomes import exit_code_for_error
from drsorch.plan.loader import PlanProblems
from drsorch.text import format_duration, printable

__all__ = [
    "STATUS_STYLES",
    "describe_cleanup",
    "echo_json",
    "exits_on_errors",
    "format_duration",
    "format_time",
    "iso_utc",
    "local_time",
    "make_console",
    "record_json",
    "render_history",
    "render_record",
    "server_label",
    "with_iso_times",
    "zone_name",
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

# -- errors -------------------------------------------------------------------------------


def exits_on_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a click command so that errors end it with a message and an exit code.

    A DrsorchError prints ``error: <message>`` (for a PlanError, each problem too). Anything
    else is a bug: one line, with the traceback only when ``DRSORCH_DEBUG`` is set. Either
    way :func:`~drsorch.outcomes.exit_code_for_error` gives the exit code. Messages carry
    names from files, stores and AWS: every line is :func:`~drsorch.text.printable` (no
    control character reaches the terminal).
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except DrsorchError as exc:
            _fail(str(exc), exc)
            if isinstance(exc, PlanProblems):  # FILE:LINE:COL lines, as validate prints
                for located in exc.located:
                    click.echo(printable(located.located(exc.name)), err=True)
            elif isinstance(exc, PlanError) and exc.problems != [str(exc)]:
                for problem in exc.problems:
                    click.echo(f"  - {printable(problem)}", err=True)
            raise SystemExit(exit_code_for_error(exc)) from None
        except Exception as exc:
            if os.environ.get("DRSORCH_DEBUG") or unwritable(exc):
                raise  # an output that takes no more: said once, by the command group
            _fail(f"internal error: {type(exc).__name__}: {exc} (set DRSORCH_DEBUG=1 for details)")
            raise SystemExit(exit_code_for_error(exc)) from None

    return wrapper


def _fail(message: str, exc: DrsorchError | None = None) -> None:
    lines = message.splitlines() or [type(exc).__name__ if exc else "error"]
    kind = "store error" if isinstance(exc, StoreError) else "error"
    click.echo(f"{kind}: {printable(lines[0])}", err=True)


# -- plain output -------------------------------------------------------------------------


def echo_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, and nothing else.

    ASCII only (``ensure_ascii``): every control character and every non-ASCII character,
    bidi overrides included, is a ``\\uXXXX`` escape, so the output is valid JSON that
    cannot control a terminal it is printed on."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=True))


#: What a field's name ends with when it holds epoch seconds (``StartTime``, ``EndTime``...).
EPOCH_SUFFIX = "Time"
#: What ``--json`` appends to an epoch field's name for its ISO-8601 UTC sibling.
ISO_SUFFIX = "Iso"


def iso_utc(epoch: float | None) -> str | None:
    """``epoch`` as ISO-8601 UTC to the second (``2026-12-02T10:31:57Z``; fractions cut, so
    the order of times is kept); None for None and for a time no calendar holds."""
    if epoch is None:
        return None
    try:
        moment = datetime.fromtimestamp(epoch, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def with_iso_times(data: Any) -> Any:
    """``data`` (JSON: dicts, lists, values) with, right after every epoch field ``X`` (a
    key ending in ``Time`` whose value is a number or null), its ISO-8601 UTC sibling
    ``XIso`` (null when ``X`` is). A new structure; ``data`` is left as it was."""
    if isinstance(data, list):
        return [with_iso_times(item) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[key] = with_iso_times(value)
        if isinstance(key, str) and key.endswith(EPOCH_SUFFIX) and _epoch_like(value):
            out[key + ISO_SUFFIX] = iso_utc(value)
    return out


def _epoch_like(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def record_json(record: ExecutionRecord) -> dict[str, Any]:
    """The record as ``--json`` prints it: :meth:`~drsorch.history.ExecutionRecord.to_dict`
    with the ISO-8601 UTC siblings of its epoch fields (:func:`with_iso_times`)."""
    result: dict[str, Any] = with_iso_times(record.to_dict())
    return result


def make_console(*, stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (so click's test runner captures it).

    When the output is not a terminal (a pipe, a file, CI) nothing is ever wrapped: the
    console is as wide as any line (tables take their natural width) and soft-wraps, so
    every line stays one line and ``grep`` finds what it looks for. Neither highlighting
    nor ``:emoji:`` codes: only drsorch's own markup styles the output (text from outside
    goes in as :func:`_text` or :func:`~drsorch.text.markup_safe`).
    """
    stream = sys.stderr if stderr else sys.stdout
    console = Console(file=stream, highlight=False, emoji=False)
    if not console.is_terminal:
        console = Console(
            file=stream, highlight=False, emoji=False, width=UNWRAPPED_WIDTH, soft_wrap=True
        )
    return console


#: The width of a console that is not a terminal: wider than any line drsorch prints.
UNWRAPPED_WIDTH = 100_000


def local_time(epoch: float) -> datetime:
    """``epoch`` in the local time zone (``TZ``, else the system's)."""
    return datetime.fromtimestamp(epoch, tz=UTC).astimezone()


def zone_name(epoch: float) -> str:
    """The local zone's abbreviation at ``epoch`` (``CET``, ``CEST``, ``UTC``...)."""
    moment = local_time(epoch)
    return moment.tzname() or moment.strftime("%z")


def format_time(
    epoch: float | None, *, day_of: float | None = None, zone: bool = True, seconds: bool = True
) -> str:
    """Local time with its zone (``2026-12-02 09:15:03 CET``); '-' for None.

    With ``day_of``, a time on the same local day as ``day_of`` shows only as ``09:15:03``
    (the zone is then said elsewhere, in a title). ``zone=False`` leaves the zone out (a
    column header names it); ``seconds=False`` stops at the minute. JSON output never goes
    through here: it keeps the record's epoch seconds, beside them ISO-8601 in UTC
    (:func:`record_json`).
    """
    if epoch is None:
        return "-"
    moment = local_time(epoch)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    if day_of is not None and moment.date() == local_time(day_of).date():
        return moment.strftime(clock)
    text = moment.strftime(f"%Y-%m-%d {clock}")
    return f"{text} {zone_name(epoch)}" if zone else text


def server_label(server_id: str, hostname: str | None) -> str:
    """A server as a person reads it: ``s-3d75cdc0d9a28a725 (db01)``, or the id alone when
    DRS gave no hostname."""
    return f"{server_id} ({hostname})" if hostname else server_id


def _text(value: object, style: str = "") -> Text:
    """A table cell or value from outside (a record, a plan, AWS): rich :class:`Text` is
    never parsed as markup, and :func:`~drsorch.text.printable` escapes control characters."""
    return Text(printable(value), style=style)


def _status(value: str) -> Text:
    return _text(value, style=STATUS_STYLES.get(value, ""))


# -- rich rendering -----------------------------------------------------------------------


def render_history(
    records: Sequence[ExecutionRecord],
    console: Console,
    *,
    short_ids: Mapping[str, str] | None = None,
) -> None:
    """One row per execution, as ``drsorch history`` shows them.

    Made to fit 80 columns: ids as ``short_ids`` gives them (``drsorch history`` passes
    the shortest unique prefixes, which ``show`` and ``resume`` accept), no borders, start
    times to the minute in local time with the zone in the column header (or in each cell
    when the rows span zones, e.g. a change to summer time). Only the plan id gives way on
    a narrow terminal (cut with an ellipsis); nothing is ever wrapped."""
    if not records:
        console.print("No executions found.")
        return
    zones = {zone_name(record.StartTime) for record in records}
    one_zone = len(zones) == 1
    started = f"STARTED ({next(iter(zones))})" if one_zone else "STARTED"
    table = Table(
        title="Executions (newest first)",
        title_justify="left",
        box=None,
        padding=(0, 1),
        pad_edge=False,
        header_style="bold",
    )
    table.add_column("ID", no_wrap=True)
    table.add_column("PLAN", overflow="ellipsis", min_width=8)
    for name in ("TYPE", "STATUS", started, "DURATION"):
        table.add_column(name, no_wrap=True)
    table.add_column("SRV", justify="right", no_wrap=True)
    table.add_column("ERR", justify="right", no_wrap=True)
    for record in records:
        shown_id = (short_ids or {}).get(record.ExecutionId, record.ExecutionId)
        table.add_row(
            _text(shown_id),
            _text(record.PlanId),
            _text(record.ExecutionType),
            _status(record.Status.value),
            _text(format_time(record.StartTime, zone=not one_zone, seconds=False)),
            _text(format_duration(record.Duration)),
            _text(record.ServerCount),
            _text(len(record.Errors), style="red" if record.Errors else ""),
        )
    console.print(table)


def render_record(record: ExecutionRecord, console: Console) -> None:
    """An execution for a person: header, one table of waves and servers, then the errors."""
    console.print(_header(record))
    wide = console.width >= WIDE_TABLE_COLUMNS
    console.print(_waves(record) if wide else _narrow_waves(record))
    if record.Errors:
        errors = Table(title="Errors", title_justify="left", title_style="bold red")
        for name in ("Wave", "Server", "Job", "Message"):
            errors.add_column(name, no_wrap=name != "Message")
        for entry in record.Errors:
            errors.add_row(
                _text("-" if entry.WaveNumber is None else entry.WaveNumber),
                _text(entry.ServerId or "-"),
                _text(entry.JobId or "-"),
                _text(entry.Message),
            )
        console.print(errors)


def _status_line(record: ExecutionRecord) -> Text:
    """The status, and for a COMPLETED one whose plan tolerated failures, how many."""
    line = _status(record.Status.value)
    if record.Status.value == "COMPLETED" and record.FailedServerCount:
        line.append(f" with {record.FailedServerCount} failed server(s) tolerated", "yellow")
    return line


def describe_notification(record: ExecutionRecord) -> str:
    """What became of the end-of-execution notification: ``-`` when none was due."""
    note = record.Notification
    if note is None:
        return "-"
    if note.Status == "SENT":
        return f"sent to {note.TopicArn}"
    return f"FAILED to {note.TopicArn}: {note.Error or note.ErrorCode or 'no reason given'}"


def describe_environment(record: ExecutionRecord) -> str:
    """Where the execution ran, for a person: ``simulator (seed 0, scenario x.yaml)``,
    ``AWS``, ``AWS via http://...``; ``unknown`` for records older than the field."""
    env = record.Environment
    if env is None:
        return "unknown"
    if env.Kind == "simulator":
        details = [f"seed {env.Seed}"] if env.Seed is not None else []
        if env.Scenario:
            details.append(f"scenario {env.Scenario}")
        return "simulator" + (f" ({', '.join(details)})" if details else "")
    return f"AWS via {env.Endpoint}" if env.Endpoint else "AWS"


def describe_cleanup(record: ExecutionRecord) -> str:
    """What the drill clean-up did: ``-`` when none ran (``not run`` for a drill)."""
    entry = record.Cleanup
    if entry is None:
        return "not run" if record.ExecutionType == "DRILL" and record.Status.terminal else "-"
    parts = [f"{len(entry.Terminated)} terminated"]
    if entry.Failures:
        parts.append(f"{len(entry.Failures)} failed")
    if entry.AlreadyGone:
        parts.append(f"{len(entry.AlreadyGone)} already gone")
    text = f"{entry.Status} at {format_time(entry.EndTime)}: {', '.join(parts)}"
    if entry.Failures:
        first = entry.Failures[0]
        text += f" ({first.RecoveryInstanceId}: {first.Message})"
    return text


def _header(record: ExecutionRecord) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    accounts = record.SourceAccountId
    if record.TargetAccountId != record.SourceAccountId:
        accounts = f"{record.SourceAccountId} -> {record.TargetAccountId}"
    rows: list[tuple[str, object]] = [
        ("Execution", record.ExecutionId),
        ("Plan", f"{record.PlanId} ({record.PlanName})"),
        ("Type", record.ExecutionType),
        ("Status", _status_line(record)),
        ("Initiated by", record.InitiatedBy),
        ("Started", format_time(record.StartTime)),
        ("Ended", format_time(record.EndTime)),
        ("Duration", format_duration(record.Duration)),
        ("Ran on", describe_environment(record)),
        ("Notified", describe_notification(record)),
        ("Clean-up", describe_cleanup(record)),
        ("Accounts", accounts),
        ("Region", record.Region),
        ("Servers", record.ServerCount),
        ("Errors", len(record.Errors)),
    ]
    for label, value in rows:
        grid.add_row(label, value if isinstance(value, Text) else _text(value))
    return grid


#: A terminal at least this wide gets the waves as one table with a column per field;
#: a narrower one (80 columns) gets :func:`_narrow_waves`, where nothing is cut to "…".
WIDE_TABLE_COLUMNS = 150


def _narrow_waves(record: ExecutionRecord) -> Table:
    """The waves for a narrow terminal: per server its label, status, start and end, with
    its job, instance, launch and health times and error on the lines below it (wrapped,
    never cut)."""
    zone = zone_name(record.StartTime)
    table = Table(title=f"Waves (times {zone})", title_justify="left", show_lines=True)
    table.add_column("Wave / server", overflow="fold", ratio=1)
    table.add_column("Status", no_wrap=True)
    table.add_column("Started", no_wrap=True)
    table.add_column("Ended", no_wrap=True)
    day = record.StartTime
    for wave in record.WaveStatus:
        table.add_row(
            _text(
                f"{wave.WaveNumber} {wave.WaveName} ({len(wave.ServerResults)} server(s))",
                style="bold",
            ),
            _status(wave.Status.value),
            _text(format_time(wave.StartTime, day_of=day)),
            _text(format_time(wave.EndTime, day_of=day)),
        )
        for server in wave.ServerResults:
            cell = _text(server_label(server.ServerId, server.Hostname))
            details = [
                f"job {server.JobId}" if server.JobId else "",
                f"instance {server.Ec2InstanceId or server.RecoveryInstanceId}"
                if (server.Ec2InstanceId or server.RecoveryInstanceId)
                else "",
                f"launched {format_time(server.LaunchedTime, day_of=day)}"
                if server.LaunchedTime is not None
                else "",
                f"healthy {format_time(server.HealthyTime, day_of=day)}"
                if server.HealthyTime is not None
                else "",
            ]
            for line in filter(None, details):
                cell.append("\n  ")
                cell.append(_text(line, style="dim"))
            if server.Error:
                cell.append("\n  ")
                cell.append(_text(server.Error, style="red"))
            table.add_row(
                cell,
                _status(server.Status.value),
                _text(format_time(server.StartTime, day_of=day)),
                _text(format_time(server.EndTime, day_of=day)),
            )
    if not record.WaveStatus:
        table.add_row("no waves recorded yet", "", "", "")
    return table


def _waves(record: ExecutionRecord) -> Table:
    zone = zone_name(record.StartTime)
    table = Table(title=f"Waves (times {zone})", title_justify="left")
    for name in ("Wave", "Server", "Status", "Job", "Instance", "Started", "Launched"):
        table.add_column(name, no_wrap=True)
    table.add_column("Healthy", no_wrap=True)
    table.add_column("Ended", no_wrap=True)
    table.add_column("Error")
    day = record.StartTime  # times on the execution's first (local) day show as HH:MM:SS
    for wave in record.WaveStatus:
        table.add_row(
            _text(f"{wave.WaveNumber} {wave.WaveName}", style="bold"),
            _text(f"{len(wave.ServerResults)} server(s)"),
            _status(wave.Status.value),
            "",
            "",
            _text(format_time(wave.StartTime, day_of=day)),
            "",
            "",
            _text(format_time(wave.EndTime, day_of=day)),
            "",
        )
        for server in wave.ServerResults:
            table.add_row(
                "",
                _text(server_label(server.ServerId, server.Hostname)),
                _status(server.Status.value),
                _text(server.JobId or "-"),
                _text(server.Ec2InstanceId or server.RecoveryInstanceId or "-"),
                _text(format_time(server.StartTime, day_of=day)),
                _text(format_time(server.LaunchedTime, day_of=day)),
                _text(format_time(server.HealthyTime, day_of=day)),
                _text(format_time(server.EndTime, day_of=day)),
                _text(server.Error or "", style="red"),
            )
    if not record.WaveStatus:
        table.add_row("-", "no waves recorded yet", "", "", "", "", "", "", "", "")
    return table
