"""The layout of the engine state, one ``TypedDict`` per level: the truth mypy checks every
key against, and what :func:`drsorch.core.state.load_state` validates a saved state by.

The state stays plain JSON (design §1, invariant 2): dicts, lists, strings, numbers,
booleans and null. Statuses and phases are string enums, which ``json.dumps`` writes as
their strings; a loaded state gets the enum members back. Numbers keep the type they were
saved with (an ``int`` stays an ``int``), so a resumed execution saves what it loaded.
Times are epoch seconds on the engine's clock; ``None`` (JSON ``null``) is "not yet".

::

    ExecutionState                        one execution (``State``)
    ├── config: EngineConfig              polling, timeouts and DRS quotas it runs with
    ├── waves: [WaveState]                in WaveNumber order
    │   └── health: WaveHealthCheck       the wave's resolved health-check settings
    ├── servers: {server id: ServerState}
    │   └── last_seen: InstanceHealth     the last EC2 health seen, while checking it
    ├── launches: {token: LaunchState}    one StartRecovery of a group of servers each
    └── errors: [RecordedError]           the history record's Errors, as they happened

The pydantic annotations (``Annotated[..., FROM_STRING]``, :data:`Seconds`) only matter to
the validation of a loaded state; to mypy and at run time these are plain dicts. Key order
here is the order the engine writes them (the validated copy is built in this order).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypeAlias

from pydantic import ConfigDict, GetPydanticSchema, Strict, with_config
from pydantic_core import core_schema

# pydantic reads TypedDicts from typing_extensions only, before Python 3.12.
from typing_extensions import TypedDict

from drsorch.core.statuses import DispatchStatus, ExecutionStatus, Phase, ServerStatus, WaveStatus
from drsorch.plan.model import HealthRequirement, WaveKind

__all__ = [
    "DriverDetails",
    "EngineConfig",
    "EnvironmentDetails",
    "ExecutionState",
    "ExecutionType",
    "InstanceHealth",
    "LaunchState",
    "RecordedError",
    "Seconds",
    "ServerState",
    "WaveHealthCheck",
    "WaveSelector",
    "WaveState",
]

#: A saved state is read strictly: no ``"5"`` for 5, no ``1`` for true, no unknown key.
_STRICT = ConfigDict(strict=True, extra="forbid")

#: ...except that a status or phase is read from its string, as JSON holds it.
FROM_STRING = Strict(False)

#: A number of seconds or a time: an int or a float, loaded as the type it was saved as
#: (a ``float`` field would load 300 as 300.0, and a resumed state would save it changed).
Seconds: TypeAlias = Annotated[
    int | float,
    GetPydanticSchema(
        lambda _type, _handler: core_schema.union_schema(
            [core_schema.int_schema(strict=True), core_schema.float_schema(strict=True)],
            custom_error_type="number",
            custom_error_message="Input should be a number (an int or a float)",
        )
    ),
]

ExecutionType: TypeAlias = Literal["DRILL", "RECOVERY"]


@with_config(_STRICT)
class EngineConfig(TypedDict):
    """How the engine polls, times out and stays within DRS's quotas (``DEFAULT_CONFIG``)."""

    job_poll_seconds: Seconds  # one DescribeJobs for all active jobs this often
    launch_timeout_seconds: Seconds  # a server still launching after this is FAILED
    requeue_seconds: Seconds  # wait before retrying a launch DRS refused for quota
    max_requeues: int  # refusals for quota before a launch fails
    max_api_failures: int  # consecutive failed polls before the execution fails
    max_jobs: int  # DRS: concurrent jobs in progress
    max_servers_in_jobs: int  # DRS: source servers across all active jobs
    max_servers_per_job: int  # DRS: source servers in one job


