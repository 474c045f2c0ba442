"""The recovery report as one self-contained HTML page (``drsorch report --html FILE``).

Everything is in the page: the styles, and the timeline (a Gantt chart of the waves and
their servers' phases) drawn by matplotlib and inlined as SVG, its glyphs as paths. No
script, no font, no image or style sheet is fetched: it opens offline, from an e-mail or
an audit archive. Every text from the record is HTML-escaped and
:func:`~drsorch.text.printable`.

matplotlib is imported here, inside :func:`timeline_svg`, and nowhere else: ``drsorch
--help`` and ``drsorch run`` never load it. The figure is drawn on matplotlib's Agg canvas
(no display, no pyplot, no global state) and saved as SVG.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from drsorch import __version__
from drsorch.core.statuses import ServerStatus, WaveStatus
from drsorch.report.view import (
    PHASES,
    Report,
    ServerView,
    WaveView,
    critical_path_words,
    rto_words,
)
from drsorch.text import format_duration, printable

__all__ = ["MAX_CHART_ROWS", "report_html", "timeline_svg"]

#: More rows than this (waves + servers) and the chart shows waves only; the tables below
#: it still list every server.
MAX_CHART_ROWS = 250

PHASE_COLOURS = {
    "queued": "#c7ccd1",
    "launching": "#4c8ed9",
    "booting": "#f0a030",
    "finishing": "#7fbf7f",
}
PHASE_LABELS = {
    "queued": "queued",
    "launching": "launching",
    "booting": "booting + health check",
    "finishing": "finishing",
}
WAVE_COLOURS = {
    WaveStatus.COMPLETED: "#2e8b57",
    WaveStatus.FAILED: "#c0392b",
    WaveStatus.CANCELLED: "#b7950b",
    WaveStatus.SKIPPED: "#b7950b",
}
RUNNING_COLOUR = "#17a2b8"
FAILED_EDGE = "#c0392b"
CRITICAL_EDGE = "#111111"


def _e(value: object) -> str:
    """``value`` for HTML text or an attribute: printable, then escaped."""
    return html.escape(printable(value), quote=True)


def _utc(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- the chart -----------------------------------------------------------------------------


def _scale(span: float) -> tuple[float, str]:
    """Seconds per unit of the time axis, and the unit's name."""
    if span <= 2 * 60:
        return 1.0, "seconds"
    if span <= 3 * 3600:
        return 60.0, "minutes"
    return 3600.0, "hours"


def _servers_drawn(report: Report) -> bool:
    """Whether the chart has a row per server (else waves only: too many rows)."""
    servers = sum(len(w.servers) for w in report.waves if w.start is not None)
    return len(report.waves) + servers <= MAX_CHART_ROWS


def _rows(report: Report) -> list[tuple[WaveView, ServerView | None]]:
    rows: list[tuple[WaveView, ServerView | None]] = []
    with_servers = _servers_drawn(report)
    for wave in report.waves:
        rows.append((wave, None))
        if with_servers and wave.start is not None:
            rows.extend((wave, server) for server in wave.servers)
    return rows


