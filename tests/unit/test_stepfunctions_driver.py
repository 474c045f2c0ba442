"""The Step Functions driver's parts (issue 10): what a step feeds the core first, when only
an approval is left, a caught error in one line, how events are routed and bad ones
refused, and Finalize's rules (an ended execution and a live foreign lease are left alone,
an expired foreign lease is taken over). On a MemoryStore and a virtual clock; the
workflow itself is tests/integration/test_stepfunctions.py's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from tests.utils.plans import make_plan

from drsorch.clock import VirtualClock
from drsorch.core import messages as m
from drsorch.core import new_execution
from drsorch.core.state import State
from drsorch.core.statuses import DispatchStatus, ExecutionStatus, Phase, WaveStatus
from drsorch.errors import RefusedError
from drsorch.keeping import Keeper
from drsorch.plan import parse_plan
from drsorch.stepfunctions import handler as handler_module
from drsorch.stepfunctions.driver import (
    StepFunctionsDriver,
    StepResult,
    _error_text,
    first_event,
    holder_for,
    only_approvals_left,
)
from drsorch.store import MemoryStore

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

WORKFLOW = "arn:aws:states:us-east-1:123456789012:execution:drsorch:drsorch-e-1"
OTHER_WORKFLOW = "arn:aws:states:us-east-1:123456789012:execution:drsorch:drsorch-e-2"
EXECUTION = "00000000-0000-4000-8000-000000000001"


def _state(waves: int = 2) -> State:
    plan = parse_plan(make_plan(1, waves=waves, servers_per_wave=1))
    return new_execution(
        plan,
        execution_id=EXECUTION,
        now=1_000.0,
        initiated_by="tester",
        source_account_id="123456789012",
        target_account_id="123456789012",
        region="us-east-1",
    )


def _no_world(plan: Any, state: Any) -> Any:
    raise AssertionError("this test builds no world")


def _driver(store: MemoryStore, clock: VirtualClock) -> StepFunctionsDriver:
    return StepFunctionsDriver(store=store, clock=clock, world_for=_no_world)


def _saved(holder: str = holder_for(WORKFLOW)) -> tuple[MemoryStore, VirtualClock, Keeper]:
    """A RUNNING execution saved under ``holder``'s lease, as ``starting.start`` leaves it."""
    store, clock = MemoryStore(), VirtualClock(start=1_000.0)
    keeper = Keeper(store, clock, holder=holder)
    keeper.claim(EXECUTION)
    keeper.save(_state(), force=True)
    return store, clock, keeper


# -- first_event -------------------------------------------------------------------------------


def test_a_new_execution_starts_with_start() -> None:
    state = _state()
    assert state["phase"] == Phase.PREFLIGHT and not state["preflight_sent"]
    assert isinstance(first_event(state), m.Start)


def test_a_step_that_died_during_the_preflight_resumes() -> None:
    state = _state()
    state["preflight_sent"] = True
    assert isinstance(first_event(state), m.Resume)


def test_a_running_execution_ticks_unless_a_launch_was_sent_without_an_answer() -> None:
    state = _state()
    state["phase"] = Phase.RUNNING
    assert isinstance(first_event(state), m.Tick)
    launch: Any = {"status": DispatchStatus.ACTIVE}
    state["launches"] = {"t-1": launch}
    assert isinstance(first_event(state), m.Tick)
    launch["status"] = DispatchStatus.SENT
    assert isinstance(first_event(state), m.Resume)


# -- only_approvals_left -----------------------------------------------------------------------


def _with_waves(*statuses: tuple[WaveStatus, bool]) -> State:
    state = _state(len(statuses))
    for wave, (status, approved) in zip(state["waves"], statuses, strict=True):
        wave["status"] = status
        wave["approved"] = approved
    return state


@pytest.mark.parametrize(
    ("waves", "expected"),
    [
        (((WaveStatus.COMPLETED, False), (WaveStatus.PAUSED, False)), True),
        (((WaveStatus.PAUSED, False), (WaveStatus.PENDING, False)), True),
        (((WaveStatus.RUNNING, False), (WaveStatus.PAUSED, False)), False),
        (((WaveStatus.WAITING, False), (WaveStatus.PAUSED, False)), False),
        (((WaveStatus.COMPLETED, False), (WaveStatus.PAUSED, True)), False),
        (((WaveStatus.COMPLETED, False), (WaveStatus.PENDING, False)), False),
    ],
)
def test_only_approvals_left(waves: tuple[tuple[WaveStatus, bool], ...], expected: bool) -> None:
    assert only_approvals_left(_with_waves(*waves)) is expected


# -- _error_text -------------------------------------------------------------------------------