@with_config(_STRICT)
class WaveHealthCheck(TypedDict):
    """A wave's health-check settings, resolved (wave, else plan Defaults, else built-in)."""

    enabled: bool  # false: a LAUNCHED server is COMPLETED once its EC2 instance is known
    interval: int  # PollIntervalSeconds
    max_polls: int  # MaxPolls: polls before the server is FAILED unhealthy
    require: HealthRequirement  # RUNNING, or STATUS_OK (running and both checks ok)


@with_config(_STRICT)
class WaveSelector(TypedDict):
    """A wave's ServerTags and what the preflight resolved them to (state version 2)."""

    tags: dict[str, str]  # a server with every one of these tags, each with this value
    #: The ids the tags matched, in id order, once the preflight resolved them (they are then
    #: in the wave's ``order`` and in ``servers``); None before. Never resolved again.
    matched: list[str] | None
    #: The wave's MaxFailedServers / MaxFailedPercent (else the plan Defaults'), turned into
    #: ``max_failed`` once the number of servers is known.
    max_failed_servers: int | None
    max_failed_percent: int | None


@with_config(_STRICT)
class WaveState(TypedDict):
    """One wave of the plan and how far it got."""

    number: int  # WaveNumber
    name: str  # WaveName, or "Wave N"
    deps: list[int]  # WaveNumbers it waits for
    wait: int  # WaitTimeSeconds after its dependencies completed
    type: WaveKind  # PARALLEL or SEQUENTIAL
    order: list[str]  # its server ids, in launch order
    health: WaveHealthCheck
    pause_before: bool  # PauseBefore: wait for an approval before starting
    approved: bool  # the approval came
    #: PauseBefore: seconds it waits for its approval before it is CANCELLED (states saved
    #: before approvals had a timeout lack it: 24 h).
    approval_timeout: NotRequired[int]
    status: Annotated[WaveStatus, FROM_STRING]
    start_time: Seconds | None
    end_time: Seconds | None
    ready_at: Seconds | None  # WAITING: when its wait is over
    next_index: int  # SEQUENTIAL: position in ``order`` of the next server to launch
    #: MaxFailedServers / MaxFailedPercent, resolved to a count: servers that may end FAILED
    #: with the wave still COMPLETED. States saved before it was kept lack it: 0.
    max_failed: NotRequired[int]
    #: ServerTags: servers this wave selects by tags (version 2; absent: ServerIds only).
    selector: NotRequired[WaveSelector]
    #: PauseBefore: when it began waiting for its approval; who approved it, and when
    #: (keys added as it happens, so they come last).
    paused_at: NotRequired[Seconds]
    approved_by: NotRequired[str | None]
    approved_at: NotRequired[Seconds]


@with_config(_STRICT)
class InstanceHealth(TypedDict):
    """What EC2 said of an instance's health (DescribeInstanceStatus)."""

    state: str  # "running", "pending", ..., "not-found", or why it is not known yet
    instance_status: str | None  # "ok", "initializing", ...
    system_status: str | None


@with_config(_STRICT)
class ServerState(TypedDict):
    """One source server of the plan and its recovery."""

    wave: int  # the WaveNumber it belongs to
    status: Annotated[ServerStatus, FROM_STRING]
    job_id: str | None  # the DRS job launching it
    token: str | None  # its launch (a key of ``launches``)
    recovery_instance_id: str | None
    ec2_instance_id: str | None
    start_time: Seconds | None  # its launch was sent
    launched_time: Seconds | None  # DRS reported it LAUNCHED
    healthy_time: Seconds | None  # the health check passed
    end_time: Seconds | None
    error: str | None  # why it FAILED, was SKIPPED or CANCELLED
    polls: int  # health polls spent so far
    next_poll_at: Seconds | None  # its next health poll (or EC2 lookup)
    last_seen: InstanceHealth | None
    #: What DRS calls it (DescribeSourceServers' hostname, else FQDN), once the preflight
    #: described it; None when DRS gives neither. States saved before it was kept lack it.
    hostname: NotRequired[str | None]


