"""The Lambda function behind every task of drsorch's state machine (issue 10).

Entry point: ``drsorch.stepfunctions.handler.handler``. Its environment names the store
(``DRSORCH_STORE=dynamodb://TABLE?region=R``, the stack's table). AWS is reached with the
function's own role, and the plan's Target.RoleArn is assumed from it as ``drsorch run
--aws`` does (:func:`drsorch.wiring.real_aws`). What each event does is
:class:`~drsorch.stepfunctions.driver.StepFunctionsDriver`'s.

A cold start imports only what a step needs: the engine, boto3 and the store; not the
command line, the simulator or the report renderers (``bench/bench_coldstart.py``). The
store and the driver are kept for the warm invocations that follow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from drsorch.stepfunctions.driver import StepFunctionsDriver

__all__ = ["handler"]

_DRIVER: StepFunctionsDriver | None = None


def handler(event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
    """One task of the state machine (or EventBridge's status change of a workflow)."""
    return _driver().handle(event)


def _driver() -> StepFunctionsDriver:
    global _DRIVER
    if _DRIVER is None:
        _DRIVER = build_driver(os.environ)
    return _DRIVER


def build_driver(environ: Mapping[str, str]) -> StepFunctionsDriver:
    """The driver a Lambda container keeps: its store, the wall clock, AWS."""
    from drsorch.clock import RealClock
    from drsorch.errors import RefusedError
    from drsorch.stepfunctions.driver import StepFunctionsDriver
    from drsorch.store import open_store

    url = environ.get("DRSORCH_STORE")
    if not url:
        raise RefusedError("DRSORCH_STORE is not set: the function needs its stack's table")
    clock = RealClock()
    endpoint_url = environ.get("DRSORCH_ENDPOINT_URL") or None

    def world_for(plan: Any, state: Any) -> Any:
        from drsorch.wiring import real_aws

        return real_aws(
            plan,
            profile=None,
            region=state["region"],
            clock=clock,
            endpoint_url=endpoint_url,
            execution_id=state["execution_id"],
        )

    def send_task_success(token: str, output: Mapping[str, Any]) -> None:
        import boto3

        # The function's own region: a task token is completed where its workflow runs.
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        client = boto3.client("stepfunctions", region_name=region)
        client.send_task_success(taskToken=token, output=json.dumps(dict(output)))

    return StepFunctionsDriver(
        store=open_store(url),
        clock=clock,
        world_for=world_for,
        send_task_success=send_task_success,
        log=lambda text: print(text, flush=True),  # CloudWatch Logs, the function's group
    )
