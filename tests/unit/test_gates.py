"""The RECOVERY gate (drsorch.gates, invariant 4): every branch, with a fake confirmation."""

from __future__ import annotations

from typing import Literal

import pytest
from tests.utils.plans import make_plan

from drsorch.errors import RefusedError
from drsorch.gates import plan_as_run
from drsorch.plan import Plan, parse_plan

pytestmark = pytest.mark.unit


def a_plan(kind: Literal["DRILL", "RECOVERY"]) -> Plan:
    data = make_plan(7, waves=2, servers_per_wave=3, plan_id="payroll")
    data["ExecutionType"] = kind
    return parse_plan(data)


class FakeConfirm:
    """Answers every question with ``answer`` and remembers what it was asked."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.questions: list[str] = []

    def __call__(self, question: str) -> bool:
        self.questions.append(question)
        return self.answer


def test_a_drill_plan_runs_as_it_is_without_asking() -> None:
    plan = a_plan("DRILL")
    confirm = FakeConfirm(False)
    ran = plan_as_run(plan, recovery=False, drill=False, yes=False, confirm=confirm)
    assert ran.execution_type == "DRILL"
    assert ran == plan
    assert confirm.questions == []


@pytest.mark.parametrize("kind", ["DRILL", "RECOVERY"])
def test_recovery_and_drill_together_are_refused(kind: Literal["DRILL", "RECOVERY"]) -> None:
    confirm = FakeConfirm(True)
    with pytest.raises(RefusedError, match=r"^--recovery and --drill contradict each other$"):
        plan_as_run(a_plan(kind), recovery=True, drill=True, yes=True, confirm=confirm)
    assert confirm.questions == []


@pytest.mark.parametrize("kind", ["DRILL", "RECOVERY"])
def test_drill_rehearses_any_plan_without_asking(kind: Literal["DRILL", "RECOVERY"]) -> None:
    confirm = FakeConfirm(False)
    plan = a_plan(kind)
    ran = plan_as_run(plan, recovery=False, drill=True, yes=False, confirm=confirm)
    assert ran.execution_type == "DRILL"
    assert ran.plan_id == plan.plan_id and ran.waves == plan.waves
    assert plan.execution_type == kind  # the plan given is not changed
    assert confirm.questions == []


@pytest.mark.parametrize("yes", [False, True])
def test_a_recovery_plan_without_recovery_flag_is_refused(yes: bool) -> None:
    confirm = FakeConfirm(True)
    with pytest.raises(RefusedError) as refused:
        plan_as_run(a_plan("RECOVERY"), recovery=False, drill=False, yes=yes, confirm=confirm)
    assert str(refused.value) == (
        "plan payroll is a RECOVERY: it launches production instances. Pass "
        "--recovery --yes to run it, or --drill to rehearse it as a drill"
    )
    assert confirm.questions == []


def test_recovery_with_yes_runs_a_recovery_plan_without_asking() -> None:
    confirm = FakeConfirm(False)
    plan = a_plan("RECOVERY")
    ran = plan_as_run(plan, recovery=True, drill=False, yes=True, confirm=confirm)
    assert ran.execution_type == "RECOVERY"
    assert ran == plan
    assert confirm.questions == []


@pytest.mark.parametrize("yes", [False, True])
@pytest.mark.parametrize("answer", [False, True])
def test_recovery_on_a_drill_plan_is_refused_without_asking(yes: bool, answer: bool) -> None:
    """--recovery only permits: a DRILL plan never becomes a RECOVERY (issue 11, item 4),
    whether or not --yes was given or a person would have said yes."""
    confirm = FakeConfirm(answer)
    plan = a_plan("DRILL")
    with pytest.raises(RefusedError) as refused:
        plan_as_run(plan, recovery=True, drill=False, yes=yes, confirm=confirm)
    assert str(refused.value) == (
        "plan payroll is a DRILL, and --recovery does not make it a RECOVERY: it only "
        "permits a plan that says ExecutionType: RECOVERY to run as one. Leave --recovery "
        "out to run the drill; nothing was launched"
    )
    assert confirm.questions == []
    assert plan.execution_type == "DRILL"


def test_recovery_on_a_drill_plan_without_a_terminal_is_refused() -> None:
    with pytest.raises(RefusedError, match=r"^plan payroll is a DRILL, and --recovery"):
        plan_as_run(a_plan("DRILL"), recovery=True, drill=False, yes=False, confirm=None)


def test_recovery_without_yes_and_without_terminal_is_refused() -> None:
    with pytest.raises(
        RefusedError, match=r"^a RECOVERY needs confirmation: pass --yes \(no terminal\)$"
    ):
        plan_as_run(a_plan("RECOVERY"), recovery=True, drill=False, yes=False, confirm=None)


def test_recovery_confirmed_on_the_terminal_runs_a_recovery() -> None:
    confirm = FakeConfirm(True)
    ran = plan_as_run(a_plan("RECOVERY"), recovery=True, drill=False, yes=False, confirm=confirm)
    assert ran.execution_type == "RECOVERY"
    assert confirm.questions == ["Run a real RECOVERY of payroll (6 servers)?"]


def test_recovery_not_confirmed_is_refused_after_asking_once() -> None:
    confirm = FakeConfirm(False)
    with pytest.raises(RefusedError, match=r"^RECOVERY not confirmed; nothing was launched$"):
        plan_as_run(a_plan("RECOVERY"), recovery=True, drill=False, yes=False, confirm=confirm)
    assert confirm.questions == ["Run a real RECOVERY of payroll (6 servers)?"]