@with_config(_STRICT)
class LaunchState(TypedDict):
    """One StartRecovery of a group of servers of one wave: one DRS job, found again by its
    token (the key in ``launches``, also the job's tag) after a lost answer or a crash."""

    wave: int
    servers: list[str]
    job_id: str | None  # once DRS accepted it
    status: Annotated[DispatchStatus, FROM_STRING]
    not_before: Seconds | None  # requeued after a quota refusal: not sent before this
    requeues: int
    sent_at: Seconds | None  # last sent
    first_sent_at: Seconds | None  # first sent: its job is looked for from then on
    maybe_sent: bool  # sent before the engine restarted: its job may exist


@with_config(_STRICT)
class RecordedError(TypedDict):
    """One error of the execution, as the history record's ``Errors`` shows it."""

    Message: str
    WaveNumber: int | None
    ServerId: str | None
    JobId: str | None


@with_config(_STRICT)
class EnvironmentDetails(TypedDict):
    """Where the execution runs, as the history record's ``Environment`` shows it."""

    kind: Literal["simulator", "aws"]  # the same as the state's ``environment``
    endpoint: str | None  # aws: the --endpoint-url it was sent to (None: AWS's own)
    seed: int | None  # simulator: the seed it runs with
    scenario: str | None  # simulator: the scenario file, as given (None: no scenario)


@with_config(_STRICT)
class DriverDetails(TypedDict):
    """Who drives the execution when it is not a process of its own: a Step Functions
    workflow execution (issue 10), and the task token its approval task waits with."""

    kind: Literal["stepfunctions"]
    execution_arn: str  # the workflow execution (also the lease holder's name)
    task_token: str | None  # set while the workflow waits for an approval


@with_config(_STRICT)
class ExecutionState(TypedDict):
    """One execution: everything the core needs to continue it after a crash."""

    version: int  # of this layout: STATE_VERSION
    execution_id: str
    plan: dict[str, Any]  # the plan as written (PascalCase), for a resume
    environment: str | None  # "simulator" or "aws", set by the runner
    plan_id: str
    plan_name: str
    execution_type: ExecutionType
    is_drill: bool
    status: Annotated[ExecutionStatus, FROM_STRING]
    phase: Annotated[Phase, FROM_STRING]
    start_time: Seconds
    end_time: Seconds | None
    deadline: Seconds  # start + TimeoutSeconds: FAILED past it
    timeout_seconds: int  # TimeoutSeconds
    initiated_by: str
    source_account_id: str
    target_account_id: str
    region: str
    config: EngineConfig
    waves: list[WaveState]
    wave_index: dict[str, int]  # str(WaveNumber) -> position in ``waves``
    servers: dict[str, ServerState]
    launches: dict[str, LaunchState]  # by token, in the order they were queued
    job_tokens: dict[str, str]  # DRS job id -> token of its launch
    resolve_queue: list[str]  # recovery instance ids whose EC2 instance to look up
    preflight_sent: bool  # DescribeSourceServers went out
    next_job_poll: Seconds | None
    api_failures: int  # consecutive failed polls
    seq: int  # launches queued so far (numbers the tokens)
    revision: int  # moves with every change a history record would show
    errors: list[RecordedError]
    notices: list[str]  # things a person may want to know that are not errors
    cancel_requested: bool
    #: Secrets left out of the saved ``plan`` (:mod:`drsorch.redaction`); saved states only.
    redacted: NotRequired[list[str]]
    #: What became of the end-of-execution notification (the record's Notification).
    notification: NotRequired[dict[str, str | None]]
    #: Where it runs (the record's Environment); states saved before it was kept lack it.
    environment_details: NotRequired[EnvironmentDetails]
    #: Since when some wave has been waiting for its approval (None or absent: none is;
    #: added when the first wave pauses, so it comes last);
    #: the deadline moves on by that time once none waits (approvals do not count).
    paused_since: NotRequired[Seconds | None]
    #: A Step Functions workflow drives it (absent: a local engine, ``run`` or ``resume``).
    driver: NotRequired[DriverDetails]
