"""The execution-history record (design §5, seed Req 5).

This module owns the *shape* of what drsorch remembers about an execution: one
:class:`ExecutionRecord` per execution, the same in every store (SQLite, DynamoDB) and in
``--json`` output. It does no I/O; the stores in :mod:`drsorch.store` persist it and the
runner fills it in.

Field names are PascalCase, exactly as in §5. Every field is always present in the JSON:
a field with no value yet is ``null``. The JSON key ``"WaveStatus"`` holds a list of
:class:`WaveRecord` (the name ``WaveStatus`` itself is the wave lifecycle enum).

Life of a record: :meth:`ExecutionRecord.start` creates it RUNNING (Req 5.1), the runner
replaces wave entries as they change (Req 5.2), and :meth:`ExecutionRecord.finalize` gives
it an EndTime, a Duration and a terminal Status (Req 5.3).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus

__all__ = [
    "DURATION_TOLERANCE",
    "CleanupEntry",
    "CleanupFailure",
    "EnvironmentEntry",
    "EnvironmentKind",
    "ErrorEntry",
    "ExecutionKind",
    "ExecutionRecord",
    "ServerResult",
    "WaveRecord",
    "json_schema",
]

#: A finalized record's Duration may differ from EndTime - StartTime by this much (seconds),
#: because a store or a JSON round trip may not keep every bit of a float.
DURATION_TOLERANCE = 1e-3

ExecutionKind = Literal["DRILL", "RECOVERY"]

#: Where an execution ran: drsorch's simulator, or AWS (or an endpoint that speaks it).
EnvironmentKind = Literal["simulator", "aws"]

#: Unix epoch seconds; never negative, never NaN or infinite.
Epoch = Annotated[float, Field(ge=0, allow_inf_nan=False)]
ServerIdStr = Annotated[str, Field(pattern=r"^s-[0-9a-zA-Z]{17}$")]
AccountIdStr = Annotated[str, Field(pattern=r"^[0-9]{12}$")]
_UUID4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


class _Model(BaseModel):
    # Unknown keys are refused so that a typo ("Waves" for "WaveStatus") cannot pass as a
    # record; the serialization schema marks every field required because to_dict() always
    # writes every field, null or not.
    model_config = ConfigDict(
        extra="forbid",
        use_enum_values=False,
        json_schema_serialization_defaults_required=True,
        field_title_generator=lambda name, _info: name,
    )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: enums as their strings, every field present."""
        return self.model_dump(mode="json")


def _check_order(owner: str, times: Iterator[tuple[str, float | None]]) -> None:
    """Raise ValueError unless the non-null times are in non-decreasing order."""
    last_name, last = "", -math.inf
    for name, value in times:
        if value is None:
            continue
        if value < last:
            raise ValueError(f"{owner}: {name} ({value}) is before {last_name} ({last})")
        last_name, last = name, value


class ErrorEntry(_Model):
    """One failure of an execution: what went wrong, and where (Req 5.4)."""

    Message: Annotated[str, Field(min_length=1)]
    WaveNumber: Annotated[int, Field(ge=0)] | None = None
    ServerId: ServerIdStr | None = None
    JobId: str | None = None


class ServerResult(_Model):
    """What happened to one source server of a wave."""

    ServerId: ServerIdStr
    #: What DRS calls the server (its hostname, else its FQDN, from DescribeSourceServers);
    #: None when DRS gives neither, before the preflight, and in older records.
    Hostname: str | None = None
    Status: ServerStatus
    JobId: str | None = None
    RecoveryInstanceId: str | None = None
    Ec2InstanceId: str | None = None
    StartTime: Epoch | None = None  # when its StartRecovery was sent
    LaunchedTime: Epoch | None = None
    HealthyTime: Epoch | None = None
    EndTime: Epoch | None = None
    Error: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_order(
            f"server {self.ServerId}",
            iter(
                [
                    ("StartTime", self.StartTime),
                    ("LaunchedTime", self.LaunchedTime),
                    ("HealthyTime", self.HealthyTime),
                    ("EndTime", self.EndTime),
                ]
            ),
        )
        if self.Status is ServerStatus.FAILED and not self.Error:
            raise ValueError(f"server {self.ServerId} is FAILED but has no Error message")
        return self


class NotificationEntry(_Model):
    """What became of the end-of-execution notification (Req 8): SENT with its SNS message
    id, or FAILED with AWS's reason. A failed notification never changes the Status."""

    TopicArn: str
    Status: Literal["SENT", "FAILED"]
    MessageId: str | None = None
    Error: str | None = None
    ErrorCode: str | None = None


