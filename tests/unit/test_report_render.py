"""The report and the plan statistics on a terminal (drsorch.cli.render_report): 80
columns, nothing from the record that can control the terminal; and matplotlib is
imported by the HTML page only, so `drsorch --help` and `run` never pay for it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from rich.console import Console
from tests.utils.reports import completed, diamond, record, server, wave

from drsorch.cli.render_report import render_report, render_stats
from drsorch.history import ExecutionRecord
from drsorch.report import build_report, plan_stats

pytestmark = pytest.mark.unit

SGR = re.compile(r"\x1b\[[0-9;]*m")
SRC = Path(__file__).parents[2] / "src" / "drsorch"


def on_terminal(draw: object, width: int = 80) -> list[str]:
    console = Console(width=width, force_terminal=True, color_system=None)
    with console.capture() as capture:
        draw(console)  # type: ignore[operator]
    return SGR.sub("", capture.get()).splitlines()


def long_named(rec: ExecutionRecord) -> ExecutionRecord:
    data = rec.to_dict()
    for w in data["WaveStatus"]:
        w["WaveName"] = "Customer-facing payment gateway and its reporting databases " * 2
    data["Errors"] = [{"Message": "launch failed: " + "word " * 40, "WaveNumber": 4}]
    return ExecutionRecord.from_dict(data)


def test_the_report_fits_80_columns_and_says_what_an_auditor_asks() -> None:
    report = build_report(long_named(diamond(RtoTargetSeconds=1000)))
    lines = on_terminal(lambda console: render_report(report, console))
    assert max(len(line.rstrip()) for line in lines) <= 80
    text = "\n".join(lines)
    assert "RTO target     16m40s: MISSED by 5.0s" in text
    assert "Critical path  wave 1 > wave 2 > wave 4" in text
    [row] = [line for line in lines if line.startswith("*4 ")]
    assert (
        "COMPLETED" in row
        and "…" in row
        and row.split()[-4:] == ["+13m20s", "+16m40s", "3m20s", "3m20s"]
    )
    assert "launch failed: word word" in text


def test_a_running_report_says_so_and_marks_what_is_under_way() -> None:
    rec = record(
        [wave(1, "RUNNING", 0, None, [server("s-" + "1" * 17, "LAUNCHING", 0)], [])],
        status="RUNNING",
    )
    report = build_report(rec, now=rec.StartTime + 90)
    text = "\n".join(on_terminal(lambda console: render_report(report, console), width=200))
    assert "RUNNING (still running: this report shows what was recorded up to" in text
    assert "1m30s so far" in text
    [row] = [line for line in text.splitlines() if line.lstrip().startswith("1  s-1111")]
    assert row.split()[-4:] == ["0.0s", "1m30s+", "-", "1m30s+"]  # queued, launching...


def test_names_from_the_record_cannot_control_the_terminal() -> None:
    data = diamond().to_dict()
    data["WaveStatus"][0]["WaveName"] = "evil \x1b]0;pwned\x07 [bold]x[/]"
    report = build_report(ExecutionRecord.from_dict(data))
    console = Console(width=200, force_terminal=True, color_system=None)
    with console.capture() as capture:
        render_report(report, console)
    out = capture.get()
    assert "\x1b]0;" not in out and "\x07" not in out
    assert "evil \\x1b]0;pwned\\x07 [bold]x[/]" in out


def test_the_plan_statistics_fit_80_columns() -> None:
    records = [completed(n, 1_800_000_000 + n * 86_400, 3000 - 200 * n, "aws") for n in range(6)]
    lines = on_terminal(lambda console: render_stats(plan_stats("p", records), console))
    assert max(len(line.rstrip()) for line in lines) <= 80
    [row] = [line for line in lines if line.startswith("aws")]
    assert row.split() == ["aws", "6", "33m20s", "41m40s", "33m20s", "faster", "-21%", "-"]


def test_matplotlib_is_imported_by_the_html_page_only_and_only_when_drawing() -> None:
    top_level: list[str] = []
    inside: list[str] = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "matplotlib" not in text:
            continue
        tree = ast.parse(text)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(name.split(".")[0] == "matplotlib" for name in names):
                where = f"{path.relative_to(SRC)}:{node.lineno}"
                (top_level if node.col_offset == 0 else inside).append(where)
    assert top_level == []
    assert inside and all(where.startswith("report/page.py:") for where in inside)
    page_importers = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if re.search(r"^(from|import) drsorch\.report\.page", path.read_text(), re.MULTILINE)
    ]
    assert page_importers == []  # the CLI imports it inside the --html branch