def timeline_svg(report: Report) -> str:
    """The Gantt chart of ``report`` as an ``<svg>`` element (no XML prolog), to inline."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    start = report.record.StartTime
    span = max(report.end - start, 1.0)
    unit, unit_name = _scale(span)
    rows = _rows(report)
    labels = [_wave_label(wave) if server is None else server.server_id for wave, server in rows]
    settings: dict[Any, Any] = {
        "svg.hashsalt": "drsorch",  # the same record draws the same file
        "svg.fonttype": "path",  # glyphs as paths: no font needed to view it
        "text.parse_math": False,  # a '$' in a wave name is a dollar sign
        "font.size": 8,
    }
    # Fixed margins (inches), from the labels' length: drawn once, without tight_layout's
    # extra pass, which costs seconds on a chart of hundreds of servers.
    width, left = 10.0, 0.3 + 0.075 * max(len(label) for label in labels)
    height = 1.1 + ROW_INCHES * len(rows)
    with mpl.rc_context(settings):
        figure = Figure(figsize=(width, height))
        FigureCanvasAgg(figure)
        figure.subplots_adjust(
            left=left / width, right=0.98, bottom=0.6 / height, top=1 - 0.45 / height
        )
        ax = figure.add_subplot()
        bars = _Bars()
        for y, (wave, server) in enumerate(rows):
            if server is None:
                bars.wave(ax, y, wave, start, unit)
            else:
                bars.server(ax, y, server, start, unit)
        bars.draw(ax)
        ax.set_yticks(range(len(rows)), labels=labels)
        for tick, (_, server) in zip(ax.get_yticklabels(), rows, strict=True):
            if server is None:
                tick.set_fontweight("bold")
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, span / unit * 1.02)
        ax.set_xlabel(f"{unit_name} since the execution started ({_utc(start)})")
        ax.grid(axis="x", color="#e5e5e5")
        ax.set_axisbelow(True)
        rto = report.rto
        if rto is not None and rto.target_seconds <= span * 1.5:
            ax.axvline(rto.target_seconds / unit, color=FAILED_EDGE, linestyle="--", linewidth=1)
            ax.set_xlim(0, max(span, rto.target_seconds) / unit * 1.02)
        handles = [Patch(color=PHASE_COLOURS[p], label=PHASE_LABELS[p]) for p in PHASES[:3]]
        handles.append(Patch(facecolor="white", edgecolor=CRITICAL_EDGE, label="critical path"))
        if rto is not None:
            handles.append(Patch(facecolor="white", edgecolor=FAILED_EDGE, label="RTO target"))
        ax.legend(  # above the chart, where it hides no bar
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(0, 1.0),
            ncol=len(handles),
            fontsize=7,
            frameon=False,
        )
        buffer = io.StringIO()
        figure.savefig(
            buffer,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


#: Height of one row of the chart, in inches.
ROW_INCHES = 0.24


def _wave_label(wave: WaveView) -> str:
    mark = "* " if wave.critical else ""
    name = printable(wave.name)
    if len(name) > 40:
        name = name[:39] + "…"
    return f"{mark}Wave {wave.number} {name}"


class _Bars:
    """Every bar of the chart, drawn as two collections (done, and under way: hatched):
    one artist per bar would cost seconds on a chart of hundreds of servers."""

    def __init__(self) -> None:
        self.boxes: dict[bool, list[tuple[float, float, float, float, str, str, float]]] = {
            False: [],
            True: [],
        }

    def _add(
        self,
        in_progress: bool,
        x: float,
        w: float,
        y: float,
        h: float,
        face: str,
        edge: str,
        lw: float,
    ) -> None:
        self.boxes[in_progress].append((x, w, y, h, face, edge, lw))

    def wave(self, ax: Any, y: int, wave: WaveView, start: float, unit: float) -> None:
        if wave.start is None or wave.end is None:
            ax.text(0, y, f"  {wave.status.value}", va="center", fontsize=7, color="#7f7f7f")
            return
        face = RUNNING_COLOUR if wave.in_progress else WAVE_COLOURS.get(wave.status, "#7f7f7f")
        self._add(
            wave.in_progress,
            (wave.start - start) / unit,
            max(wave.end - wave.start, 0) / unit,
            y - 0.35,
            0.7,
            face,
            CRITICAL_EDGE if wave.critical else face,
            1.6 if wave.critical else 0.5,
        )

    def server(self, ax: Any, y: int, server: ServerView, start: float, unit: float) -> None:
        if not server.phases:
            ax.text(0, y, f"  {server.status.value}", va="center", fontsize=7, color="#7f7f7f")
            return
        failed = server.status is ServerStatus.FAILED
        for phase in server.phases:
            face = PHASE_COLOURS[phase.name]
            self._add(
                phase.in_progress,
                (phase.start - start) / unit,
                phase.seconds / unit,
                y - 0.3,
                0.6,
                face,
                FAILED_EDGE if failed else face,
                1.0 if failed else 0.0,
            )
        if failed and server.end is not None:
            x = (server.end - start) / unit
            ax.text(x, y, "  FAILED", va="center", fontsize=7, color=FAILED_EDGE)

    def draw(self, ax: Any) -> None:
        from matplotlib.collections import PolyCollection

        for in_progress, boxes in self.boxes.items():
            if not boxes:
                continue
            verts = [[(x, y), (x + w, y), (x + w, y + h), (x, y + h)] for x, w, y, h, *_ in boxes]
            ax.add_collection(
                PolyCollection(
                    verts,
                    facecolors=[box[4] for box in boxes],
                    edgecolors=[box[5] for box in boxes],
                    linewidths=[box[6] for box in boxes],
                    hatch="//" if in_progress else None,
                ),
                autolim=False,  # the limits are set from the execution's span
            )


# -- the page ------------------------------------------------------------------------------

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 72em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { text-align: left; padding: 0.2em 0.8em 0.2em 0; vertical-align: top; }
table.grid th, table.grid td { border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.COMPLETED { color: #2e7d32; } .FAILED { color: #c0392b; font-weight: bold; }
.SKIPPED, .CANCELLED { color: #9a7d0a; } .RUNNING { color: #17a2b8; }
.met { color: #2e7d32; font-weight: bold; } .missed { color: #c0392b; font-weight: bold; }
.banner { background: #fff4ce; border: 1px solid #e0c060; padding: 0.6em; }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; }
footer { margin-top: 2em; color: #777; font-size: 0.85em; }
"""


