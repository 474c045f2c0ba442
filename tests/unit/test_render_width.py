"""Readable anywhere (issue 11, item 5): ``history`` fits 80 columns on a terminal, and
output that is not a terminal is never hard-wrapped (one line per row, so grep works)."""

from __future__ import annotations

import re

import pytest
from rich.console import Console
from tests.utils.history import make_record

from drsorch.cli.render import make_console, render_history, render_record

pytestmark = pytest.mark.unit

SGR = re.compile(r"\x1b\[[0-9;]*m")


def test_history_fits_80_columns_on_a_terminal() -> None:
    records = [make_record(seed, PlanId="three-tier-app") for seed in range(5)]
    short = {r.ExecutionId: r.ExecutionId[:8] for r in records}
    console = Console(width=80, force_terminal=True, color_system=None)
    with console.capture() as capture:
        render_history(records, console, short_ids=short)
    lines = SGR.sub("", capture.get()).splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    for record in records:  # one line each; only the plan id may give way (RECOVERY rows)
        [row] = [line for line in lines if line.startswith(record.ExecutionId[:8])]
        assert "three-tier" in row and record.Status.value in row


def test_output_that_is_not_a_terminal_is_never_wrapped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    long_error = "launch failed: " + " ".join(f"word{n}" for n in range(60))
    record = make_record(3, Status="FAILED")
    data = record.to_dict()
    data["WaveStatus"][0]["ServerResults"][0]["Error"] = long_error
    record = type(record).from_dict(data)
    console = make_console()
    assert not console.is_terminal
    render_record(record, console)
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "launch failed:" in line]
    assert long_error in line
