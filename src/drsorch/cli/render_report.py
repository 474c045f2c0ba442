"""Recovery reports for a person, on the terminal (``drsorch report``, ``history --stats``).

What is said comes from :mod:`drsorch.report` (the same view feeds ``--json``, ``--html``
and ``--junit``); this module only lays it out. As :mod:`drsorch.cli.render` does, it fits
80 columns on a terminal (only wave names give way, cut with an ellipsis; error messages
wrap), never wraps output that is not a terminal, and prints every text from the record
through :func:`~drsorch.text.printable`.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from drsorch.cli.render import STATUS_STYLES, describe_environment, format_time
from drsorch.report import Report, critical_path_words, rto_words
from drsorch.report.stats import MIN_TREND_RUNS, STEADY_WITHIN, TREND_WINDOW, PlanStats, Trend
from drsorch.report.view import PHASES, ServerView
from drsorch.text import format_duration, printable

__all__ = ["render_report", "render_stats"]


def _t(value: object, style: str = "") -> Text:
    return Text(printable(value), style=style)


def _status(value: str) -> Text:
    return _t(value, STATUS_STYLES.get(value, ""))


def _offset(report: Report, epoch: float | None) -> str:
    return "-" if epoch is None else "+" + format_duration(epoch - report.record.StartTime)


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        padding=(0, 1),
        pad_edge=False,
        header_style="bold",
    )


def render_report(report: Report, console: Console) -> None:
    """The whole report: the facts, the waves, the servers' phases, errors, skipped work."""
    console.print(_facts(report))
    console.print()
    console.print(_waves(report, console.width))
    console.print()
    console.print(_servers(report))
    record = report.record
    if record.Errors:
        console.print()
        console.print(_t(f"Errors ({len(record.Errors)})", "bold red"))
        for e in record.Errors:
            where = [f"wave {e.WaveNumber}"] if e.WaveNumber is not None else []
            where += [e.ServerId] if e.ServerId else []
            console.print(_t(f"  {', '.join(where) or 'execution'}: {e.Message}"))
    if report.skipped:
        console.print()
        console.print(_t(f"Skipped work ({len(report.skipped)})", "bold yellow"))
        for item in report.skipped:
            what = item.server_id or f"{len(item.servers)} server(s)"
            console.print(_t(f"  wave {item.wave}, {what}: {item.status}: {item.reason}"))


