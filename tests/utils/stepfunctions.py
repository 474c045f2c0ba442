"""drsorch's real state machine on moto's Step Functions interpreter, for tests (issue 10).

``sfn_world(plan, seed=..., scenario=...)`` is a context manager: inside ``mock_aws`` (in
process: no server, no socket, no Docker) it deploys the real definition
(:func:`~drsorch.stepfunctions.definition.definition_json`) with a fake Lambda function,
and routes every invocation of that function in process to the real
:class:`~drsorch.stepfunctions.driver.StepFunctionsDriver`, whose store is the DynamoDB
store on moto and whose "AWS" is one simulated region (the same world for every step, as
one account would be)::

    with sfn_world(make_plan(1, waves=3)) as h:
        started = h.start(key="drill-1")      # drsorch.stepfunctions.starting.start
        end = h.wait_for_end(started)          # describe_execution, once it is not RUNNING
        h.record(started)                      # the execution's record in the store
        h.launched()                           # {server id: StartRecovery calls that went out}

The workflow's ``Backstop?`` Choice compares timestamps as Step Functions does (moto 5.2
reads only one format, not its own EnteredTime: see ``_timestamp``).

Time: the driver, the simulator and the store share one VirtualClock (starting at
``EPOCH``, in the future, so the workflow's Backstop? -- which compares the real clock's
``$$.State.EnteredTime`` with the input's BackstopTime -- never fires by accident). Wait
states advance it instead of sleeping (``h.waits``: each Wait's seconds); the Retry
back-off advances it too instead of ``time.sleep`` (``h.retry_sleeps``: each back-off's
seconds). ``.waitForTaskToken`` waits really (until SendTaskSuccess) unless
``h.approval_timeouts_after`` is set: then a wait not answered within that many real
seconds times out at once, the virtual clock advanced by the task's whole timeout.

Faults: ``h.fail_next("step", 2)`` makes the next 2 invocations of that action fail as an
unhandled Lambda error (``errorType``, ``errorMessage``), before the driver runs;
``after=k`` lets k invocations of that action through first. ``h.before_invoke`` (a
function of the event and the invocation's number) runs before each invocation, in the
workflow's thread: to leave a request in the store at a chosen step. ``h.invocations``
lists every event and how it ended; ``h.logs`` what the driver logged.

A workflow runs in moto's background thread: ``wait_for_end``/``wait_until`` poll with a
bound (``WAIT_LIMIT`` real seconds). On exit, workflows still running are stopped.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
import types
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import moto.awslambda_simple.models as lambda_models
import moto.stepfunctions.parser.asl.component.common.retry.retrier_decl as retrier_decl
import moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function as wait_fn
import moto.stepfunctions.parser.asl.eval.callback.callback as callback
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations import (  # noqa: E501
    is_operator,
)

from drsorch.clock import VirtualClock
from drsorch.core.state import State, load_state
from drsorch.history import ExecutionRecord
from drsorch.plan import Plan
from drsorch.sim import Scenario, Span, Timing
from drsorch.stepfunctions.definition import FUNCTION_PLACEHOLDER, definition_json
from drsorch.stepfunctions.driver import StepFunctionsDriver
from drsorch.stepfunctions.starting import Started, start
from drsorch.store.dynamodb import DynamoStore
from drsorch.wiring import SimClients, World, simulated
from tests.utils.dynamo import REGION, _session, dynamo_store
from tests.utils.engine import as_plan

__all__ = ["ACCOUNT", "EPOCH", "QUICK", "WAIT_LIMIT", "Invocation", "SfnWorld", "sfn_world"]

#: moto's default account: the state machine's and the simulated region's.
ACCOUNT = "123456789012"
#: The virtual clock's start: 2033-05-18, ahead of the wall clock (see the module text).
EPOCH = 2_000_000_000.0
#: Real seconds a test waits for a workflow at most (a hung workflow fails the test).
WAIT_LIMIT = 60.0

#: The simulator's DRS and EC2 clients, made once for every test (an EC2 client costs a
#: second to build).
_CLIENTS = SimClients()

#: The simulator's default here: launches of 20-40 s and instances running 5-10 s later, so
#: a wave takes two or three steps (a step costs some 15 calls to moto's DynamoDB). Pass
#: it to ``tests.utils.engine.run_plan`` too, to compare with the local runner.
QUICK = Scenario(
    timing=Timing(
        job_start=Span(min=1, max=2),
        launch=Span(min=20, max=40),
        running=Span(min=5, max=10),
        status_ok=Span(min=5, max=10),
        job_end=Span(min=1, max=3),
    )
)

_MOTO_CONFIG: Any = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


class InjectedFailure(Exception):
    """What ``fail_next`` makes an invocation raise."""


@dataclass
class Invocation:
    """One invocation of the function: its event, and its result or error."""

    event: dict[str, Any]
    result: Any = None
    error: str | None = None

    @property
    def action(self) -> str:
        return str(self.event.get("Action"))


@dataclass
class _Failures:
    action: str
    times: int
    after: int
    error: Callable[[], BaseException]


@dataclass
class SfnWorld:
    """What ``sfn_world`` yields: the deployed machine, its driver, and what happened."""

    plan: Plan
    clock: VirtualClock
    store: DynamoStore
    world: World
    driver: StepFunctionsDriver
    sfn: Any
    state_machine_arn: str
    function_arn: str
    #: What the driver logged (CloudWatch Logs, in Lambda).
    logs: list[str]
    invocations: list[Invocation] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    retry_sleeps: list[float] = field(default_factory=list)
    approval_timeouts: list[float] = field(default_factory=list)
    before_invoke: Callable[[Mapping[str, Any], int], None] | None = None
    approval_timeouts_after: float | None = None
    #: The task tokens of every await_approval invocation.
    tokens: list[str] = field(default_factory=list)
    #: Set when the test is over: later invocations are refused.
    closed: bool = False
    _failures: list[_Failures] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- driving -----------------------------------------------------------------------------

    def start(self, key: str | None = "test-key", plan: Plan | None = None) -> Started:
        """Start (idempotently) an execution of ``plan`` (default: the world's) on the
        machine, as ``drsorch run PLAN --stepfunctions ARN --idempotency-key KEY`` does."""
        return start(
            plan or self.plan,
            store=self.store,
            sfn=self.sfn,
            state_machine_arn=self.state_machine_arn,
            key=key,
            clock=self.clock,
            initiated_by="tester",
            source_account_id=ACCOUNT,
            target_account_id=ACCOUNT,
            region=REGION,
        )

    def fail_next(
        self,
        action: str,
        times: int,
        *,
        after: int = 0,
        error: Callable[[], BaseException] | None = None,
    ) -> None:
        """The next ``times`` invocations of ``action`` (after ``after`` more go through)
        fail as an unhandled Lambda error, before the driver sees them."""
        make = error or (lambda: InjectedFailure(f"injected failure of a {action} invocation"))
        with self._lock:
            self._failures.append(_Failures(action, times, after, make))

    def wait_until(
        self, what: Callable[[], Any], *, limit: float = WAIT_LIMIT, every: float = 0.2
    ) -> Any:
        """``what()`` once it is truthy, polling; AssertionError after ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while True:
            value = what()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still waiting after {limit} s: {self.trail()}")
            time.sleep(every)

    def wait_for_end(self, started: Started | str, *, limit: float = WAIT_LIMIT) -> dict[str, Any]:
        """describe_execution of the workflow once it is no longer RUNNING."""
        arn = started if isinstance(started, str) else started.workflow_arn

        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=arn)
            return None if described["status"] == "RUNNING" else described

        result: dict[str, Any] = self.wait_until(ended, limit=limit)
        return result

    # -- reading -----------------------------------------------------------------------------

    def record(self, started: Started | str) -> ExecutionRecord:
        execution_id = started if isinstance(started, str) else started.execution_id
        record = self.store.get(execution_id)
        assert record is not None, execution_id
        return record

    def state(self, started: Started | str) -> State:
        execution_id = started if isinstance(started, str) else started.execution_id
        saved = self.store.get_state(execution_id)
        assert saved is not None, execution_id
        return load_state(saved, execution_id=execution_id)

    def launched(self) -> Counter[str]:
        """How many StartRecovery calls the simulated DRS accepted, per server."""
        sim = self.world.sim
        assert sim is not None
        counts: Counter[str] = Counter()
        for call in sim.recorder.calls:
            if call.operation == "StartRecovery" and call.outcome == "ok":
                for server in call.params.get("sourceServers", []):
                    counts[server["sourceServerID"]] += 1
        return counts

    def history(self, started: Started | str) -> list[dict[str, Any]]:
        arn = started if isinstance(started, str) else started.workflow_arn
        events: list[dict[str, Any]] = self.sfn.get_execution_history(
            executionArn=arn, maxResults=1000
        )["events"]
        return events

    def entered(self, started: Started | str) -> list[str]:
        """The names of the states the workflow entered, in order."""
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(started)
            if "stateEnteredEventDetails" in e
        ]

    def actions(self) -> list[str]:
        return [i.action for i in self.invocations]

    def trail(self) -> str:
        """The last invocations, for a failure message."""
        last = self.invocations[-5:]
        return "; ".join(f"{i.action} -> {i.error or i.result}" for i in last) or "none"

    # -- the fake Lambda ---------------------------------------------------------------------

    def _invoke(self, body: Any, headers: dict[str, str]) -> bytes:
        event = json.loads(body) if isinstance(body, str | bytes) else dict(body)
        invocation = Invocation(event)
        with self._lock:
            number = len(self.invocations)
            self.invocations.append(invocation)
            if isinstance(event.get("TaskToken"), str):
                self.tokens.append(event["TaskToken"])
            failure = self._take_failure(invocation.action)
        try:
            if self.before_invoke is not None:
                self.before_invoke(event, number)
            if failure is not None:
                raise failure
            if self.closed:
                raise InjectedFailure("the test is over")
            invocation.result = self.driver.handle(event)
        except Exception as exc:
            invocation.error = f"{type(exc).__name__}: {exc}"
            headers["x-amz-function-error"] = "Unhandled"
            reply = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return json.dumps(reply).encode()
        return json.dumps(invocation.result).encode()

    def _take_failure(self, action: str) -> BaseException | None:
        for failures in self._failures:
            if failures.action != action or failures.times <= 0:
                continue
            if failures.after > 0:
                failures.after -= 1
                return None
            failures.times -= 1
            return failures.error()
        return None