def test_an_error_text_reads_a_lambda_errors_json_cause() -> None:
    cause = json.dumps(
        {"errorMessage": "boom\nsecond line", "errorType": "RuntimeError", "stackTrace": []}
    )
    assert _error_text({"Error": "RuntimeError", "Cause": cause}) == "RuntimeError: boom"


def test_an_error_text_keeps_a_plain_cause_to_its_first_line() -> None:
    error = {"Error": "States.Timeout", "Cause": "took too long\nmore"}
    assert _error_text(error) == "States.Timeout: took too long"
    assert _error_text({"Error": "States.Timeout", "Cause": ""}) == "States.Timeout"
    assert _error_text({"Error": "States.Timeout"}) == "States.Timeout"
    assert _error_text({"Cause": "why"}) == "an error: why"


def test_an_error_text_is_printable_and_bounded() -> None:
    text = _error_text({"Error": "E\x1b[31m", "Cause": "x" * 2000 + "\x07"})
    assert "\x1b" not in text and "\x07" not in text
    assert len(text) <= len("E[31m: ") + 500 + 10


@pytest.mark.parametrize("error", [None, "a string", 42, ["Error"]])
def test_an_error_text_of_something_else(error: Any) -> None:
    assert _error_text(error) == "an unknown error"


# -- handle: routing and bad events ------------------------------------------------------------


class _Routed(StepFunctionsDriver):
    """Records what ``handle`` called instead of doing it."""

    def __init__(self) -> None:
        super().__init__(store=MemoryStore(), clock=VirtualClock(), world_for=_no_world)
        self.calls: list[tuple[Any, ...]] = []

    def step(self, execution_id: str, workflow: str) -> StepResult:
        self.calls.append(("step", execution_id, workflow))
        return StepResult("RUNNING", finished=False, await_approval=False, wait_seconds=30)

    def await_approval(self, execution_id: str, workflow: str, token: str) -> StepResult:
        self.calls.append(("await_approval", execution_id, workflow, token))
        return StepResult("PAUSED", finished=False, await_approval=True, wait_seconds=600)

    def finalize(
        self, execution_id: str, workflow: str, error: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        self.calls.append(("finalize", execution_id, workflow, error))
        return {"Finalized": True}


def _event(action: str, **more: Any) -> dict[str, Any]:
    return {"Action": action, "ExecutionId": EXECUTION, "Driver": WORKFLOW, **more}


def test_handle_routes_each_action() -> None:
    driver = _Routed()
    assert driver.handle(_event("step")) == {
        "Status": "RUNNING",
        "Finished": False,
        "AwaitApproval": False,
        "WaitSeconds": 30,
    }
    assert driver.handle(_event("await_approval", TaskToken="tok"))["AwaitApproval"] is True
    error = {"Error": "States.TaskFailed", "Cause": "x"}
    assert driver.handle(_event("finalize", Error=error)) == {"Finalized": True}
    assert driver.calls == [
        ("step", EXECUTION, WORKFLOW),
        ("await_approval", EXECUTION, WORKFLOW, "tok"),
        ("finalize", EXECUTION, WORKFLOW, error),
    ]


def test_handle_takes_the_external_id_of_each_event_and_keeps_none_for_the_next() -> None:
    """A warm container drives many executions: one without an ExternalId must not
    assume its role with the ExternalId of the execution before it."""
    driver = _Routed()
    driver.handle(_event("step", ExternalId="ext-123"))
    assert driver.external_id == "ext-123"
    driver.handle(_event("step", ExternalId=None))
    assert driver.external_id is None
    driver.handle(_event("step"))
    assert driver.external_id is None


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"Action": "step", "Driver": WORKFLOW}, "needs ExecutionId and Driver"),
        ({"Action": "step", "ExecutionId": EXECUTION}, "needs ExecutionId and Driver"),
        ({"Action": "step", "ExecutionId": 7, "Driver": WORKFLOW}, "needs ExecutionId"),
        (_event("await_approval"), "await_approval needs the task's TaskToken"),
        (_event("await_approval", TaskToken=3), "needs the task's TaskToken"),
        (_event("launch\x1b[2J"), "unknown drsorch action 'launch"),
        ({"ExecutionId": EXECUTION, "Driver": WORKFLOW}, "unknown drsorch action 'None'"),
        ({"source": "aws.states", "detail": "nope"}, "an EventBridge event without detail"),
    ],
)
def test_handle_refuses_a_bad_event_clearly(event: dict[str, Any], says: str) -> None:
    driver = _Routed()
    with pytest.raises(RefusedError) as refused:
        driver.handle(event)
    assert says in str(refused.value)
    assert "\x1b" not in str(refused.value)
    assert driver.calls == []


