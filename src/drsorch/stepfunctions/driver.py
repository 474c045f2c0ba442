"""The Step Functions driver: what each Lambda task of the state machine does (issue 10).

One execution, many short invocations, none of which keeps anything in memory. Each one:

1. takes the execution's lease in the store, in the name of the workflow execution that
   drives it (``stepfunctions <execution ARN>``): a retried step takes its own lease back at
   once, while a local ``drsorch run``/``resume`` that drives the same execution keeps
   every step out (design §5);
2. loads the saved engine state, exactly as ``drsorch resume`` does;
3. drives the same :class:`~drsorch.runner.Runner` until the engine would sleep, needs an
   approval, or ends (:meth:`Runner.step_until_wait`);
4. saves, and returns what the state machine needs (:class:`StepResult`).

A step that died after a StartRecovery went out left that launch SENT in the saved state:
the next step starts with the core's ``Resume``, which looks for the job by its token
before it launches anything (nothing launches twice). Operator requests (``drsorch
approve``/``cancel``) come through the store as for a local engine; while the workflow waits
for an approval (``.waitForTaskToken``) its task token is kept in the state, so the request
can wake it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from drsorch.clock import Clock
from drsorch.core import advance
from drsorch.core import messages as m
from drsorch.core.state import State, load_state
from drsorch.core.statuses import DispatchStatus, ExecutionStatus, Phase, WaveStatus
from drsorch.errors import LeaseHeldError, RefusedError
from drsorch.history import ErrorEntry
from drsorch.keeping import Keeper
from drsorch.plan import Plan
from drsorch.resumption import plan_as_it_ran
from drsorch.runner import Runner, RunOptions
from drsorch.stepfunctions.definition import STEP_TIMEOUT_SECONDS
from drsorch.stepping import earliest_wake, finished
from drsorch.store.base import HistoryStore, Lease, LeaseStore
from drsorch.text import printable

__all__ = [
    "MAX_WAIT_SECONDS",
    "PAUSED_WAIT_SECONDS",
    "StepFunctionsDriver",
    "StepResult",
    "WorldFactory",
    "holder_for",
]

#: The longest Wait between two steps: a cancel through the store is honoured this soon.
MAX_WAIT_SECONDS = 300
#: ... and while a wave waits for its approval beside other work, an approval this soon.
PAUSED_WAIT_SECONDS = 30


def holder_for(workflow_execution_arn: str) -> str:
    """The lease holder of the steps of one workflow execution."""
    return f"stepfunctions {workflow_execution_arn}"


class AdapterWorld(Protocol):
    """What a step needs of the world it runs in (:class:`drsorch.wiring.World` has it)."""

    drs: Any
    ec2: Any
    notify: Any


#: Builds the DRS/EC2 adapters (and the notifier) for a saved execution of ``plan``:
#: :func:`drsorch.wiring.real_aws` in Lambda, the simulator in tests.
WorldFactory = Callable[[Plan, State], AdapterWorld]

#: Completes a waiting task token (SendTaskSuccess); None: this driver cannot.
TokenSender = Callable[[str, Mapping[str, Any]], None]


@dataclass(frozen=True)
class StepResult:
    """What the state machine's Choice and Wait states read of a step."""

    status: str
    finished: bool
    await_approval: bool
    wait_seconds: int

    def payload(self) -> dict[str, Any]:
        return {
            "Status": self.status,
            "Finished": self.finished,
            "AwaitApproval": self.await_approval,
            "WaitSeconds": self.wait_seconds,
        }


def first_event(state: State) -> m.Event:
    """What a step feeds the core first: ``Start`` for a new execution, ``Resume`` after a
    step that died with a call in flight (a launch SENT, a preflight asked), else ``Tick``."""
    if state["phase"] == Phase.PREFLIGHT:
        return m.Resume() if state["preflight_sent"] else m.Start()
    if any(launch["status"] == DispatchStatus.SENT for launch in state["launches"].values()):
        return m.Resume()
    return m.Tick()


def only_approvals_left(state: State) -> bool:
    """Whether nothing moves until an approval comes: some wave waits for one, and no wave
    is launching, health-checking or waiting out its WaitTimeSeconds."""
    waiting = False
    for wave in state["waves"]:
        status = WaveStatus(wave["status"])
        if status in (WaveStatus.RUNNING, WaveStatus.WAITING):
            return False
        if status == WaveStatus.PAUSED and not wave["approved"]:
            waiting = True
    return waiting


def _any_paused(state: State) -> bool:
    return any(WaveStatus(w["status"]) == WaveStatus.PAUSED for w in state["waves"])


