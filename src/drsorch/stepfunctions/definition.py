"""The state machine that drives one execution on AWS Step Functions (issue 10, design §8).

One Standard workflow per execution. Its input is ``{"ExecutionId": ..., "BackstopTime":
..., "ExternalId": ...}`` (ExternalId: the plan's Target.ExternalId, never saved in the
store, or null). The execution's record and state were saved to the store before it
started (:mod:`drsorch.stepfunctions.starting`). Every Lambda task calls the same function
(:mod:`drsorch.stepfunctions.handler`) with an ``Action``::

    Backstop? --past BackstopTime--> BackstopFired -> Finalize -> Failed
       |
      Step (Lambda: run the engine until it would sleep)
       |
    Next? --finished, COMPLETED--> Completed (Succeed)
       |  --finished, otherwise--> Ended (Fail, the record says why)
       |  --only an approval left--> AwaitApproval (.waitForTaskToken) -> Backstop?
       |  --otherwise--> Wait (SecondsPath) -> Backstop?

Every Lambda task is retried on Lambda's service errors, throttling and task failures:
3 attempts, 2 s apart, doubling (Property 26). When the retries are spent, a Catch sends the
error to Finalize, which records the execution FAILED with it (Req 4.3, 9.5). The backstop
(``BackstopTime``, past the plan's TimeoutSeconds and every approval's timeout) catches an
execution that would go on forever; an EventBridge rule (see the template) finalizes one
stopped from outside Step Functions' own flow (StopExecution, a timeout of the workflow).
No record is ever left RUNNING.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "FUNCTION_PLACEHOLDER",
    "FUNCTION_TIMEOUT_SECONDS",
    "RETRIED_ERRORS",
    "RETRY_BACKOFF_RATE",
    "RETRY_INTERVAL_SECONDS",
    "RETRY_MAX_ATTEMPTS",
    "STEP_TIMEOUT_SECONDS",
    "definition_json",
    "state_machine_definition",
]

#: Property 26: a failed Lambda step is tried again 3 times, after 2, 4 and 8 seconds.
RETRY_MAX_ATTEMPTS = 3
RETRY_INTERVAL_SECONDS = 2
RETRY_BACKOFF_RATE = 2.0

#: Lambda's own failures, its throttling, and any error the handler raised
#: (``States.TaskFailed`` matches every task error but a timeout, retried too).
RETRIED_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.TaskFailed",
    "States.Timeout",
]

#: A step that runs longer than this is failed (and retried).
STEP_TIMEOUT_SECONDS = 900
#: The function's own timeout: Lambda stops a step before the workflow gives up on it, so
#: a retried step never runs beside the one it replaces.
FUNCTION_TIMEOUT_SECONDS = STEP_TIMEOUT_SECONDS - 60

#: In the definition, where the Lambda function's ARN goes (a CloudFormation
#: ``DefinitionSubstitutions`` key, or replaced by :func:`definition_json`).
FUNCTION_PLACEHOLDER = "${DrsorchFunctionArn}"


def _retry(errors: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": errors,
            "IntervalSeconds": RETRY_INTERVAL_SECONDS,
            "MaxAttempts": RETRY_MAX_ATTEMPTS,
            "BackoffRate": RETRY_BACKOFF_RATE,
        }
    ]


def _payload(action: str, **more: str) -> dict[str, Any]:
    """The handler's event: the action, the execution, and who drives it (the workflow
    execution's ARN is the lease holder, so a retried step takes over its own lease)."""
    return {
        "Action": action,
        "ExecutionId.$": "$.ExecutionId",
        "Driver.$": "$$.Execution.Id",
        "ExternalId.$": "$.ExternalId",
        **more,
    }


def _invoke(
    function: str, payload: dict[str, Any], *, wait_for_token: bool = False
) -> dict[str, Any]:
    resource = "arn:aws:states:::lambda:invoke"
    return {
        "Type": "Task",
        "Resource": resource + (".waitForTaskToken" if wait_for_token else ""),
        "Parameters": {"FunctionName": function, "Payload": payload},
    }


