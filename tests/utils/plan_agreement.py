"""Assertions shared by the plan property and fuzz tests (issue 7): ``validate`` and the
engine agree, and what ``validate`` says is located and printable.

    assert_located(problems)      every problem starts with a field path, in our words,
                                  with no raw control character
    assert_runs_to_its_end(plan)  the engine runs the plan on the simulator to COMPLETED or
                                  FAILED, every wave terminal, well before its time limit
    agree(data) -> Plan | None    validate_data, then one of the two above
"""

from __future__ import annotations

import re
from typing import Any

from drsorch.cli.validate import summarize
from drsorch.plan import Plan, parse_plan, validate_data
from drsorch.plan.checks import view_of_data, view_of_model
from drsorch.plan.model import MAX_TIMEOUT_SECONDS
from drsorch.text import printable
from tests.utils.engine import run_plan

TERMINAL_WAVE = {"COMPLETED", "FAILED", "SKIPPED"}
#: A field path (``Waves[2].HealthCheck.MaxPolls``, ``['odd key']``, ``(plan)``), then ": ".
FIELD_PATH = re.compile(r"^(\(plan\)|[A-Za-z_][A-Za-z0-9_]*|\[)[^\n]*?: \S")
#: What drsorch.text.printable escapes (newlines aside): none may reach the terminal.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
PYDANTIC_WORDS = ("Input should", "Value error", "validation error", "pydantic")


def assert_our_words(text: str) -> None:
    """No raw control character (by our regex and by drsorch.text.printable's own), no
    pydantic wording, no traceback."""
    assert not CONTROL.search(text), repr(text)
    for line in text.split("\n"):
        assert printable(line) == line, repr(line)
    assert not any(w in text for w in PYDANTIC_WORDS), text
    assert "Traceback" not in text, text


def assert_located(problems: list[str]) -> None:
    assert problems
    for p in problems:
        assert FIELD_PATH.match(p), p
        assert_our_words(p)


def assert_runs_to_its_end(plan: Plan) -> None:
    """The engine finishes the plan; with a 7-day limit, ending at it would mean it idled."""
    for line in summarize(plan):  # the `validate` summary walks the dependency graph too
        assert_our_words(line)
    roomy = plan.model_copy(update={"timeout_seconds": MAX_TIMEOUT_SECONDS})
    record = run_plan(roomy).record
    assert record.Status in {"COMPLETED", "FAILED"}, record.Status
    assert record.EndTime is not None
    assert record.EndTime - record.StartTime < MAX_TIMEOUT_SECONDS, "idled until the timeout"
    assert {w.WaveNumber for w in record.WaveStatus} == {w.wave_number for w in plan.waves}
    assert {w.Status for w in record.WaveStatus} <= TERMINAL_WAVE, record.WaveStatus
    if record.Status == "FAILED":
        assert record.Errors, record


def agree(data: Any) -> Plan | None:
    """Validate ``data``; run it if accepted, check the messages if not. The Plan or None."""
    plan, problems = validate_data(data)
    if plan is None:
        assert_located(problems)
        return None
    assert problems == []
    # The cross-field rules saw the values the model produced, whichever way they ran.
    assert view_of_data(data) == view_of_model(plan)
    assert parse_plan(plan.to_dict()) == plan
    assert_runs_to_its_end(plan)
    return plan