class EnvironmentEntry(_Model):
    """Where an execution ran, so that drill evidence can be told from a rehearsal.

    ``Kind`` is ``"simulator"`` (drsorch's simulator, in this process) or ``"aws"`` (the
    caller's credentials, against AWS or ``Endpoint``). ``Endpoint`` is the
    ``--endpoint-url`` an ``aws`` run was sent to (null: AWS's own endpoints). ``Seed`` and
    ``Scenario`` say which simulation it was: the seed the simulator ran with and the
    scenario file, as given (null: none, the plan's servers only); null for ``aws``."""

    Kind: EnvironmentKind
    Endpoint: str | None = None
    Seed: Annotated[int, Field(ge=0)] | None = None
    Scenario: str | None = None


class CleanupFailure(_Model):
    """A recovery instance the clean-up did not terminate, and why."""

    RecoveryInstanceId: Annotated[str, Field(min_length=1)]
    Message: Annotated[str, Field(min_length=1)]


class CleanupEntry(_Model):
    """What the drill clean-up (``drsorch cleanup``, ``run --cleanup-after``) did: the
    recovery instances DRS terminated (TerminateRecoveryInstances, TERMINATE jobs), those
    it did not and why, and those already gone before it began. ``Status`` is COMPLETED
    (nothing failed), FAILED (nothing terminated, something failed) or PARTIAL (both)."""

    Status: Literal["COMPLETED", "FAILED", "PARTIAL"]
    StartTime: Epoch
    EndTime: Epoch
    Terminated: list[str] = Field(default_factory=list)
    Failures: list[CleanupFailure] = Field(default_factory=list)
    #: Listed in the record but no longer known to DRS when the clean-up began.
    AlreadyGone: list[str] = Field(default_factory=list)
    #: The TERMINATE jobs it started.
    JobIds: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_order("clean-up", iter([("StartTime", self.StartTime), ("EndTime", self.EndTime)]))
        return self