def _error_text(error: Mapping[str, Any] | None) -> str:
    """A workflow's caught error (``{"Error": ..., "Cause": ...}``), in one line."""
    if not isinstance(error, Mapping):
        return "an unknown error"
    name = printable(str(error.get("Error") or "an error"))
    cause = error.get("Cause")
    if isinstance(cause, str):
        try:  # a Lambda error's Cause is its JSON: errorMessage, errorType, stackTrace
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping) and parsed.get("errorMessage"):
            cause = str(parsed["errorMessage"])
        cause = printable((cause.splitlines() or [""])[0])[:500]
        return f"{name}: {cause}" if cause else name
    return name


class StepFunctionsDriver:
    """Carries out the state machine's Lambda tasks on one store (see the module text)."""

    def __init__(
        self,
        *,
        store: HistoryStore,
        clock: Clock,
        world_for: WorldFactory,
        send_task_success: TokenSender | None = None,
        external_id: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.store, self.clock, self.world_for = store, clock, world_for
        self.send_task_success = send_task_success
        #: The ExternalId of the execution being driven: the event's (the workflow's input
        #: carries the plan's Target.ExternalId), else ``external_id``.
        self.external_id = self.default_external_id = external_id
        self.log = log or (lambda text: None)

    # -- the actions ---------------------------------------------------------------------------

    def step(self, execution_id: str, workflow: str) -> StepResult:
        """Drive the execution until it would sleep; what the workflow does next."""
        runner, state = self._take(execution_id, workflow)
        driver = state.get("driver")
        if driver is not None and driver.get("task_token"):
            driver["task_token"] = None  # the approval task it belonged to is over
        commands = runner.step_until_wait(state, first_event(state), self._options(state))
        return self._after(runner, state, commands)

    def await_approval(self, execution_id: str, workflow: str, token: str) -> StepResult:
        """The workflow waits for an approval with ``token``: keep it in the state, so
        ``drsorch approve``/``cancel`` can complete it. If the wait is already over (a
        request came in meanwhile, the approval timed out), complete it at once."""
        runner, state = self._take(execution_id, workflow)
        commands = runner.step_until_wait(state, first_event(state), self._options(state))
        if not finished(commands) and only_approvals_left(state):
            state["driver"]["task_token"] = token  # (``_take`` made the driver's details)
            runner.keeper.save(state, force=True)
            # A request left after the step above read the store, but before the token was
            # saved, found no token to complete: take it now (one of the two sees the other).
            commands = runner.step_until_wait(state, m.Tick(), self._options(state))
        result = self._after(runner, state, commands)
        if not result.await_approval:
            self._complete(token, result)
        return result

    def finalize(
        self, execution_id: str, workflow: str, error: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Record the execution FAILED with the workflow's ``error``, unless it already
        ended or another engine drives it (its lease is live): no record is left RUNNING."""
        holder = holder_for(workflow)
        keeper = Keeper(self.store, self.clock, holder=holder)
        current = self.store.lease_of(execution_id) if isinstance(self.store, LeaseStore) else None
        takeover = current is not None and self.clock.now() >= current.expires_at
        try:
            keeper.claim(execution_id, takeover=takeover)
        except LeaseHeldError as exc:
            self.log(f"not finalized: {exc}")
            return {"Finalized": False, "Reason": str(exc)}
        try:
            record = self.store.get(execution_id)
            if record is None:
                return {"Finalized": False, "Reason": f"no execution {execution_id} in the store"}
            if record.Status.terminal:
                return {"Finalized": False, "Status": record.Status.value}
            message = f"the Step Functions workflow could not go on: {_error_text(error)}"
            saved = self.store.get_state(execution_id)
            state = load_state(saved, execution_id=execution_id) if saved is not None else None
            if state is None or ExecutionStatus(state["status"]).terminal:
                # No state to finalize through the core: the record alone says FAILED.
                bare = record.model_copy(
                    update={
                        "Status": ExecutionStatus.FAILED,
                        "EndTime": self.clock.now(),
                        "Errors": [*record.Errors, ErrorEntry(Message=message)],
                    }
                )
                lease = Lease(holder, self.clock.now() + keeper.lease_seconds)
                self.store.put(bare, None, lease=lease)
            else:
                advance(state, m.ApiFailed("drsorch", message, fatal=True), self.clock.now())
                keeper.save_broken(state, message, self.log)
            self.log(f"execution {execution_id} finalized FAILED: {message}")
            return {"Finalized": True, "Status": ExecutionStatus.FAILED.value, "Error": message}
        finally:
            keeper.release(execution_id)

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """One Lambda event: the state machine's ``{"Action": ...}`` or EventBridge's
        "Step Functions Execution Status Change" for a workflow stopped from outside."""
        if event.get("source") == "aws.states":
            return self._status_changed(event)
        action = event.get("Action")
        execution_id = event.get("ExecutionId")
        workflow = event.get("Driver")
        if not isinstance(execution_id, str) or not isinstance(workflow, str):
            raise RefusedError("a drsorch step needs ExecutionId and Driver (strings)")
        # Set for every event: a warm Lambda container drives many executions, and one
        # without an ExternalId must not assume its role with the previous one's.
        given = event.get("ExternalId")
        self.external_id = str(given) if given else self.default_external_id
        if action == "step":
            return self.step(execution_id, workflow).payload()
        if action == "await_approval":
            token = event.get("TaskToken")
            if not isinstance(token, str):
                raise RefusedError("await_approval needs the task's TaskToken")
            return self.await_approval(execution_id, workflow, token).payload()
        if action == "finalize":
            return self.finalize(execution_id, workflow, event.get("Error"))
        raise RefusedError(f"unknown drsorch action {printable(str(action))[:80]!r}")

    # -- the parts -------------------------------------------------------------------------------

    def _take(self, execution_id: str, workflow: str) -> tuple[Runner, State]:
        """The execution's lease, in the workflow's name, and its saved state; a runner
        on the adapters the execution's target needs."""
        keeper = Keeper(self.store, self.clock, holder=holder_for(workflow))
        keeper.claim(execution_id)  # ours already (a retried step), or free; else refused
        # Loaded as the store holds it: the step's first save writes only what moved.
        state = keeper.load(execution_id, external_id=self.external_id)
        if ExecutionStatus(state["status"]).terminal:
            raise RefusedError(f"execution {execution_id} already ended {state['status']}")
        world = self.world_for(plan_as_it_ran(state, external_id=self.external_id), state)
        runner = Runner(
            drs=world.drs,
            ec2=world.ec2,
            store=self.store,
            clock=self.clock,
            log=self.log,
            warn=self.log,
            keeper=keeper,
            notify=world.notify,
            # A PauseBefore wave waits for an approval through the store (drsorch approve,
            # with the task token): nobody answers here. (The Runner's default refuses, which
            # would cancel the execution at its first PauseBefore wave.)
            approve=lambda wave: None,
        )
        state.setdefault(
            "driver", {"kind": "stepfunctions", "execution_arn": workflow, "task_token": None}
        )
        return runner, state

    def _options(self, state: State) -> RunOptions:
        return RunOptions(
            initiated_by=state["initiated_by"],
            source_account_id=state["source_account_id"],
            target_account_id=state["target_account_id"],
            region=state["region"],
            execution_id=state["execution_id"],
            external_id=self.external_id,
        )

    def _after(self, runner: Runner, state: State, commands: list[m.Command]) -> StepResult:
        """What the workflow does next; the lease kept through its Wait, or given up."""
        execution_id = state["execution_id"]
        status = ExecutionStatus(state["status"]).value
        if finished(commands):
            runner.keeper.release(execution_id)
            return StepResult(status, finished=True, await_approval=False, wait_seconds=0)
        now = self.clock.now()
        wake = earliest_wake(commands)
        until = math.ceil(wake - now) if wake is not None else MAX_WAIT_SECONDS
        if only_approvals_left(state):
            wait, awaiting = max(1, until), True
        else:
            cap = PAUSED_WAIT_SECONDS if _any_paused(state) else MAX_WAIT_SECONDS
            wait, awaiting = min(max(1, until), cap), False
        # Nobody else drives it while the workflow waits (and a step runs at most so long).
        runner.keeper.lease_seconds = wait + STEP_TIMEOUT_SECONDS + 60
        runner.keeper.claim(execution_id)
        return StepResult(status, finished=False, await_approval=awaiting, wait_seconds=wait)

    def _complete(self, token: str, result: StepResult) -> None:
        """End the approval task at once: its wait is over already."""
        if self.send_task_success is None:
            return
        try:
            self.send_task_success(token, result.payload())
        except Exception as exc:  # already completed by a request, or timed out: fine
            self.log(f"could not complete the approval task: {exc}")

    def _status_changed(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """A workflow ended FAILED, TIMED_OUT or ABORTED without finalizing its execution
        (StopExecution, the workflow's own timeout): finalize it now."""
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise RefusedError("an EventBridge event without detail")
        status = str(detail.get("status") or "")
        workflow = detail.get("executionArn")
        try:
            given = json.loads(detail.get("input") or "{}")
        except (TypeError, ValueError):
            given = {}
        execution_id = given.get("ExecutionId") if isinstance(given, Mapping) else None
        if status not in ("FAILED", "TIMED_OUT", "ABORTED") or not isinstance(workflow, str):
            return {"Finalized": False, "Reason": f"nothing to do for a {status} workflow"}
        if not isinstance(execution_id, str):
            return {"Finalized": False, "Reason": "the workflow's input names no ExecutionId"}
        error = {"Error": f"States.{status}", "Cause": f"the workflow {workflow} ended {status}"}
        return self.finalize(execution_id, workflow, error)
