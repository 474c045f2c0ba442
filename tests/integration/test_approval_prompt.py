"""The approval prompt of a real-time run on a terminal (issue 11, item 1): a convenience
that never blocks polling.

The prompt is driven by the real runner on the in-process simulator. Its input is
injected: a scripted source that answers at chosen times of the engine's clock, or a pipe
read by :class:`~drsorch.cli.prompt.TerminalInput` exactly as a terminal is read. The
engine runs on a virtual clock sliced as real time is (``sleep_slice``), or on a sped-up
real clock; no test sleeps. The CLI's wiring is checked in-process; the e2e module
``tests/e2e/test_cli_approval_prompt.py`` answers on a real pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.integration.test_approvals import OperatorStore, dag_plan, waves
from tests.utils.engine import FAST_TIMING

from drsorch.cli import main
from drsorch.cli.prompt import ApprovalPrompt, TerminalInput
from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.history import ExecutionRecord
from drsorch.plan import parse_plan
from drsorch.runner import Runner
from drsorch.sim import Scenario
from drsorch.store import MemoryStore, SqliteStore
from drsorch.wiring import simulated

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

WHO = "carol@laptop"


class ScriptedInput:
    """A terminal whose person types ``answers`` (each at a time of the engine's clock,
    seconds after the question appeared), and that records how it was used."""

    def __init__(self, clock: VirtualClock, answers: list[tuple[float, str | None]]) -> None:
        self.clock, self.answers = clock, list(answers)
        self.asked_at: float | None = None
        self.polls = 0
        self.discards = 0

    def lines(self) -> list[str] | None:
        self.polls += 1
        assert self.asked_at is not None, "read before a question was on screen"
        if self.answers and self.clock.now() - self.asked_at >= self.answers[0][0]:
            answer = self.answers.pop(0)[1]
            return None if answer is None else [answer]
        return []

    def discard(self) -> None:
        self.discards += 1
        self.asked_at = self.clock.now()


def run_with_prompt(
    plan_data: dict[str, Any],
    source: Any,
    clock: VirtualClock,
    *,
    store: MemoryStore | None = None,
) -> tuple[ExecutionRecord, list[str], ApprovalPrompt]:
    """The plan run as a real-time run on a terminal is: nobody answers the engine's own
    approval request (the wave waits), the prompt is polled every step and sleep slice."""
    plan = parse_plan(plan_data)
    world = simulated(plan, clock=clock, scenario=Scenario(timing=FAST_TIMING))
    world.options.sleep_slice = 1.0  # as with --speed and --aws
    store = store if store is not None else MemoryStore()
    said: list[str] = []
    prompt = ApprovalPrompt(
        source, store, world.options.execution_id, who=WHO, say=lambda text: said.append(text)
    )
    observer = store if isinstance(store, OperatorStore) else None
    runner = Runner(
        drs=world.drs,
        ec2=world.ec2,
        store=store,
        clock=clock,
        observer=observer,
        approve=lambda wave: None,
        operator=prompt,
    )
    record = runner.run(plan, world.options)
    prompt.close()
    return record, said, prompt


def test_yes_approves_through_the_store_while_the_other_branch_goes_on() -> None:
    clock = VirtualClock(start=DEFAULT_EPOCH)
    source = ScriptedInput(clock, [(3600, "y")])  # answered an hour into the wait
    record, said, _ = run_with_prompt(dag_plan(), source, clock)
    assert record.Status == "COMPLETED", record.Errors
    w = waves(record)
    # the record says who approved, and when: the engine's normal path (ApprovedBy/Time)
    assert w[2].ApprovedBy == WHO
    assert source.asked_at is not None and w[2].ApprovedTime is not None
    assert w[2].ApprovedTime - source.asked_at == pytest.approx(3600, abs=2)
    # the question never held the engine: the other branch ran and ended meanwhile
    assert w[3].EndTime is not None and w[3].EndTime < w[2].ApprovedTime
    # it was polled once per slice or step, not once for the whole wait
    assert source.polls > 3600 / 2
    assert any(line.startswith("approve wave 2 (Wave 2)? [y/N]") for line in said), said
    assert any("approved here, by carol@laptop" in line for line in said)


def test_no_leaves_the_wave_waiting_until_its_approval_times_out() -> None:
    clock = VirtualClock(start=DEFAULT_EPOCH)
    source = ScriptedInput(clock, [(60, "n"), (120, "y")])  # the late "y" is never read
    record, said, prompt = run_with_prompt(dag_plan(ApprovalTimeoutSeconds=3600), source, clock)
    w = waves(record)
    assert w[2].Status == "CANCELLED" and w[4].Status == "SKIPPED" and w[3].Status == "COMPLETED"
    assert w[2].ApprovedBy is None
    assert any("not approved within 3600 s" in e.Message for e in record.Errors)
    assert [a for _, a in source.answers] == ["y"]  # not asked again after the no
    assert prompt.asked == {2}
    assert sum("approve wave 2" in line for line in said) == 1
    assert any(f"drsorch approve {record.ExecutionId} --wave 2" in line for line in said)


def test_end_of_input_leaves_the_wave_to_be_approved_from_elsewhere() -> None:
    clock = VirtualClock(start=DEFAULT_EPOCH)
    source = ScriptedInput(clock, [(30, None)])  # Ctrl-D
    operator = OperatorStore(clock, {"kind": "approve", "wave": 2, "by": "alice"}, 600)
    record, said, prompt = run_with_prompt(dag_plan(), source, clock, store=operator)
    assert record.Status == "COMPLETED", record.Errors
    assert waves(record)[2].ApprovedBy == "alice"
    assert prompt.closed
    assert any("end of input" in line and "drsorch approve" in line for line in said)


def test_a_wave_approved_elsewhere_is_no_longer_asked_about() -> None:
    clock = VirtualClock(start=DEFAULT_EPOCH)
    source = ScriptedInput(clock, [(7200, "y")])  # would come after the approval
    operator = OperatorStore(clock, {"kind": "approve", "wave": 2, "by": "alice"}, 600)
    record, said, prompt = run_with_prompt(dag_plan(), source, clock, store=operator)
    assert record.Status == "COMPLETED", record.Errors
    assert waves(record)[2].ApprovedBy == "alice"
    assert any("wave 2 no longer waits for an approval (approved)" in line for line in said)
    assert source.answers == [(7200, "y")]  # never read once the wave stopped waiting
    assert source.discards == 2  # at the question, and when it was withdrawn
    assert prompt.asking is None and source.polls > 0


def test_a_cancel_withdraws_the_question() -> None:
    clock = VirtualClock(start=DEFAULT_EPOCH)
    source = ScriptedInput(clock, [])
    operator = OperatorStore(clock, {"kind": "cancel", "by": "bob"}, 30)  # wave 3 still runs
    record, said, _ = run_with_prompt(dag_plan(), source, clock, store=operator)
    assert record.Status == "CANCELLED"
    assert any("wave 2 no longer waits for an approval (CANCELLED)" in line for line in said)


def test_an_unknown_answer_asks_again_and_each_paused_wave_is_asked_in_turn() -> None:
    data = dag_plan()
    data["Waves"][2]["PauseBefore"] = True  # waves 2 and 3 both wait after wave 1
    clock = VirtualClock(start=DEFAULT_EPOCH)
    source = ScriptedInput(clock, [(10, "maybe"), (20, "yes"), (30, "Y")])
    record, said, prompt = run_with_prompt(data, source, clock)
    assert record.Status == "COMPLETED", record.Errors
    w = waves(record)
    assert w[2].ApprovedBy == WHO and w[3].ApprovedBy == WHO
    assert prompt.asked == {2, 3}
    assert any(line.startswith("answer y or n: approve wave 2") for line in said)


def test_a_broken_prompt_never_breaks_the_engine() -> None:
    class Broken:
        def lines(self) -> list[str] | None:
            raise RuntimeError("tty gone mad")

        def discard(self) -> None:
            pass

    clock = VirtualClock(start=DEFAULT_EPOCH)
    operator = OperatorStore(clock, {"kind": "approve", "wave": 2, "by": "alice"}, 60)
    record, said, prompt = run_with_prompt(dag_plan(), Broken(), clock, store=operator)
    assert record.Status == "COMPLETED", record.Errors
    assert prompt.closed
    assert any("the approval prompt stopped (RuntimeError: tty gone mad)" in s for s in said)


# -- TerminalInput: reading what is there, never waiting -----------------------------------------


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    try:
        yield read, write
    finally:
        for fd in (read, write):
            with contextlib.suppress(OSError):  # closed by the test
                os.close(fd)


def test_terminal_input_returns_complete_lines_without_waiting(pipe: tuple[int, int]) -> None:
    read, write = pipe
    source = TerminalInput(read)
    assert source.lines() == []  # nothing typed: no wait
    os.write(write, b"y")
    assert source.lines() == []  # half a line is kept for later
    os.write(write, b"es\nno\nmay")
    assert source.lines() == ["yes", "no"]
    os.write(write, b"be\n")
    assert source.lines() == ["maybe"]
    os.write(write, b"late")
    os.close(write)  # the end of input: the last half line, then None
    assert source.lines() == ["late"]
    assert source.lines() is None


def test_terminal_input_discards_what_was_typed_ahead(pipe: tuple[int, int]) -> None:
    read, write = pipe
    source = TerminalInput(read)
    os.write(write, b"y\ny")
    source.discard()
    assert source.lines() == []
    os.write(write, b"n\n")
    assert source.lines() == ["n"]


def test_terminal_input_of_a_closed_descriptor_just_ends() -> None:
    read, write = os.pipe()
    os.close(read)
    os.close(write)
    source = TerminalInput(read)
    assert source.lines() is None
    source.discard()  # no error


def test_a_pipe_answered_prompt_on_a_sped_up_clock(pipe: tuple[int, int]) -> None:
    """The whole path on a real-time-like clock: TerminalInput reads the pipe the prompt's
    question is answered on; the engine goes on polling meanwhile (~0.5 s of wall time)."""
    read, write = pipe
    plan = parse_plan(dag_plan())
    world = simulated(plan, speed=20_000, scenario=Scenario(timing=FAST_TIMING))
    store = MemoryStore()
    said: list[str] = []

    def say(text: str) -> None:
        said.append(text)
        if text.startswith("approve wave 2"):
            os.write(write, b"y\n")  # the person answers once the question is on screen

    prompt = ApprovalPrompt(
        TerminalInput(read), store, world.options.execution_id, who=WHO, say=say
    )
    runner = Runner(
        drs=world.drs,
        ec2=world.ec2,
        store=store,
        clock=world.clock,
        approve=lambda wave: None,
        operator=prompt,
    )
    record = runner.run(plan, world.options)
    assert record.Status == "COMPLETED", record.Errors
    assert waves(record)[2].ApprovedBy == WHO


# -- the command line ----------------------------------------------------------------------------


class AnswersYes:
    """A terminal on which the person types "y" once asked."""

    def __init__(self) -> None:
        self.asked = False

    def lines(self) -> list[str] | None:
        return ["y"] if self.asked else []

    def discard(self) -> None:
        self.asked = True


def test_run_with_speed_on_a_terminal_asks_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(dag_plan()))
    scenario = tmp_path / "fast.yaml"
    scenario.write_text(yaml.safe_dump({"timing": {"launch": {"min": 60, "max": 90}}}))
    monkeypatch.setattr("drsorch.cli.run._stdin_is_a_terminal", lambda: True)
    monkeypatch.setattr(TerminalInput, "of_stdin", classmethod(lambda cls: AnswersYes()))
    db = tmp_path / "h.db"
    args = ["run", str(plan), "--sim", str(scenario), "--speed", "20000", "--store", str(db)]
    result = CliRunner().invoke(main, args)
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code == 0, result.output
    assert "approve wave 2 (Wave 2)? [y/N]" in result.stdout
    assert "wave 2: approved by" in result.stdout
    with SqliteStore(db) as history:
        [record] = history.query()
    approved = waves(record)[2]
    assert approved.ApprovedBy is not None and "--approve-all" not in approved.ApprovedBy
    # with --approve-all nobody is asked; in virtual time the plain question is kept
    result = CliRunner().invoke(main, [*args, "--approve-all"])
    assert result.exit_code == 0 and "[y/N]" not in result.stdout


def test_the_prompt_is_offered_only_in_real_time_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from drsorch.cli.run import _approval_prompt

    plan = parse_plan(dag_plan())
    virtual = simulated(plan, clock=VirtualClock(start=DEFAULT_EPOCH))
    real_time = simulated(plan, speed=60)
    store = MemoryStore()
    monkeypatch.setattr(TerminalInput, "of_stdin", classmethod(lambda cls: AnswersYes()))
    for terminal, world, approve_all, offered in [
        (True, real_time, False, True),
        (False, real_time, False, False),  # nobody to ask: `drsorch approve` only
        (True, real_time, True, False),  # --approve-all: nobody is asked
        (True, virtual, False, False),  # virtual time asks with a plain question
    ]:
        monkeypatch.setattr("drsorch.cli.run._stdin_is_a_terminal", lambda t=terminal: t)
        prompt = _approval_prompt(world, store, approve_all, print)
        assert (prompt is not None) == offered, (terminal, world.clock, approve_all)
