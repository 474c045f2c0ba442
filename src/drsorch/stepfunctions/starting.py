"""Starting an execution on the deployed state machine, idempotently (Property 27, Req 9.2).

``drsorch run PLAN --stepfunctions ARN [--idempotency-key K]``:

1. the ExecutionId and the workflow's name are derived from the key (a UUID of the state
   machine and the key), so the same key always names the same execution;
2. the new execution's RUNNING record and engine state are saved to the store first,
   under a lease in the workflow's name (its steps take it on);
3. the workflow is started with ``{"ExecutionId", "BackstopTime", "ExternalId"}``.

Starting again with the same key and the same plan returns the same ExecutionId and
workflow and launches nothing (a workflow already started is not started again; one that a
crash kept from starting is started now). The same key with another plan is refused, naming
the execution the key already started.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drsorch.clock import Clock
from drsorch.core import advance, new_execution
from drsorch.core import messages as m
from drsorch.core.state import load_state
from drsorch.core.state_types import EnvironmentDetails
from drsorch.errors import RefusedError
from drsorch.keeping import Keeper
from drsorch.plan import Plan
from drsorch.redaction import for_disk
from drsorch.stepfunctions.definition import STEP_TIMEOUT_SECONDS
from drsorch.stepfunctions.driver import holder_for
from drsorch.store.base import HistoryStore

__all__ = ["BACKSTOP_MARGIN_SECONDS", "Started", "backstop_time", "execution_names", "start"]

#: The backstop fires this long after the plan's TimeoutSeconds and approval timeouts.
BACKSTOP_MARGIN_SECONDS = 3600


@dataclass(frozen=True)
class Started:
    """What ``start`` did: the execution, its workflow, and whether this call started it."""

    execution_id: str
    workflow_arn: str
    started: bool
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "ExecutionId": self.execution_id,
            "WorkflowArn": self.workflow_arn,
            "Started": self.started,
            "Status": self.status,
        }


def execution_names(state_machine_arn: str, key: str | None) -> tuple[str, str, str]:
    """The ExecutionId, the workflow's name and its ARN for an idempotency ``key`` (None:
    a new random one)."""
    parts = state_machine_arn.split(":")
    if (
        len(parts) != 7
        or parts[0] != "arn"
        or parts[2] != "states"
        or parts[5] != "stateMachine"
        or not parts[6]
    ):
        raise RefusedError(
            f"{state_machine_arn!r} is not a state machine ARN "
            "(arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)"
        )
    if key is None:
        execution_id = str(uuid.uuid4())
    else:
        # A UUID of version 4's shape (as every ExecutionId), its bits from the key's hash.
        digest = hashlib.sha256(f"drsorch\n{state_machine_arn}\n{key}".encode()).digest()
        execution_id = str(uuid.UUID(bytes=digest[:16], version=4))
    name = f"drsorch-{execution_id}"
    workflow_arn = ":".join([*parts[:5], "execution", parts[6], name])
    return execution_id, name, workflow_arn


def backstop_time(start_time: float, plan: Plan) -> str:
    """When the workflow gives up on an execution that would go on forever: after its
    TimeoutSeconds, every PauseBefore wave's approval timeout, and an hour to spare."""
    approvals = sum(1 for w in plan.waves if w.pause_before) * plan.approval_timeout_seconds
    at = start_time + plan.timeout_seconds + approvals + BACKSTOP_MARGIN_SECONDS
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fingerprint(plan_mapping: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(plan_mapping, sort_keys=True).encode()).hexdigest()


def start(
    plan: Plan,
    *,
    store: HistoryStore,
    sfn: Any,
    state_machine_arn: str,
    key: str | None,
    clock: Clock,
    initiated_by: str,
    source_account_id: str,
    target_account_id: str,
    region: str,
    endpoint_url: str | None = None,
) -> Started:
    """Start (or find again) the execution of ``plan`` that ``key`` names (module text)."""
    execution_id, name, workflow_arn = execution_names(state_machine_arn, key)
    holder = holder_for(workflow_arn)
    keeper = Keeper(store, clock, holder=holder)
    keeper.lease_seconds = STEP_TIMEOUT_SECONDS + 60
    record = store.get(execution_id)
    fresh = plan.to_dict()
    if record is not None:
        saved = store.get_state(execution_id)
        state = load_state(saved, execution_id=execution_id) if saved is not None else None
        if state is None or _fingerprint(state["plan"]) != _fingerprint(
            for_disk({"plan": fresh})["plan"]
        ):
            raise RefusedError(
                f"idempotency key {key!r} already started execution {execution_id} of plan "
                f"{record.PlanId} ({record.Status.value}), with another plan; a different "
                "plan needs a different key"
            )
        start_time = state["start_time"]
        if record.Status.terminal:  # it ended (its workflow could not start): not again
            return Started(execution_id, workflow_arn, False, record.Status.value)
    else:
        environment: EnvironmentDetails = {
            "kind": "aws",
            "endpoint": endpoint_url,
            "seed": None,
            "scenario": None,
        }
        state = new_execution(
            plan,
            execution_id=execution_id,
            now=clock.now(),
            initiated_by=initiated_by,
            source_account_id=source_account_id,
            target_account_id=target_account_id,
            region=region,
            environment=environment,
        )
        state["environment"] = "aws"
        state["driver"] = {
            "kind": "stepfunctions",
            "execution_arn": workflow_arn,
            "task_token": None,
        }
        keeper.claim(execution_id)
        keeper.save(state, force=True)  # Req 5.1: the RUNNING record exists first
        start_time = state["start_time"]
    given = {
        "ExecutionId": execution_id,
        "BackstopTime": backstop_time(start_time, plan),
        "ExternalId": plan.target.external_id if plan.target else None,
    }
    try:
        started = _start_workflow(sfn, state_machine_arn, name, workflow_arn, given)
    except Exception as exc:
        if record is None:  # made by this call: it must not stay RUNNING with no driver
            _never_started(keeper, state, clock, exc)
        raise
    current = store.get(execution_id)
    status = current.Status.value if current is not None else "RUNNING"
    return Started(execution_id, workflow_arn, started, status)


def _never_started(keeper: Keeper, state: Any, clock: Clock, exc: BaseException) -> None:
    """End the execution this call saved FAILED: its workflow could not be started, so
    nothing was (or will be) launched. Best effort: the caller raises ``exc`` anyway."""
    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    message = f"the Step Functions workflow could not be started: {reason}"
    advance(state, m.ApiFailed("drsorch", message, fatal=True), clock.now())
    with contextlib.suppress(Exception):
        keeper.save(state, force=True)
        keeper.release(state["execution_id"])


def _start_workflow(
    sfn: Any, state_machine_arn: str, name: str, workflow_arn: str, given: Mapping[str, Any]
) -> bool:
    """Start the workflow ``name`` unless it exists; whether this call started it."""
    try:
        sfn.describe_execution(executionArn=workflow_arn)
        return False
    except sfn.exceptions.ExecutionDoesNotExist:
        pass
    try:
        sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(dict(given))
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        return False  # started meanwhile by the same call made elsewhere
    return True
