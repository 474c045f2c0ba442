"""The real state machine (issue 10, item 5), run by moto's Step Functions interpreter with
its Lambda task routed in process to the real driver, the DRS/EC2 simulator attached, and
the store on moto's DynamoDB (``tests.utils.stepfunctions``). Waits and Retry back-offs
pass on the virtual clock, so a run takes seconds of real time.

Shown: a 3-wave DAG plan ends COMPLETED with the same per-server outcome as the local
runner on the same seed, each server launched once, and a plan that fails ends at ``Ended``
with the same outcome too; a step that fails twice is retried after 2 s and 4 s; one that
keeps failing is retried after 2, 4 and 8 s, then finalized FAILED with its error; the
backstop finalizes FAILED; an approval by task token (SendTaskSuccess with the token kept in
the state), an approval that times out, and a workflow ended from outside (EventBridge's
status-change event finalizes it); the same start twice gives one execution and one workflow; a
cancel through the store ends CANCELLED; a step that died right after its StartRecovery
went out is retried and adopts the job by its token (nothing launched twice).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from unittest import mock

import pytest
from tests.utils.engine import run_plan
from tests.utils.plans import make_plan
from tests.utils.stepfunctions import ACCOUNT, QUICK, REGION, SfnWorld, sfn_world

from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.errors import RefusedError
from drsorch.history import ExecutionRecord
from drsorch.sim import Fault
from drsorch.stepfunctions import starting
from drsorch.stepfunctions.definition import (
    RETRY_BACKOFF_RATE,
    RETRY_INTERVAL_SECONDS,
    RETRY_MAX_ATTEMPTS,
)
from drsorch.stepfunctions.driver import holder_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]

#: Property 26: the back-offs of a step retried until it gives up (2, 4, 8 s).
BACK_OFFS = [RETRY_INTERVAL_SECONDS * RETRY_BACKOFF_RATE**n for n in range(RETRY_MAX_ATTEMPTS)]


def _dag_plan(seed: int = 1) -> dict[str, Any]:
    """Three waves of two servers: 1 and 2 side by side, 3 after both."""
    plan = make_plan(seed, waves=3, servers_per_wave=2)
    plan["Waves"][1]["Dependencies"] = []
    plan["Waves"][2]["Dependencies"] = [1, 2]
    return plan


def _chain(waves: int = 2, *, seed: int = 1, **more: Any) -> dict[str, Any]:
    plan = make_plan(seed, waves=waves, servers_per_wave=1)
    plan.update(more)
    return plan


def _outcome(record: ExecutionRecord) -> dict[str, tuple[str, bool]]:
    """Per server: its final status, and whether it was launched (a DRS job started)."""
    return {
        result.ServerId: (ServerStatus(result.Status).value, result.JobId is not None)
        for wave in record.WaveStatus
        for result in wave.ServerResults
    }


def _wave_statuses(record: ExecutionRecord) -> dict[int, str]:
    return {w.WaveNumber: WaveStatus(w.Status).value for w in record.WaveStatus}


def _error(end: Mapping[str, Any]) -> str:
    return str(end.get("error"))


# -- the same outcome as the local runner ---------------------------------------------------


def test_a_dag_plan_ends_completed_as_the_local_runner_ends_it() -> None:
    plan = _dag_plan()
    failing = plan["Waves"][1]["ServerIds"][0]
    plan["Waves"][1]["MaxFailedServers"] = 1  # wave 2 completes with one server FAILED
    fault = Fault(kind="launch_failure", server_id=failing)

    local = run_plan(plan, seed=7, scenario=QUICK, faults=[fault])
    with sfn_world(plan, seed=7) as h:
        assert h.world.sim is not None
        h.world.sim.add_fault(fault)
        started = h.start()
        end = h.wait_for_end(started)
        record = h.record(started)

        assert end["status"] == "SUCCEEDED", h.trail()
        assert h.entered(started)[-1] == "Completed"
        assert record.Status == ExecutionStatus.COMPLETED
        assert local.record.Status == ExecutionStatus.COMPLETED
        assert _outcome(record) == _outcome(local.record)
        assert _wave_statuses(record) == _wave_statuses(local.record)
        assert _outcome(record)[failing] == ("FAILED", True)
        # Each server launched exactly once; waves 1 and 2 side by side, 3 after both.
        assert h.launched() == {sid: 1 for sid in plan_servers(plan)}
        waves = {w.WaveNumber: w for w in record.WaveStatus}
        assert waves[1].StartTime == waves[2].StartTime
        assert waves[3].StartTime is not None and waves[2].EndTime is not None
        assert waves[3].StartTime >= max(waves[1].EndTime or 0, waves[2].EndTime)
        # Every step ran in the workflow's name and the workflow let the lease go at its end.
        assert set(h.actions()) == {"step"}
        assert {i.event["Driver"] for i in h.invocations} == {started.workflow_arn}
        assert h.store.lease_of(started.execution_id) is None
        assert h.waits and not h.retry_sleeps
        assert all(1 <= w <= 300 for w in h.waits)
        assert len(h.invocations) <= 12, h.actions()


def plan_servers(plan: Mapping[str, Any]) -> list[str]:
    return [sid for wave in plan["Waves"] for sid in wave["ServerIds"]]


def test_a_plan_that_fails_ends_at_ended_with_the_local_runners_outcome() -> None:
    plan = _chain(2)
    fault = Fault(kind="launch_failure", server_id=plan["Waves"][0]["ServerIds"][0])
    local = run_plan(plan, seed=3, scenario=QUICK, faults=[fault])
    with sfn_world(plan, seed=3) as h:
        assert h.world.sim is not None
        h.world.sim.add_fault(fault)
        started = h.start()
        end = h.wait_for_end(started)
        record = h.record(started)

    assert end["status"] == "FAILED"
    assert _error(end) == "drsorch.ExecutionNotCompleted"
    assert record.Status == local.record.Status == ExecutionStatus.FAILED
    assert _outcome(record) == _outcome(local.record)
    assert _wave_statuses(record) == {1: "FAILED", 2: "SKIPPED"}


# -- retries and the Catch (Property 26, Req 4.3) --------------------------------------------


def test_a_step_that_fails_twice_is_retried_after_2_then_4_seconds() -> None:
    with sfn_world(_chain(1)) as h:
        h.fail_next("step", 2)
        started = h.start()
        end = h.wait_for_end(started)
        record = h.record(started)

        assert end["status"] == "SUCCEEDED", h.trail()
        assert h.retry_sleeps == [2.0, 4.0]
        assert [i.error is not None for i in h.invocations[:3]] == [True, True, False]
        assert record.Status == ExecutionStatus.COMPLETED
        assert not record.Errors
        assert set(h.launched().values()) == {1}


def test_a_step_that_keeps_failing_is_finalized_failed_with_its_error() -> None:
    with sfn_world(_chain(2)) as h:
        h.fail_next("step", 100, after=1)  # the first step launches wave 1, then every one fails
        started = h.start()
        end = h.wait_for_end(started)
        record = h.record(started)

        assert end["status"] == "FAILED", h.trail()
        assert _error(end) == "drsorch.EngineFailed"
        assert h.retry_sleeps == BACK_OFFS == [2.0, 4.0, 8.0]
        assert h.actions() == ["step"] * (2 + RETRY_MAX_ATTEMPTS) + ["finalize"]
        assert h.entered(started)[-2:] == ["Finalize", "Failed"]
        assert record.Status == ExecutionStatus.FAILED
        assert record.EndTime is not None
        messages = [e.Message for e in record.Errors]
        assert any("injected failure of a step invocation" in text for text in messages), messages
        assert any("Step Functions workflow could not go on" in text for text in messages)
        assert h.store.lease_of(started.execution_id) is None
        assert h.launched() == {plan_servers(h.plan.to_dict())[0]: 1}


def test_the_backstop_finalizes_the_execution_failed() -> None:
    with (
        sfn_world(_chain(1)) as h,
        mock.patch.object(starting, "backstop_time", lambda *_: "2001-01-01T00:00:00Z"),
    ):
        started = h.start()
        end = h.wait_for_end(started)
        record = h.record(started)

        assert end["status"] == "FAILED"
        assert _error(end) == "drsorch.EngineFailed"
        assert h.entered(started) == ["Backstop?", "BackstopFired", "Finalize", "Failed"]
        assert h.actions() == ["finalize"]
        assert record.Status == ExecutionStatus.FAILED
        assert any("drsorch.Backstop" in e.Message for e in record.Errors), record.Errors
        assert not h.launched()


# -- approvals by task token -----------------------------------------------------------------


def _paused_plan(**more: Any) -> dict[str, Any]:
    plan = _chain(2, **more)
    plan["Waves"][1]["PauseBefore"] = True
    return plan


def _token(h: SfnWorld, execution_id: str) -> str | None:
    driver: Mapping[str, Any] = h.state(execution_id).get("driver") or {}
    token = driver.get("task_token")
    return token if isinstance(token, str) else None


def test_an_approval_sent_with_the_stored_task_token_lets_the_workflow_finish() -> None:
    with sfn_world(_paused_plan()) as h:
        started = h.start()
        token = h.wait_until(lambda: _token(h, started.execution_id))
        assert h.entered(started)[-1] == "AwaitApproval"
        assert h.actions()[-1] == "await_approval"
        assert h.record(started).Status == ExecutionStatus.PAUSED
        assert _wave_statuses(h.record(started)) == {1: "COMPLETED", 2: "PAUSED"}
        wave_2 = plan_servers(h.plan.to_dict())[1]
        assert wave_2 not in h.launched()

        h.store.add_request(started.execution_id, {"kind": "approve", "wave": 2, "by": "tester"})
        h.sfn.send_task_success(taskToken=token, output="{}")
        end = h.wait_for_end(started)
        record = h.record(started)

        assert end["status"] == "SUCCEEDED", h.trail()
        assert record.Status == ExecutionStatus.COMPLETED
        wave = record.wave(2)
        assert wave is not None and wave.ApprovedBy == "tester"
        assert h.launched()[wave_2] == 1
        assert _token(h, started.execution_id) is None  # the next step let it go


def test_an_approval_that_times_out_cancels_the_wave() -> None:
    with sfn_world(_paused_plan(ApprovalTimeoutSeconds=600)) as h:
        h.approval_timeouts_after = 0.5  # real seconds; the task's whole timeout then passes
        started = h.start()
        end = h.wait_for_end(started)
        record = h.record(started)

        assert end["status"] == "FAILED", h.trail()
        assert _error(end) == "drsorch.ExecutionNotCompleted"
        assert len(h.approval_timeouts) == 1 and 0 < h.approval_timeouts[0] <= 600
        assert "AwaitApproval" in h.entered(started)
        assert record.Status.terminal
        assert _wave_statuses(record)[2] == "CANCELLED"
        assert plan_servers(h.plan.to_dict())[1] not in h.launched()


def test_a_workflow_ended_from_outside_is_finalized_by_its_status_change() -> None:
    """EventBridge's "Step Functions Execution Status Change" of a workflow that ended
    outside its own flow (its timeout, StopExecution) finalizes the execution. moto sends
    no such events, and its StopExecution of a task waiting for its token does not end it
    ABORTED: the event is given to the driver as EventBridge delivers it, for a workflow
    that waits for an approval (its last step's lease still live, in its own name)."""
    with sfn_world(_paused_plan()) as h:
        started = h.start()
        h.wait_until(lambda: _token(h, started.execution_id))
        assert h.record(started).Status == ExecutionStatus.PAUSED  # nothing ended it yet
        lease = h.store.lease_of(started.execution_id)
        assert lease is not None and lease.holder == holder_for(started.workflow_arn)
        event = {
            "version": "0",
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": started.workflow_arn,
                "stateMachineArn": h.state_machine_arn,
                "status": "TIMED_OUT",
                "input": json.dumps({"ExecutionId": started.execution_id}),
            },
        }
        out = h.driver.handle(event)
        record = h.record(started)
        again = h.driver.handle(event)

    assert out["Finalized"] is True
    assert record.Status == ExecutionStatus.FAILED
    assert any("States.TIMED_OUT" in e.Message for e in record.Errors), record.Errors
    assert again == {"Finalized": False, "Status": "FAILED"}