@contextmanager
def sfn_world(
    plan: Plan | Mapping[str, Any],
    *,
    seed: int = 0,
    scenario: Scenario | None = None,
    start_at: float = EPOCH,
    stack_template: str | None = None,
) -> Iterator[SfnWorld]:
    """The deployed machine on moto, on a simulated region of ``plan`` (module text).
    The default scenario is ``QUICK`` (a wave takes two or three steps).

    ``stack_template`` (a CloudFormation template's text, ``drsorch deploy template``'s):
    the table, function and state machine are the stack's, deployed on moto's
    CloudFormation; the driver's store is the one the function's environment names."""
    the_plan = as_plan(plan)
    clock = VirtualClock(start=start_at)
    with ExitStack() as stack:
        # moto's EC2 backend is built (by its request hook, on the simulator's first EC2
        # call) without its 1 300 default AMIs: a second less per test.
        stack.enter_context(mock.patch.dict(os.environ, {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}))
        stack.enter_context(mock_aws(config=_MOTO_CONFIG))
        if stack_template is not None:
            function_arn, machine, store_url = _deploy_stack(stack_template)
            store = dynamo_store(store_url, clock=clock, create=False)
        else:
            store = dynamo_store(clock=clock)
        world = simulated(
            the_plan,
            seed=seed,
            clock=clock,
            scenario=scenario or QUICK,
            clients=_CLIENTS,
        )
        sfn = _session().client("stepfunctions")
        logs: list[str] = []
        driver = StepFunctionsDriver(
            store=store,
            clock=clock,
            world_for=lambda plan, state: world,
            send_task_success=lambda token, output: sfn.send_task_success(
                taskToken=token, output=json.dumps(dict(output))
            ),
            log=logs.append,
        )
        if stack_template is None:
            function_arn, role = _deploy_function()
            machine = sfn.create_state_machine(
                name="drsorch", definition=definition_json(function_arn), roleArn=role
            )["stateMachineArn"]
        h = SfnWorld(the_plan, clock, store, world, driver, sfn, machine, function_arn, logs)
        stack.enter_context(_patched(h))
        try:
            yield h
        finally:
            _stop_all(h)