def _status_change(status: str, given: Any = None, arn: Any = WORKFLOW) -> dict[str, Any]:
    detail: dict[str, Any] = {"executionArn": arn, "status": status}
    if given is not None:
        detail["input"] = given if isinstance(given, str) else json.dumps(given)
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": detail,
    }


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_status_change("SUCCEEDED", {"ExecutionId": EXECUTION}), "a SUCCEEDED workflow"),
        (_status_change("RUNNING", {"ExecutionId": EXECUTION}), "a RUNNING workflow"),
        (_status_change("FAILED", {"ExecutionId": EXECUTION}, arn=None), "a FAILED workflow"),
        (_status_change("ABORTED", {"Other": 1}), "names no ExecutionId"),
        (_status_change("ABORTED", "not json"), "names no ExecutionId"),
        (_status_change("ABORTED", [EXECUTION]), "names no ExecutionId"),
    ],
)
def test_a_status_change_with_nothing_to_finalize(event: dict[str, Any], reason: str) -> None:
    driver = _Routed()
    out = driver.handle(event)
    assert out["Finalized"] is False and reason in out["Reason"]
    assert driver.calls == []


# -- finalize ----------------------------------------------------------------------------------


def test_finalize_records_failed_with_the_error_and_lets_the_lease_go() -> None:
    store, clock, _ = _saved()
    clock.advance(60)
    cause = json.dumps({"errorMessage": "boom", "errorType": "RuntimeError"})
    out = _driver(store, clock).finalize(
        EXECUTION, WORKFLOW, {"Error": "RuntimeError", "Cause": cause}
    )
    record = store.get(EXECUTION)

    assert out["Finalized"] is True and out["Status"] == "FAILED"
    assert record is not None and record.Status == ExecutionStatus.FAILED
    assert record.EndTime == clock.now()
    assert any(
        e.Message == "the Step Functions workflow could not go on: RuntimeError: boom"
        for e in record.Errors
    ), record.Errors
    assert store.lease_of(EXECUTION) is None


def test_finalize_leaves_an_ended_execution_alone() -> None:
    store, clock, _ = _saved()
    driver = _driver(store, clock)
    driver.finalize(EXECUTION, WORKFLOW, {"Error": "first"})
    before = store.get(EXECUTION)
    out = driver.finalize(EXECUTION, WORKFLOW, {"Error": "second"})

    assert out == {"Finalized": False, "Status": "FAILED"}
    assert store.get(EXECUTION) == before
    assert store.lease_of(EXECUTION) is None


def test_finalize_of_an_unknown_execution_says_so() -> None:
    store, clock = MemoryStore(), VirtualClock()
    out = _driver(store, clock).finalize(EXECUTION, WORKFLOW, None)
    assert out["Finalized"] is False and "no execution" in out["Reason"]
    assert store.lease_of(EXECUTION) is None


def test_finalize_leaves_an_execution_another_engine_holds_live() -> None:
    store, clock, _ = _saved(holder="engine on a laptop")
    clock.advance(10)  # its lease has life left
    out = _driver(store, clock).finalize(EXECUTION, WORKFLOW, {"Error": "States.Timeout"})
    record = store.get(EXECUTION)
    lease = store.lease_of(EXECUTION)

    assert out["Finalized"] is False and out["Reason"]
    assert record is not None and record.Status == ExecutionStatus.RUNNING
    assert lease is not None and lease.holder == "engine on a laptop"


def test_finalize_takes_over_an_expired_foreign_lease() -> None:
    store, clock, keeper = _saved(holder=holder_for(OTHER_WORKFLOW))
    clock.advance(keeper.lease_seconds + 1)
    out = _driver(store, clock).finalize(EXECUTION, WORKFLOW, {"Error": "drsorch.Backstop"})
    record = store.get(EXECUTION)

    assert out["Finalized"] is True
    assert record is not None and record.Status == ExecutionStatus.FAILED
    assert any("drsorch.Backstop" in e.Message for e in record.Errors)
    assert store.lease_of(EXECUTION) is None


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_status_change_event_finalizes_the_execution(status: str) -> None:
    store, clock, _ = _saved()
    out = _driver(store, clock).handle(_status_change(status, {"ExecutionId": EXECUTION}))
    record = store.get(EXECUTION)

    assert out["Finalized"] is True
    assert record is not None and record.Status == ExecutionStatus.FAILED
    message = f"the workflow {WORKFLOW} ended {status}"
    assert any(f"States.{status}: {message}" in e.Message for e in record.Errors), record.Errors


def test_a_step_of_an_ended_execution_is_refused() -> None:
    store, clock, _ = _saved()
    driver = _driver(store, clock)
    driver.finalize(EXECUTION, WORKFLOW, {"Error": "x"})
    with pytest.raises(RefusedError, match="already ended FAILED"):
        driver.handle(_event("step"))


# -- the Lambda handler ------------------------------------------------------------------------


def test_the_handler_needs_its_store() -> None:
    with pytest.raises(RefusedError, match="DRSORCH_STORE is not set"):
        handler_module.build_driver({})