def _status(value: str) -> str:
    return f'<span class="{_e(value)}">{_e(value)}</span>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="grid"><tr>{head}</tr>{"".join(body)}</table>'


def _facts(report: Report) -> str:
    r = report.record
    env = r.Environment
    where = "unknown" if env is None else ("the simulator" if env.Kind == "simulator" else "AWS")
    rto = report.rto
    verdict_class = "" if rto is None or rto.met is None else ("met" if rto.met else "missed")
    recovery = format_duration(report.recovery_seconds) + (" so far" if report.running else "")
    rows = [
        ("Execution", _e(r.ExecutionId)),
        ("Plan", _e(f"{r.PlanId} ({r.PlanName})")),
        ("Type", _e(f"{r.ExecutionType} on {where}")),
        ("Status", _status(r.Status.value)),
        ("Started", _e(_utc(r.StartTime))),
        ("Ended", _e(_utc(r.EndTime))),
        ("Recovery time", _e(recovery)),
        ("RTO target", f'<span class="{verdict_class}">{_e(rto_words(report))}</span>'),
        ("Critical path", _e(critical_path_words(report))),
        ("Servers", _e(f"{r.ServerCount} ({len(r.Errors)} error(s))")),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _offset(report: Report, epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return "+" + format_duration(epoch - report.record.StartTime)


def _waves_table(report: Report) -> str:
    rows = []
    for w in report.waves:
        deps = "unknown" if w.links is None else ", ".join(map(str, w.links.depends_on)) or "-"
        rows.append(
            [
                _e(f"{'* ' if w.critical else ''}{w.number}"),
                _e(w.name),
                _status(w.status.value),
                _e(deps),
                _e(_offset(report, w.start)),
                _e(_offset(report, w.end)),
                _e(format_duration(w.seconds)),
                _e(format_duration(w.waited_seconds)),
            ]
        )
    headers = ["Wave", "Name", "Status", "Depends on", "Start", "End", "Duration", "Waited"]
    return _table(headers, rows, numeric={4, 5, 6, 7})


def _servers_table(report: Report) -> str:
    rows = []
    for wave, s in report.servers():
        rows.append(
            [
                _e(wave.number),
                _e(s.server_id),
                _status(s.status.value),
                *(_e(format_duration(s.phase_seconds(p))) for p in PHASES[:3]),
                _e(format_duration(s.total_seconds)),
                _e(s.instance_id or "-"),
                _e(s.error or ""),
            ]
        )
    headers = ["Wave", "Server", "Status", "Queued", "Launching", "Booting + health check"]
    headers += ["Total", "Instance", "Error"]
    return _table(headers, rows, numeric={3, 4, 5, 6})


def _items(entries: Iterable[str]) -> str:
    listed = "".join(f"<li>{entry}</li>" for entry in entries)
    return f"<ul>{listed}</ul>" if listed else "<p>None.</p>"


def report_html(report: Report) -> str:
    """The whole page."""
    r = report.record
    title = f"Recovery report: {r.PlanId}, execution {r.ExecutionId}"
    banner = ""
    if report.running:
        banner = (
            f'<p class="banner">This execution is still {_e(r.Status.value)}: the report '
            f"shows what was recorded up to {_e(_utc(report.as_of))}.</p>"
        )
    chart_note = ""
    if not _servers_drawn(report):
        chart_note = f" (over {MAX_CHART_ROWS} rows: waves only; every server is listed below)"
    errors = (
        _e(
            " ".join(
                part
                for part in (
                    f"wave {e.WaveNumber}" if e.WaveNumber is not None else "",
                    e.ServerId or "",
                    f"job {e.JobId}" if e.JobId else "",
                )
                if part
            )
            or "execution"
        )
        + ": "
        + _e(e.Message)
        for e in r.Errors
    )
    skipped = (
        _e(
            f"wave {item.wave}{' ' + item.server_id if item.server_id else ''}: {item.status}"
            f" ({len(item.servers)} server(s)): {item.reason}"
        )
        for item in report.skipped
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{_e(title)}</h1>
{banner}
{_facts(report)}
<h2>Timeline</h2>
<figure>
{timeline_svg(report)}
<figcaption>Waves (bold; * on the critical path) and, under each, its servers' phases:
queued (the wave started, StartRecovery not sent yet), launching (until DRS reported it
LAUNCHED), booting + health check (until healthy); hatched: still under way{_e(chart_note)}.
</figcaption>
</figure>
<h2>Waves</h2>
{_waves_table(report)}
<h2>Servers</h2>
{_servers_table(report)}
<h2>Errors</h2>
{_items(errors)}
<h2>Skipped work</h2>
{_items(skipped)}
<footer>Made by drsorch {_e(__version__)} from the execution's history record.
Times are UTC; offsets (+) are from the execution's start.</footer>
</body>
</html>
"""
