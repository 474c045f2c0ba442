"""The command line's side of the serverless engine (issue 10, item 3).

``drsorch run PLAN --stepfunctions ARN [--idempotency-key K]`` starts the execution on the
deployed state machine (:mod:`drsorch.stepfunctions.starting`) and returns at once: the
workflow drives it from then on, and ``history``/``show``/``approve``/``cancel`` on the
stack's table follow it. ``approve`` and ``cancel`` leave their request in the store as for
a local engine and, when the workflow waits for an approval with a task token, complete
that token (SendTaskSuccess) so the workflow takes the request at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError

from drsorch.aws.errors import map_error
from drsorch.aws.session import aws_session, client_config
from drsorch.clock import RealClock
from drsorch.errors import RefusedError
from drsorch.plan import Plan
from drsorch.store import open_store
from drsorch.store.base import HistoryStore
from drsorch.text import printable
from drsorch.wiring import caller_identity

__all__ = ["start_on_stepfunctions", "wake_workflow"]


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def _sfn_error(exc: Exception, operation: str) -> RefusedError:
    return RefusedError(f"Step Functions {operation} failed: {map_error(exc, operation=operation)}")


def start_on_stepfunctions(
    plan: Plan,
    *,
    state_machine_arn: str,
    key: str | None,
    store_url: str | None,
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    as_json: bool,
) -> None:
    """Start (or find again) the execution on the state machine; say which, and how to
    follow it."""
    from drsorch.cli.render import echo_json
    from drsorch.stepfunctions.starting import execution_names, start
    from drsorch.store.dynamodb import DynamoStore

    execution_names(state_machine_arn, key)  # a bad ARN is refused before anything else
    store = open_store(store_url)
    try:
        if not isinstance(store, DynamoStore):
            raise RefusedError(
                "--stepfunctions needs the stack's DynamoDB store, which its Lambda reads: "
                "pass --store dynamodb://TABLE?region=R (the stack's StoreUrl output) or set "
                "DRSORCH_STORE; nothing was started"
            )
        machine_region = _region_of(state_machine_arn)
        try:
            session = aws_session(profile, machine_region)
            sts = session.client("sts", endpoint_url=endpoint_url, config=client_config())
            sfn = session.client("stepfunctions", endpoint_url=endpoint_url, config=client_config())
        except BotoCoreError as exc:
            raise RefusedError(f"cannot reach AWS: {exc}") from exc
        identity = caller_identity(sts)
        target = plan.target
        try:
            started = start(
                plan,
                store=store,
                sfn=sfn,
                state_machine_arn=state_machine_arn,
                key=key,
                clock=RealClock(),
                initiated_by=identity["Arn"],
                source_account_id=identity["Account"],
                target_account_id=target.account_id if target else identity["Account"],
                region=region or (target.region if target else None) or machine_region or "",
                endpoint_url=endpoint_url,
            )
        except (BotoCoreError, ClientError) as exc:
            raise _sfn_error(exc, "StartExecution") from exc
    finally:
        store.close()
    if as_json:
        echo_json(started.to_dict())
        return
    said = "started" if started.started else "already started with this idempotency key"
    click.echo(
        printable(
            f"execution {started.execution_id} {said} on Step Functions "
            f"({started.status}): {started.workflow_arn}\n"
            f"follow it: drsorch show {started.execution_id} "
            f"--store {store_url or '$DRSORCH_STORE'}"
        )
    )


def wake_workflow(store: HistoryStore, execution_id: str) -> str | None:
    """Complete the approval task the execution's workflow waits on, if it waits on one, so
    its next step takes the request just left in the store. What was done, for the
    operator (None: no workflow waits). RefusedError when the token cannot be sent."""
    saved = store.get_state(execution_id)
    driver = saved.get("driver") if isinstance(saved, Mapping) else None
    token = driver.get("task_token") if isinstance(driver, Mapping) else None
    if not isinstance(driver, Mapping) or not isinstance(token, str) or not token:
        return None
    workflow = str(driver.get("execution_arn") or "")
    try:
        session = aws_session(None, _region_of(workflow))
        sfn: Any = session.client("stepfunctions", config=client_config())
        sfn.send_task_success(taskToken=token, output='{"Woken": "by drsorch"}')
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken"):
            return "its workflow is between steps: its next step takes the request"
        raise _not_woken(map_error(exc, operation="SendTaskSuccess")) from exc
    except BotoCoreError as exc:
        raise _not_woken(exc) from exc
    return f"its workflow ({workflow}) was woken to take it"


def _not_woken(why: object) -> RefusedError:
    return RefusedError(
        f"the request is in the store, but the workflow that waits for it could not be woken "
        f"({why}); it takes the request when its wait ends, or run this again with "
        "credentials allowed states:SendTaskSuccess"
    )