# -- starting idempotently (Property 27) -----------------------------------------------------


def test_the_same_start_twice_gives_one_execution_and_launches_nothing_more() -> None:
    plan = _chain(1)
    with sfn_world(plan) as h:
        first = h.start(key="drill-7")
        again = h.start(key="drill-7")  # while it runs
        end = h.wait_for_end(first)
        launched = h.launched()
        after = h.start(key="drill-7")  # once it ended
        workflows = h.sfn.list_executions(stateMachineArn=h.state_machine_arn)["executions"]

        assert end["status"] == "SUCCEEDED"
        assert first.started and not again.started and not after.started
        assert first.execution_id == again.execution_id == after.execution_id
        assert first.workflow_arn == again.workflow_arn == after.workflow_arn
        assert after.status == "COMPLETED"
        assert [w["executionArn"] for w in workflows] == [first.workflow_arn]
        assert h.launched() == launched and set(launched.values()) == {1}

        other = make_plan(2, waves=1, servers_per_wave=1)
        with pytest.raises(RefusedError) as refused:
            h.start(key="drill-7", plan=_parse(other))
        assert first.execution_id in str(refused.value)
        assert len(h.sfn.list_executions(stateMachineArn=h.state_machine_arn)["executions"]) == 1


def test_a_workflow_that_cannot_start_leaves_no_running_record() -> None:
    """StartExecution refused (a state machine that does not exist): the record saved
    first ends FAILED, its lease given up, nothing launched; the same key again starts
    nothing (that execution has ended)."""
    from botocore.exceptions import ClientError

    with sfn_world(_chain(1)) as h:
        missing = h.state_machine_arn.rsplit(":", 1)[0] + ":nosuch"

        def start_on_missing() -> starting.Started:
            return starting.start(
                h.plan,
                store=h.store,
                sfn=h.sfn,
                state_machine_arn=missing,
                key="k",
                clock=h.clock,
                initiated_by="tester",
                source_account_id=ACCOUNT,
                target_account_id=ACCOUNT,
                region=REGION,
            )

        with pytest.raises(ClientError):
            start_on_missing()
        [record] = h.store.query()
        assert record.Status == ExecutionStatus.FAILED
        assert "could not be started" in record.Errors[-1].Message
        assert h.store.lease_of(record.ExecutionId) is None and h.launched() == {}
        again = start_on_missing()
        assert (again.execution_id, again.started, again.status) == (
            record.ExecutionId,
            False,
            "FAILED",
        )