def state_machine_definition(function_arn: str = FUNCTION_PLACEHOLDER) -> dict[str, Any]:
    """The Amazon States Language definition, its Lambda tasks calling ``function_arn``."""
    to_finalize = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": "Finalize"}
    step = _invoke(function_arn, _payload("step"))
    step.update(
        {
            "TimeoutSeconds": STEP_TIMEOUT_SECONDS,
            "ResultSelector": {
                "Status.$": "$.Payload.Status",
                "Finished.$": "$.Payload.Finished",
                "AwaitApproval.$": "$.Payload.AwaitApproval",
                "WaitSeconds.$": "$.Payload.WaitSeconds",
            },
            "ResultPath": "$.Step",
            "Retry": _retry(RETRIED_ERRORS),
            "Catch": [to_finalize],
            "Next": "Next?",
        }
    )
    await_approval = _invoke(
        function_arn,
        _payload("await_approval", **{"TaskToken.$": "$$.Task.Token"}),
        wait_for_token=True,
    )
    await_approval.update(
        {
            # Until the earliest approval times out: then a step cancels that wave.
            "TimeoutSecondsPath": "$.Step.WaitSeconds",
            "ResultPath": None,
            "Retry": _retry([e for e in RETRIED_ERRORS if e != "States.Timeout"]),
            "Catch": [
                {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Backstop?"},
                to_finalize,
            ],
            "Next": "Backstop?",
        }
    )
    finalize = _invoke(function_arn, _payload("finalize", **{"Error.$": "$.Error"}))
    finalize.update(
        {
            "TimeoutSeconds": STEP_TIMEOUT_SECONDS,
            "ResultPath": "$.Finalized",
            "Retry": _retry(RETRIED_ERRORS),
            "Next": "Failed",
        }
    )
    return {
        "Comment": "drsorch: one execution of a recovery plan (see drsorch.stepfunctions)",
        "StartAt": "Backstop?",
        "States": {
            "Backstop?": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$$.State.EnteredTime",
                        "TimestampGreaterThanPath": "$.BackstopTime",
                        "Next": "BackstopFired",
                    }
                ],
                "Default": "Step",
            },
            "Step": step,
            "Next?": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.Step.Finished", "BooleanEquals": True},
                            {"Variable": "$.Step.Status", "StringEquals": "COMPLETED"},
                        ],
                        "Next": "Completed",
                    },
                    {"Variable": "$.Step.Finished", "BooleanEquals": True, "Next": "Ended"},
                    {
                        "Variable": "$.Step.AwaitApproval",
                        "BooleanEquals": True,
                        "Next": "AwaitApproval",
                    },
                ],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "SecondsPath": "$.Step.WaitSeconds", "Next": "Backstop?"},
            "AwaitApproval": await_approval,
            "BackstopFired": {
                "Type": "Pass",
                "Result": {
                    "Error": "drsorch.Backstop",
                    "Cause": (
                        "the execution ran past its BackstopTime (the plan's TimeoutSeconds "
                        "and every approval's timeout, with an hour to spare)"
                    ),
                },
                "ResultPath": "$.Error",
                "Next": "Finalize",
            },
            "Finalize": finalize,
            "Completed": {"Type": "Succeed"},
            "Ended": {
                "Type": "Fail",
                "Error": "drsorch.ExecutionNotCompleted",
                "Cause": "the execution ended FAILED or CANCELLED: drsorch show ID says why",
            },
            "Failed": {
                "Type": "Fail",
                "Error": "drsorch.EngineFailed",
                "Cause": "a step failed past its retries; the record was finalized FAILED",
            },
        },
    }


def definition_json(function_arn: str = FUNCTION_PLACEHOLDER) -> str:
    """The definition as the JSON text CreateStateMachine takes."""
    return json.dumps(state_machine_definition(function_arn), indent=2)