def _deploy_stack(template: str) -> tuple[str, str, str]:
    """The stack, with a code zip in S3 (never run: invocations are routed): its function
    and state machine, and the store its function's environment names.

    Two gaps of moto's are bridged here, and nothing else changed: its CloudFormation
    ignores the state machine's ``DefinitionSubstitutions`` (the substitution
    CloudFormation makes, the function's ARN for ``${DrsorchFunctionArn}``, is made here);
    and it keeps a stack's state machine where its interpreter does not look (the classic
    Step Functions backend), so the machine is made again, with the same name, definition
    and role, where the interpreter runs it."""
    from moto.stepfunctions.models import stepfunctions_backends

    s3 = _session().client("s3")
    s3.create_bucket(Bucket="drsorch-code")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("drsorch/__init__.py", "")
    s3.put_object(Bucket="drsorch-code", Key="drsorch.zip", Body=code.getvalue())
    cloudformation = _session().client("cloudformation")
    cloudformation.create_stack(
        StackName="drsorch",
        TemplateBody=template,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "CodeS3Bucket", "ParameterValue": "drsorch-code"},
            {"ParameterKey": "CodeS3Key", "ParameterValue": "drsorch.zip"},
        ],
    )
    described = cloudformation.describe_stacks(StackName="drsorch")["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    function, machine = outputs["FunctionArn"], outputs["StateMachineArn"]
    deployed = stepfunctions_backends[ACCOUNT][REGION].describe_state_machine(machine)
    substituted = deployed.definition.replace(FUNCTION_PLACEHOLDER, function)
    assert json.loads(substituted) == json.loads(definition_json(function))
    made = (
        _session()
        .client("stepfunctions")
        .create_state_machine(name=deployed.name, definition=substituted, roleArn=deployed.roleArn)
    )
    assert made["stateMachineArn"] == machine
    environment = _session().client("lambda").get_function_configuration(FunctionName=function)
    return function, machine, environment["Environment"]["Variables"]["DRSORCH_STORE"]


def _deploy_function() -> tuple[str, str]:
    """A Lambda function (its code never runs: invocations are routed) and a role."""
    iam = _session().client("iam")
    role: str = iam.create_role(RoleName="drsorch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lambdas = _session().client("lambda")
    function = lambdas.create_function(
        FunctionName="drsorch",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return function["FunctionArn"], role


@contextmanager
def _patched(h: SfnWorld) -> Iterator[None]:
    """Invocations to the driver; Wait states and Retry back-offs on the virtual clock;
    callback waits cut short when ``h.approval_timeouts_after`` says so."""

    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        request_headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        return h._invoke(body, response_headers)

    def wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
        h.waits.append(wait_seconds)
        h.clock.advance(wait_seconds)

    def back_off(seconds: float) -> None:
        h.retry_sleeps.append(seconds)
        h.clock.advance(seconds)

    real_wait = callback.CallbackEndpoint.wait

    def callback_wait(self: Any, timeout: float | None = None) -> Any:
        if h.approval_timeouts_after is None or timeout is None:
            return real_wait(self, timeout)
        outcome = real_wait(self, min(timeout, h.approval_timeouts_after))
        if outcome is None:  # timed out: the whole timeout passed in virtual time
            h.approval_timeouts.append(timeout)
            h.clock.advance(timeout)
        return outcome

    with (
        mock.patch.object(is_operator.IsTimestamp, "string_to_timestamp", staticmethod(_timestamp)),
        mock.patch.object(lambda_models.LambdaSimpleBackend, "invoke", invoke),
        mock.patch.object(retrier_decl, "time", types.SimpleNamespace(sleep=back_off)),
        mock.patch.object(wait_fn.WaitFunction, "_wait_interval", wait_interval),
        mock.patch.object(callback.CallbackEndpoint, "wait", callback_wait),
    ):
        yield


def _timestamp(text: Any) -> datetime | None:
    """A Choice's timestamp, as Step Functions reads one: RFC 3339, fractions of a second
    and offsets allowed. moto 5.2 reads only ``%Y-%m-%dT%H:%M:%SZ``, so it cannot compare
    ``$$.State.EnteredTime`` (which it writes as ``isoformat()``, with microseconds and
    ``+00:00``) with anything: the backstop would never fire."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _stop_all(h: SfnWorld) -> None:
    """End the workflows still running and wait (a little) for their ends, so none goes on
    past the test: after ``mock_aws`` its calls would leave for AWS. Invocations are refused
    from now on (a step fails, its retries and Finalize's too, and the workflow ends
    FAILED); a task waiting for its token is failed with SendTaskFailure (moto's
    StopExecution does not end a task waiting for its token)."""
    h.closed = True
    try:
        for token in h.tokens:
            with contextlib.suppress(Exception):  # completed already
                h.sfn.send_task_failure(taskToken=token, error="TestOver", cause="the test ended")
        running = h.sfn.list_executions(
            stateMachineArn=h.state_machine_arn, statusFilter="RUNNING"
        )["executions"]
        for workflow in running:
            h.wait_for_end(workflow["executionArn"], limit=10)
    except Exception:  # the test failed already; say nothing more
        pass