def _parse(data: Mapping[str, Any]) -> Any:
    from drsorch.plan import parse_plan

    return parse_plan(dict(data))


# -- cancel, and a step that died after its launch -------------------------------------------


def test_a_cancel_through_the_store_ends_the_execution_cancelled() -> None:
    with sfn_world(_chain(2)) as h:

        def cancel_at_the_second_step(event: Mapping[str, Any], number: int) -> None:
            if number == 1:
                h.store.add_request(event["ExecutionId"], {"kind": "cancel", "by": "tester"})

        h.before_invoke = cancel_at_the_second_step
        started = h.start()
        end = h.wait_for_end(started)
        record = h.record(started)

    assert end["status"] == "FAILED"
    assert _error(end) == "drsorch.ExecutionNotCompleted"
    assert record.Status == ExecutionStatus.CANCELLED
    # Wave 1's launch went out before the cancel: followed to its end; wave 2 never launched.
    servers = plan_servers(h.plan.to_dict())
    assert h.launched() == {servers[0]: 1}
    first, second = (w.ServerResults[0] for w in record.WaveStatus)
    assert first.JobId is not None and first.EndTime is not None
    assert second.JobId is None
    assert any("cancelled by tester" in e.Message for e in record.Errors), record.Errors


def test_a_step_that_died_after_start_recovery_is_retried_and_adopts_the_job() -> None:
    plan = _chain(2)
    with sfn_world(plan) as h:
        drs = h.world.drs
        real = drs.start_recovery
        died: list[str] = []

        def start_then_die(*args: Any, **kwargs: Any) -> Any:
            job = real(*args, **kwargs)
            if not died:
                died.append(job.job_id)
                raise RuntimeError("the Lambda died right after StartRecovery")
            return job

        with mock.patch.object(drs, "start_recovery", start_then_die):
            started = h.start()
            end = h.wait_for_end(started)
            record = h.record(started)

    assert end["status"] == "SUCCEEDED", h.trail()
    assert h.retry_sleeps == [2.0]
    assert "RuntimeError: the Lambda died right after StartRecovery" in str(h.invocations[0].error)
    assert record.Status == ExecutionStatus.COMPLETED
    assert h.launched() == {sid: 1 for sid in plan_servers(plan)}
    assert any("adopted job " + died[0] in line for line in h.logs), h.logs
    assert record.wave(1) is not None
    wave_1 = record.wave(1)
    assert wave_1 is not None and wave_1.ServerResults[0].JobId == died[0]


def test_an_execution_runs_through_the_deployed_stack() -> None:
    """Issue 10, item 5: ``drsorch deploy template``'s stack on moto's CloudFormation (its
    table, function and state machine) runs a plan to COMPLETED, recorded in the table
    that the function's environment names."""
    from drsorch.stepfunctions.template import template_text

    plan = make_plan(4, waves=2, servers_per_wave=2)
    with sfn_world(plan, seed=4, stack_template=template_text("yaml")) as h:
        assert h.store.table != "history"  # the stack's table, not the harness's
        started = h.start(key="deployed")
        end = h.wait_for_end(started)
        assert end["status"] == "SUCCEEDED", h.trail()
        record = h.record(started)
        assert record.Status is ExecutionStatus.COMPLETED
        assert set(h.launched().values()) == {1}
        assert len(h.launched()) == 4
