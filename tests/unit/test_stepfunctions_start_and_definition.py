"""The state machine's definition (Property 26's retry policy, a Catch on every task, the
backstop) and the names an idempotent start derives from its key (Property 27)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.utils.plans import make_plan

from drsorch.errors import RefusedError
from drsorch.plan import parse_plan
from drsorch.stepfunctions.definition import (
    FUNCTION_PLACEHOLDER,
    definition_json,
    state_machine_definition,
)
from drsorch.stepfunctions.starting import (
    BACKSTOP_MARGIN_SECONDS,
    backstop_time,
    execution_names,
)

pytestmark = pytest.mark.timeout(30)

MACHINE = "arn:aws:states:eu-west-1:111122223333:stateMachine:drsorch"


def _tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in definition["States"].items() if s["Type"] == "Task"}


def test_every_lambda_task_retries_3_times_at_2_4_8_seconds() -> None:
    for name, task in _tasks(state_machine_definition()).items():
        [retry] = task["Retry"]
        assert (retry["MaxAttempts"], retry["IntervalSeconds"], retry["BackoffRate"]) == (
            3,
            2,
            2.0,
        ), name
        assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= set(
            retry["ErrorEquals"]
        )
        assert "States.TaskFailed" in retry["ErrorEquals"]


def test_every_task_but_finalize_is_caught_into_finalize_and_finalize_fails() -> None:
    definition = state_machine_definition()
    for name, task in _tasks(definition).items():
        if name == "Finalize":
            assert task["Next"] == "Failed"
            assert definition["States"]["Failed"]["Type"] == "Fail"
            continue
        catches = {tuple(c["ErrorEquals"]): c["Next"] for c in task["Catch"]}
        assert catches[("States.ALL",)] == "Finalize", name


def test_the_backstop_is_checked_before_every_step() -> None:
    states = state_machine_definition()["States"]
    assert state_machine_definition()["StartAt"] == "Backstop?"
    [choice] = states["Backstop?"]["Choices"]
    assert choice["TimestampGreaterThanPath"] == "$.BackstopTime"
    assert choice["Next"] == "BackstopFired"
    assert states["BackstopFired"]["Next"] == "Finalize"
    # every way round the loop passes the backstop again
    assert states["Wait"]["Next"] == "Backstop?"
    assert states["AwaitApproval"]["Next"] == "Backstop?"


def test_approvals_wait_for_a_task_token_until_their_timeout() -> None:
    task = state_machine_definition()["States"]["AwaitApproval"]
    assert task["Resource"].endswith(":lambda:invoke.waitForTaskToken")
    assert task["Parameters"]["Payload"]["TaskToken.$"] == "$$.Task.Token"
    assert task["TimeoutSecondsPath"] == "$.Step.WaitSeconds"
    timeouts = [c for c in task["Catch"] if c["ErrorEquals"] == ["States.Timeout"]]
    assert timeouts and timeouts[0]["Next"] == "Backstop?"  # a step then cancels the wave


def test_the_function_arn_goes_where_the_placeholder_is() -> None:
    fn = "arn:aws:lambda:eu-west-1:111122223333:function:drsorch"
    text = definition_json(fn)
    assert FUNCTION_PLACEHOLDER not in text and fn in text
    assert FUNCTION_PLACEHOLDER in definition_json()
    json.loads(text)


@given(st.text(min_size=1, max_size=80))
def test_a_key_always_names_the_same_execution_and_a_valid_workflow(key: str) -> None:
    first = execution_names(MACHINE, key)
    assert execution_names(MACHINE, key) == first
    execution_id, name, arn = first
    assert uuid.UUID(execution_id).version == 4
    assert len(name) <= 80 and name.startswith("drsorch-")
    assert arn == f"arn:aws:states:eu-west-1:111122223333:execution:drsorch:{name}"
    other_machine = MACHINE.replace(":drsorch", ":other")
    assert execution_names(other_machine, key)[0] != execution_id


def test_different_keys_and_no_key_name_different_executions() -> None:
    ids = {execution_names(MACHINE, k)[0] for k in ("a", "b", "A", "a ")}
    assert len(ids) == 4
    assert execution_names(MACHINE, None)[0] != execution_names(MACHINE, None)[0]


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "drsorch",
        "arn:aws:lambda:eu-west-1:111122223333:function:drsorch",
        "arn:aws:states:eu-west-1:111122223333:execution:drsorch:x",
        "arn:aws:states:eu-west-1:111122223333:stateMachine:",
    ],
)
def test_what_is_not_a_state_machine_arn_is_refused(arn: str) -> None:
    with pytest.raises(RefusedError, match="not a state machine ARN"):
        execution_names(arn, "k")


def test_the_backstop_lies_past_the_timeout_and_every_approval() -> None:
    raw = make_plan(1, waves=3, servers_per_wave=1)
    raw["TimeoutSeconds"] = 7200
    raw["ApprovalTimeoutSeconds"] = 3600
    raw["Waves"][1]["PauseBefore"] = True
    raw["Waves"][2]["PauseBefore"] = True
    start = 1_800_000_000.0
    at = datetime.strptime(backstop_time(start, parse_plan(raw)), "%Y-%m-%dT%H:%M:%SZ")
    expected = start + 7200 + 2 * 3600 + BACKSTOP_MARGIN_SECONDS
    assert at.replace(tzinfo=UTC).timestamp() == expected
