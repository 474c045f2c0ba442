"""Nothing drsorch prints can control the operator's terminal (issue 7).

Names and messages from plans, scenarios, stores and AWS may hold escape sequences (a new
window title, a cleared screen, a hyperlink), C1 controls, bidi overrides, or rich markup.
Whatever the command — a record, the history table, live progress, an error line, JSON —
the output holds no such character (only rich's own colour codes) and the markup shows as
the literal text it is.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from tests.utils.history import make_record

from drsorch.cli.live import ProgressLog
from drsorch.cli.render import (
    echo_json,
    exits_on_errors,
    make_console,
    render_history,
    render_record,
)
from drsorch.clock import VirtualClock
from drsorch.errors import AwsError, DrsorchError, PlanError, RefusedError, StoreError
from drsorch.history import ExecutionRecord

pytestmark = pytest.mark.unit

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
MARKUP = "[bold red]x[/]"
BIDI = "\u202e"
LINK = "[link=http://evil.example]click[/link]"
C1 = "\x9b31m"
NASTY = f"{TITLE} {CLEAR} {MARKUP} {BIDI}gnp.exe {LINK} {C1} :smile: end\\"

#: What must never reach a terminal: C0 controls but newline, DEL, C1, and the invisible
#: Unicode controls that reorder or hide text.
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
#: rich's own styling: SGR sequences only (colours, bold, dim).
SGR = re.compile(r"\x1b\[[0-9;]*m")


def assert_inert(output: str) -> str:
    """``output`` without rich's colour codes holds no control character; returns it."""
    plain = SGR.sub("", output)
    found = sorted({f"U+{ord(c):04X}" for c in FORBIDDEN.findall(plain)})
    assert not found, f"control characters reached the terminal: {found}\n{plain!r}"
    assert "\x1b]" not in output  # no OSC: no title, no hyperlink
    return plain


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """make_console() sees a wide colour terminal (so styles are rendered, not dropped)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("TERM", "xterm-256color")


def nasty_record(text: str = NASTY, seed: int = 7) -> ExecutionRecord:
    data: dict[str, Any] = make_record(seed, Status="FAILED").to_dict()
    data["PlanName"] = text
    data["InitiatedBy"] = text
    for wave in data["WaveStatus"]:
        wave["WaveName"] = text
        for server in wave["ServerResults"]:
            server["JobId"] = text
            server["Ec2InstanceId"] = text
            server["Hostname"] = text  # DescribeSourceServers' words: from outside too
            server["Error"] = text
    for entry in data["Errors"]:
        entry["Message"] = text
        entry["JobId"] = text
    return ExecutionRecord.from_dict(data)


def test_the_nasty_record_is_valid_and_full_of_it() -> None:
    record = nasty_record()
    assert record.Errors and record.WaveStatus and record.PlanName == NASTY


def test_render_record_escapes_controls_and_shows_markup_literally(
    terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    render_record(nasty_record(), make_console())
    out = capsys.readouterr().out
    assert "\x1b[" in out  # styles are rendered: this is a colour terminal
    plain = assert_inert(out)
    for shown in (r"\x1b]0;pwned\x07", r"\x1b[2J", MARKUP, r"\u202e", LINK, r"\x9b31m"):
        assert shown in plain, shown
    assert ":smile:" in plain  # no emoji codes either


def test_render_history_escapes_controls(
    terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [nasty_record(seed=s) for s in (1, 2, 3)]
    render_history(records, make_console())
    plain = assert_inert(capsys.readouterr().out)
    assert all(r.ExecutionId in plain for r in records)


def test_plain_output_is_inert_too(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a terminal (a pipe, CI): the same escapes, no colour codes at all."""
    render_record(nasty_record(), make_console())
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert MARKUP in assert_inert(out)


def progress_state(text: str) -> dict[str, Any]:
    sid = "s-0a1b2c3d4e5f60718"
    return {
        "waves": [{"number": 1, "name": text, "status": "FAILED", "order": [sid]}],
        "servers": {
            sid: {"status": "FAILED", "ec2_instance_id": text, "error": text, "hostname": text}
        },
        "notices": [text],
        "errors": [{"Message": text}],
    }


def test_progress_lines_escape_controls_and_markup(
    terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    progress = ProgressLog(make_console(), VirtualClock())
    progress.update(progress_state(NASTY))
    progress.log(NASTY)
    plain = assert_inert(capsys.readouterr().out)
    lines = plain.splitlines()
    assert len(lines) == 4  # server, wave, note, log: one line each, however nasty
    assert all(MARKUP in line and LINK in line for line in lines)
    assert "FAILED" in lines[0] and lines[1].endswith("FAILED")


def test_progress_of_a_large_plan_escapes_error_lines(
    terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    state = progress_state(NASTY)
    state["servers"].update({f"s-{i:017d}": {"status": "PENDING"} for i in range(60)})
    ProgressLog(make_console(), VirtualClock()).update(state)
    plain = assert_inert(capsys.readouterr().out)
    assert "error: " in plain and MARKUP in plain


@pytest.mark.parametrize(
    "error",
    [
        DrsorchError(NASTY),
        RefusedError(NASTY),
        StoreError(NASTY),
        AwsError(f"GetCallerIdentity: {NASTY}"),
        PlanError(NASTY, [f"Waves[0].WaveName: {NASTY}", NASTY]),
        RuntimeError(NASTY),
    ],
    ids=lambda e: type(e).__name__,
)
def test_error_lines_escape_controls(error: Exception) -> None:
    @click.command()
    @exits_on_errors
    def command() -> None:
        raise error

    result = CliRunner().invoke(command, [], env={"DRSORCH_DEBUG": ""})
    assert result.exit_code in (2, 3)
    assert result.stdout == ""
    err = assert_inert(result.stderr)
    assert r"\x1b]0;pwned\x07" in err and MARKUP in err
    if isinstance(error, PlanError):
        assert err.count("Waves[0].WaveName") == 1 and len(err.splitlines()) == 3


def test_json_is_ascii_and_carries_the_names_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON is data: every control and non-ASCII character is a \\u escape, and the record
    reads back exactly as it was."""
    record = nasty_record()
    echo_json(record.to_dict())
    out = capsys.readouterr().out
    assert out.isascii()
    assert_inert(out)
    assert ExecutionRecord.from_dict(json.loads(out)) == record


names = st.text(min_size=1, max_size=40)


def _rows(record: ExecutionRecord) -> int:
    return sum(1 + len(wave.ServerResults) for wave in record.WaveStatus)


#: The property's record: the smallest FAILED one of the first seeds (one wave of one
#: server). A FAILED record always has a failed wave, server and error, so every field
#: nasty_record fills is drawn, once; rich takes twice as long to draw the ten rows of seed
#: 7's record, the same fields over again.
SMALL_SEED = min(range(30), key=lambda seed: _rows(make_record(seed, Status="FAILED")))


@given(text=names)
def test_any_name_renders_inert(text: str) -> None:
    """Property: whatever a name holds, the rendered record and progress are inert."""
    from io import StringIO

    from rich.console import Console

    stream = StringIO()
    console = Console(
        file=stream, force_terminal=True, color_system="truecolor", width=300, emoji=False
    )
    render_record(nasty_record(text, seed=SMALL_SEED), console)
    ProgressLog(console, VirtualClock()).update(progress_state(text))
    assert_inert(stream.getvalue())