def _facts(report: Report) -> Table:
    r = report.record
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    status = _status(r.Status.value)
    if report.running:
        status.append(
            f" (still running: this report shows what was recorded up to "
            f"{format_time(report.as_of)})",
            "cyan",
        )
    recovery = format_duration(report.recovery_seconds)
    rto = report.rto
    rto_style = "" if rto is None or rto.met is None else ("green" if rto.met else "bold red")
    rows: list[tuple[str, Text]] = [
        ("Execution", _t(r.ExecutionId)),
        ("Plan", _t(f"{r.PlanId} ({r.PlanName})")),
        ("Type", _t(r.ExecutionType)),
        ("Ran on", _t(describe_environment(r))),
        ("Status", status),
        ("Started", _t(format_time(r.StartTime))),
        ("Ended", _t(format_time(r.EndTime))),
        ("Recovery time", _t(recovery + (" so far" if report.running else ""))),
        ("RTO target", _t(rto_words(report), rto_style)),
        ("Critical path", _t(critical_path_words(report))),
    ]
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _waves(report: Report, width: int) -> Table:
    headers = ("WAVE", "NAME", "STATUS", "START", "END", "TOOK", "WAITED")
    rows = []
    for wave in report.waves:
        took = format_duration(wave.seconds) + ("+" if wave.in_progress else "")
        rows.append(
            (
                _t(
                    f"{'*' if wave.critical else ' '}{wave.number}", "bold" if wave.critical else ""
                ),
                _t(wave.name),
                _status(wave.status.value),
                _t(_offset(report, wave.start)),
                _t("..." if wave.in_progress else _offset(report, wave.end)),
                _t(took if wave.seconds is not None else "-"),
                _t(format_duration(wave.waited_seconds)),
            )
        )
    widths = [max([len(h)] + [row[i].cell_len for row in rows]) for i, h in enumerate(headers)]
    # The name is the one column that gives way (cut with an ellipsis) on a narrow terminal.
    others = sum(widths) - widths[1] + 2 * (len(headers) - 1)
    table = _table("Waves (times from the start; * on the critical path)")
    for header in headers:
        if header == "NAME":
            table.add_column(
                header, overflow="ellipsis", no_wrap=True, max_width=max(8, width - others)
            )
        else:
            left = header in ("WAVE", "STATUS")
            table.add_column(header, no_wrap=True, justify="left" if left else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _phase(server: ServerView, name: str) -> str:
    seconds = server.phase_seconds(name)
    running = server.in_progress and server.phases[-1].name == name
    return format_duration(seconds) + ("+" if running else "")


def _servers(report: Report) -> Table:
    table = _table("Servers (time in each phase; + still under way)")
    table.caption = (
        "queued: wave start to StartRecovery sent; launching: to LAUNCHED; "
        "booting: to healthy (boot and health check)"
    )
    table.caption_justify = "left"
    table.add_column("WAVE", no_wrap=True, justify="right")
    table.add_column("SERVER", no_wrap=True)
    table.add_column("STATUS", no_wrap=True)
    for name in ("QUEUED", "LAUNCHING", "BOOTING", "TOTAL"):
        table.add_column(name, no_wrap=True, justify="right")
    for wave, server in report.servers():
        total = format_duration(server.total_seconds) + ("+" if server.in_progress else "")
        table.add_row(
            _t(wave.number),
            _t(server.server_id),
            _status(server.status.value),
            *(_t(_phase(server, name)) for name in PHASES[:3]),
            _t(total),
        )
    return table


# -- history --stats -----------------------------------------------------------------------


def _trend(trend: Trend) -> Text:
    if trend.direction == "unknown":
        return _t("too few runs", "dim")
    change = trend.change or 0.0
    style = {"faster": "green", "slower": "bold red"}.get(trend.direction, "")
    return _t(f"{trend.direction} {change:+.0%}", style)


def render_stats(stats: PlanStats, console: Console) -> None:
    """``history --plan P --stats``: recovery time per place it ran, and the trend."""
    counts = ", ".join(f"{n} {status}" for status, n in stats.by_status.items())
    console.print(
        _t(
            f"Recovery time of plan {stats.plan_id}, over its newest {stats.executions} "
            f"execution(s)" + (f" ({counts})" if counts else ""),
            "bold",
        )
    )
    if not stats.groups:
        console.print("No COMPLETED execution: no recovery time to show.")
        return
    table = _table("")
    table.add_column("RAN ON", no_wrap=True)
    for name in ("RUNS", "MIN", "MEDIAN", "LAST"):
        table.add_column(name, no_wrap=True, justify="right")
    table.add_column("TREND", no_wrap=True)
    table.add_column("RTO MET", no_wrap=True, justify="right")
    for group in stats.groups:
        table.add_row(
            _t(group.environment),
            _t(group.runs),
            _t(format_duration(group.minimum)),
            _t(format_duration(group.median)),
            _t(format_duration(group.last)),
            _trend(group.trend),
            _t(f"{group.rto_met}/{group.rto_judged}" if group.rto_judged else "-"),
        )
    console.print(table)
    console.print(
        _t(
            f"Trend: the median of the newest {TREND_WINDOW} completed runs against the "
            f"{TREND_WINDOW} before them (fewer when there are fewer; needs {MIN_TREND_RUNS}); "
            f"within {STEADY_WITHIN:.0%} is steady.",
            "dim",
        )
    )