class WaveRecord(_Model):
    """One wave of an execution and its servers' results (Req 5.2)."""

    WaveNumber: Annotated[int, Field(ge=0)]
    WaveName: str
    Status: WaveStatus
    #: The waves it waited for: the plan's Dependencies, or the previous wave when it gave
    #: none. None in records written before drsorch kept them.
    DependsOn: list[Annotated[int, Field(ge=0)]] | None = None
    #: How long its dependents waited after it ended (its WaitTimeSeconds); None in older
    #: records. With DependsOn, what a report's critical path is drawn from.
    WaitTimeSeconds: Annotated[int, Field(ge=0)] | None = None
    StartTime: Epoch | None = None
    EndTime: Epoch | None = None
    ServerResults: list[ServerResult] = Field(default_factory=list)
    #: PauseBefore: who approved the wave (``drsorch approve``, the prompt, --approve-all)
    #: and when; None when it needed no approval or got none.
    ApprovedBy: str | None = None
    ApprovedTime: Epoch | None = None
    #: The plan's ServerTags, when the wave selected servers by tags (None otherwise).
    ServerTags: dict[str, str] | None = None
    #: The servers those tags matched at preflight (also in ServerResults); None otherwise.
    TagMatchedServerIds: list[str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_order(
            f"wave {self.WaveNumber}",
            iter([("StartTime", self.StartTime), ("EndTime", self.EndTime)]),
        )
        return self


class ExecutionRecord(_Model):
    """The whole history of one execution (design §5)."""

    ExecutionId: Annotated[str, Field(pattern=_UUID4, description="a uuid4, lowercase")]
    PlanId: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    PlanName: str
    ExecutionType: ExecutionKind
    Status: ExecutionStatus
    InitiatedBy: str
    StartTime: Epoch
    EndTime: Epoch | None = None
    Duration: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    SourceAccountId: AccountIdStr
    TargetAccountId: AccountIdStr
    Region: Annotated[str, Field(min_length=1)]
    ServerCount: Annotated[int, Field(ge=0)]
    #: Servers that ended FAILED. An execution may be COMPLETED with failed servers when its
    #: waves tolerate them (MaxFailedServers / MaxFailedPercent): "completed with failures".
    #: None in records written before drsorch kept it.
    FailedServerCount: Annotated[int, Field(ge=0)] | None = None
    #: The plan's recovery-time objective (RtoTargetSeconds), which ``drsorch report``
    #: measures the execution against; None when the plan gives none, and in older records.
    RtoTargetSeconds: Annotated[int, Field(ge=1)] | None = None
    Errors: list[ErrorEntry] = Field(default_factory=list)
    #: Set once the end was announced (the plan names an SNS topic); None otherwise.
    Notification: NotificationEntry | None = None
    #: Where it ran; None in records written before drsorch kept it.
    Environment: EnvironmentEntry | None = None
    #: The drill clean-up, once one ran; None otherwise (and in older records).
    Cleanup: CleanupEntry | None = None
    WaveStatus: list[WaveRecord] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.Status.terminal:
            if self.EndTime is None or self.Duration is None:
                raise ValueError(f"a {self.Status} execution needs an EndTime and a Duration")
            if self.EndTime < self.StartTime:
                raise ValueError("EndTime is before StartTime")
            expected = self.EndTime - self.StartTime
            if not math.isclose(self.Duration, expected, abs_tol=DURATION_TOLERANCE):
                raise ValueError(
                    f"Duration {self.Duration} is not EndTime - StartTime ({expected})"
                )
        elif self.EndTime is not None or self.Duration is not None:
            raise ValueError(f"a {self.Status} execution has no EndTime or Duration yet")
        numbers = [wave.WaveNumber for wave in self.WaveStatus]
        if len(numbers) != len(set(numbers)):
            raise ValueError(f"WaveStatus repeats a WaveNumber: {numbers}")
        servers = {s.ServerId for wave in self.WaveStatus for s in wave.ServerResults}
        if len(servers) != sum(len(wave.ServerResults) for wave in self.WaveStatus):
            raise ValueError("a server appears more than once in WaveStatus")
        known = set(numbers)
        for wave in self.WaveStatus:
            strangers = [n for n in wave.DependsOn or () if n not in known or n == wave.WaveNumber]
            if strangers:
                raise ValueError(
                    f"wave {wave.WaveNumber} depends on {strangers}, which are not other waves "
                    "of this execution"
                )
        return self

    @model_validator(mode="after")
    def _failed_count(self) -> Self:
        if self.FailedServerCount is not None and self.WaveStatus:
            # Counted wave by wave with list.count: this runs at every save of the record,
            # over every server of plans of up to 10 000.
            failed = sum(
                [s.Status for s in wave.ServerResults].count(ServerStatus.FAILED)
                for wave in self.WaveStatus
            )
            if failed != self.FailedServerCount:
                raise ValueError(
                    f"FailedServerCount is {self.FailedServerCount}, but {failed} server(s) "
                    "in WaveStatus are FAILED"
                )
        return self

    @property
    def completed_with_failures(self) -> bool:
        """COMPLETED, with servers its waves' tolerance let fail (they stay FAILED)."""
        return self.Status is ExecutionStatus.COMPLETED and bool(self.FailedServerCount)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecutionRecord:
        """Parse and validate a record; raises ``pydantic.ValidationError`` if invalid."""
        return cls.model_validate(data)

    @classmethod
    def start(
        cls,
        *,
        plan_id: str,
        plan_name: str,
        execution_type: ExecutionKind,
        initiated_by: str,
        start_time: float,
        source_account_id: str,
        target_account_id: str,
        region: str,
        server_count: int,
        waves: list[WaveRecord] | None = None,
        execution_id: str | None = None,
        environment: EnvironmentEntry | None = None,
    ) -> ExecutionRecord:
        """A new RUNNING record with a fresh uuid4 ExecutionId (Req 5.1)."""
        return cls(
            ExecutionId=execution_id or str(uuid.uuid4()),
            PlanId=plan_id,
            PlanName=plan_name,
            ExecutionType=execution_type,
            Status=ExecutionStatus.RUNNING,
            InitiatedBy=initiated_by,
            StartTime=start_time,
            SourceAccountId=source_account_id,
            TargetAccountId=target_account_id,
            Region=region,
            ServerCount=server_count,
            Environment=environment,
            WaveStatus=waves or [],
        )

    def finalize(self, status: ExecutionStatus, end_time: float) -> ExecutionRecord:
        """A validated copy ended at ``end_time`` with terminal ``status`` (Req 5.3)."""
        if not status.terminal:
            raise ValueError(f"cannot finalize an execution as {status}: not a terminal status")
        data = self.to_dict()
        data.update(Status=status.value, EndTime=end_time, Duration=end_time - self.StartTime)
        return ExecutionRecord.from_dict(data)

    def wave(self, wave_number: int) -> WaveRecord | None:
        """The entry of wave ``wave_number``, or None."""
        return next((w for w in self.WaveStatus if w.WaveNumber == wave_number), None)


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a record as :meth:`ExecutionRecord.to_dict` writes it.

    Every field is required; the ones that may have no value allow ``null``.
    """
    schema = ExecutionRecord.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
