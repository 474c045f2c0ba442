"""Generators of execution-history records (design §5; seed task 2.3).

Every record made here is *valid* and internally consistent: times nest (servers inside
their wave, waves inside the execution, waves one after another), and statuses agree:

- COMPLETED: every wave and server COMPLETED, no errors.
- FAILED: the waves before the failing one COMPLETED, the failing wave FAILED with at least
  one FAILED server and one error entry per failed server, later waves SKIPPED.
- CANCELLED: some waves COMPLETED, the rest CANCELLED.
- RUNNING / PAUSED: some waves COMPLETED, then one in progress (or PAUSED), the rest PENDING.

One builder serves both the hypothesis strategy (:func:`execution_records`) and the seeded
plain functions (:func:`make_record`, :func:`make_records`), through a small "source of
choices" interface, so both produce the same kinds of records.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.history import (
    EnvironmentEntry,
    ErrorEntry,
    ExecutionRecord,
    ServerResult,
    WaveRecord,
)

#: The fields of a history record (design §5), in order, per level.
EXECUTION_FIELDS = (
    "ExecutionId",
    "PlanId",
    "PlanName",
    "ExecutionType",
    "Status",
    "InitiatedBy",
    "StartTime",
    "EndTime",
    "Duration",
    "SourceAccountId",
    "TargetAccountId",
    "Region",
    "ServerCount",
    "FailedServerCount",
    "RtoTargetSeconds",
    "Errors",
    "WaveStatus",
    "Notification",
    "Environment",
    "Cleanup",
)
ENVIRONMENT_FIELDS = ("Kind", "Endpoint", "Seed", "Scenario")
WAVE_FIELDS = (
    "WaveNumber",
    "WaveName",
    "Status",
    "DependsOn",
    "WaitTimeSeconds",
    "StartTime",
    "EndTime",
    "ServerResults",
    "ApprovedBy",
    "ApprovedTime",
    "ServerTags",  # issue 12: a wave selected by tags (null otherwise)
    "TagMatchedServerIds",
)
SERVER_FIELDS = (
    "ServerId",
    "Hostname",
    "Status",
    "JobId",
    "RecoveryInstanceId",
    "Ec2InstanceId",
    "StartTime",
    "LaunchedTime",
    "HealthyTime",
    "EndTime",
    "Error",
)
ERROR_FIELDS = ("Message", "WaveNumber", "ServerId", "JobId")

T = TypeVar("T")

REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
TIERS = ("Database tier", "Application tier", "Web tier", "Cache", "Batch", "Monitoring")
INITIATORS = (
    "arn:aws:iam::123456789012:user/alice",
    "arn:aws:sts::123456789012:assumed-role/DrOperator/bob",
    "carol@dr-host",
)
ENDPOINTS = (None, "http://127.0.0.1:4599", "https://drs.example.internal")
SCENARIOS = (None, "examples/scenarios/rough-day.yaml", "/tmp/drill scenario.yaml")
FAILURES = (
    "launch failed: LAUNCH_FAILED reported by DRS",
    "health check timed out after 10 polls; last state: impaired",
    "StartRecovery failed after 3 retries: ThrottlingException",
    "recovery instance terminated during launch",
)


class Source(Protocol):
    """Where the builder's choices come from: a seeded Random, or hypothesis's draw."""

    def integer(self, low: int, high: int) -> int: ...

    def number(self, low: float, high: float) -> float: ...

    def pick(self, options: Sequence[T]) -> T: ...


class RandomSource:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def number(self, low: float, high: float) -> float:
        return round(self._rng.uniform(low, high), 3)

    def pick(self, options: Sequence[T]) -> T:
        return self._rng.choice(options)


class DrawSource:
    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return int(self._draw(st.integers(low, high)))

    def number(self, low: float, high: float) -> float:
        # Milliseconds, like a real clock; whole numbers shrink better than floats.
        return round(low + self._draw(st.integers(0, int((high - low) * 1000))) / 1000, 3)

    def pick(self, options: Sequence[T]) -> T:
        return options[self._draw(st.integers(0, len(options) - 1))]


def _hex(src: Source, digits: int) -> str:
    return f"{src.integer(0, 16**digits - 1):0{digits}x}"


def server_id(src: Source, index: int) -> str:
    """``s-`` and 17 hex digits; the last four encode ``index`` so ids never collide."""
    return f"s-{_hex(src, 13)}{index:04x}"


class _Builder:
    def __init__(self, src: Source, status: ExecutionStatus, plan_id: str) -> None:
        self.src = src
        self.status = status
        self.plan_id = plan_id
        self.errors: list[ErrorEntry] = []
        self.server_index = 0

    def record(self) -> ExecutionRecord:
        src = self.src
        start = src.number(1_600_000_000, 1_800_000_000)
        n_waves = src.integer(1, 4)
        sizes = [src.integer(1, 4) for _ in range(n_waves)]
        waves, last = self.waves(start, sizes)
        end = duration = None
        if self.status.terminal:
            end = round(last + src.number(0, 5), 3)
            duration = end - start
        account = f"{src.integer(0, 10**12 - 1):012d}"
        target = account if src.integer(0, 1) else f"{src.integer(0, 10**12 - 1):012d}"
        return ExecutionRecord(
            ExecutionId=str(uuid.UUID(int=src.integer(0, 2**128 - 1), version=4)),
            PlanId=self.plan_id,
            PlanName=f"Plan {self.plan_id}",
            ExecutionType=src.pick(("DRILL", "RECOVERY")),
            Status=self.status,
            InitiatedBy=src.pick(INITIATORS),
            StartTime=start,
            EndTime=end,
            Duration=duration,
            SourceAccountId=account,
            TargetAccountId=target,
            Region=src.pick(REGIONS),
            ServerCount=sum(sizes),
            FailedServerCount=sum(
                1 for w in waves for r in w.ServerResults if r.Status is ServerStatus.FAILED
            ),
            Errors=self.errors,
            Environment=self.environment(),
            WaveStatus=waves,
        )

    def environment(self) -> EnvironmentEntry:
        """Where it ran: the simulator (a seed, maybe a scenario) or AWS (maybe an endpoint).
        Always set: every record drsorch writes now says (older ones have null)."""
        src = self.src
        if src.integer(0, 1):
            return EnvironmentEntry(Kind="aws", Endpoint=src.pick(ENDPOINTS))
        return EnvironmentEntry(
            Kind="simulator", Seed=src.integer(0, 2**63 - 1), Scenario=src.pick(SCENARIOS)
        )

    def waves(self, start: float, sizes: list[int]) -> tuple[list[WaveRecord], float]:
        """The waves, and the time the last thing happened."""
        n = len(sizes)
        status = self.status
        if status is ExecutionStatus.COMPLETED:
            done = n
        elif status is ExecutionStatus.FAILED:
            done = self.src.integer(0, n - 1)  # the wave at index `done` fails
        else:
            done = self.src.integer(0, n - 1)  # the wave at `done` is cancelled / current
        waves: list[WaveRecord] = []
        t = start
        for i, size in enumerate(sizes):
            number, name = i + 1, f"Wave {i + 1} - {self.src.pick(TIERS)}"
            if i < done:
                wave, t = self.finished_wave(number, name, size, t, fail=False)
            elif i == done and status is ExecutionStatus.FAILED:
                wave, t = self.finished_wave(number, name, size, t, fail=True)
            elif i == done and status is ExecutionStatus.RUNNING:
                wave, t = self.running_wave(number, name, size, t)
            else:
                wave = self.idle_wave(number, name, size, t, i == done)
            waves.append(wave)
        return waves, t

    def finished_wave(
        self, number: int, name: str, size: int, t: float, *, fail: bool
    ) -> tuple[WaveRecord, float]:
        src = self.src
        begin = round(t + src.number(0, 300), 3)  # WaitTimeSeconds after the previous wave
        failing: set[int] = set()
        if fail:  # at least one server fails; maybe more
            failing = {i for i in range(size) if src.integer(0, 1)} or {src.integer(0, size - 1)}
        results: list[ServerResult] = []
        for i in range(size):
            sid = server_id(src, self.next_index())
            job = f"drsjob-{_hex(src, 17)}"
            sent = round(begin + src.number(0, 5), 3)
            launched = round(sent + src.number(60, 900), 3)
            if i in failing:
                reason = src.pick(FAILURES)
                launched_ok = "health" in reason
                end = round(launched + src.number(0, 300), 3)
                results.append(
                    ServerResult(
                        ServerId=sid,
                        Status=ServerStatus.FAILED,
                        JobId=job,
                        RecoveryInstanceId=f"i-{_hex(src, 17)}" if launched_ok else None,
                        Ec2InstanceId=f"i-{_hex(src, 17)}" if launched_ok else None,
                        StartTime=sent,
                        LaunchedTime=launched if launched_ok else None,
                        EndTime=end,
                        Error=reason,
                    )
                )
                self.errors.append(
                    ErrorEntry(
                        Message=f"{sid}: {reason}", WaveNumber=number, ServerId=sid, JobId=job
                    )
                )
            else:
                healthy = round(launched + src.number(0, 300), 3)
                instance = f"i-{_hex(src, 17)}"
                results.append(
                    ServerResult(
                        ServerId=sid,
                        Status=ServerStatus.COMPLETED,
                        JobId=job,
                        RecoveryInstanceId=instance,
                        Ec2InstanceId=instance,
                        StartTime=sent,
                        LaunchedTime=launched,
                        HealthyTime=healthy,
                        EndTime=healthy,
                    )
                )
        end = max(r.EndTime or begin for r in results)
        status = WaveStatus.FAILED if fail else WaveStatus.COMPLETED
        wave = WaveRecord(
            WaveNumber=number,
            WaveName=name,
            Status=status,
            DependsOn=_chain(number),
            StartTime=begin,
            EndTime=end,
            ServerResults=results,
        )
        return wave, end

    def running_wave(self, number: int, name: str, size: int, t: float) -> tuple[WaveRecord, float]:
        src = self.src
        begin = round(t + src.number(0, 300), 3)
        last = begin
        results: list[ServerResult] = []
        for _ in range(size):
            sid = server_id(src, self.next_index())
            status = src.pick(
                (ServerStatus.LAUNCHING, ServerStatus.LAUNCHED, ServerStatus.HEALTH_CHECK)
            )
            sent = round(begin + src.number(0, 5), 3)
            launched = (
                None if status is ServerStatus.LAUNCHING else round(sent + src.number(60, 900), 3)
            )
            instance = None if launched is None else f"i-{_hex(src, 17)}"
            last = max(last, launched or sent)
            results.append(
                ServerResult(
                    ServerId=sid,
                    Status=status,
                    JobId=f"drsjob-{_hex(src, 17)}",
                    RecoveryInstanceId=instance,
                    Ec2InstanceId=instance,
                    StartTime=sent,
                    LaunchedTime=launched,
                )
            )
        wave = WaveRecord(
            WaveNumber=number,
            WaveName=name,
            Status=WaveStatus.RUNNING,
            DependsOn=_chain(number),
            StartTime=begin,
            ServerResults=results,
        )
        return wave, last

    def idle_wave(self, number: int, name: str, size: int, t: float, current: bool) -> WaveRecord:
        """A wave that never ran: SKIPPED, CANCELLED, PENDING, or the PAUSED one."""
        wave_status, server_status, end = {
            ExecutionStatus.FAILED: (WaveStatus.SKIPPED, ServerStatus.SKIPPED, t),
            ExecutionStatus.CANCELLED: (WaveStatus.CANCELLED, ServerStatus.CANCELLED, t),
        }.get(self.status, (WaveStatus.PENDING, ServerStatus.PENDING, None))
        if current and self.status is ExecutionStatus.PAUSED:
            wave_status = WaveStatus.PAUSED
        results = [
            ServerResult(ServerId=server_id(self.src, self.next_index()), Status=server_status)
            for _ in range(size)
        ]
        return WaveRecord(
            WaveNumber=number,
            WaveName=name,
            Status=wave_status,
            DependsOn=_chain(number),
            EndTime=end,
            ServerResults=results,
        )

    def next_index(self) -> int:
        self.server_index += 1
        return self.server_index


def _chain(number: int) -> list[int]:
    """A generated wave's DependsOn: the waves run one after another, as a plan without
    Dependencies does (the gap before each is its predecessor's WaitTimeSeconds, unrecorded)."""
    return [number - 1] if number > 1 else []


def build_record(
    src: Source, status: ExecutionStatus | str | None = None, plan_id: str | None = None
) -> ExecutionRecord:
    """One valid record from ``src``; ``status`` and ``plan_id`` are chosen when None."""
    chosen = ExecutionStatus(status) if status is not None else src.pick(list(ExecutionStatus))
    plan = plan_id if plan_id is not None else f"plan-{src.integer(0, 9)}"
    return _Builder(src, chosen, plan).record()


@st.composite
def _records(
    draw: st.DrawFn, status: ExecutionStatus | str | None, plan_id: str | None
) -> ExecutionRecord:
    return build_record(DrawSource(draw), status, plan_id)


def execution_records(
    status: ExecutionStatus | str | None = None, plan_id: str | None = None
) -> st.SearchStrategy[ExecutionRecord]:
    """Hypothesis strategy of valid records, of ``status`` when given (else any)."""
    return _records(status, plan_id)


def make_record(seed: int, **overrides: Any) -> ExecutionRecord:
    """A valid record determined by ``seed``; ``overrides`` are record fields (PascalCase).

    ``Status`` and ``PlanId`` shape the whole record (a FAILED one gets a failed wave and
    errors); ``StartTime`` shifts every time in the record, so it stays consistent. Other
    overrides replace the field as given and the result is validated again.
    """
    status = overrides.pop("Status", None)
    plan_id = overrides.pop("PlanId", None)
    record = build_record(RandomSource(seed), status, plan_id)
    data = record.to_dict()
    if "StartTime" in overrides:
        _shift(data, float(overrides.pop("StartTime")) - record.StartTime)
    data.update(overrides)
    return ExecutionRecord.from_dict(data)


def make_records(n: int, seed: int, *, plans: int = 10) -> list[ExecutionRecord]:
    """``n`` valid records spread over ``plans`` plan ids (``plan-0`` ...), any status."""
    rng = random.Random(seed)
    return [
        build_record(RandomSource(rng.getrandbits(64)), None, f"plan-{rng.randrange(plans)}")
        for _ in range(n)
    ]


def _shift(data: dict[str, Any], delta: float) -> None:
    """Move every time field of a record dict by ``delta`` seconds."""
    times = ("StartTime", "EndTime", "LaunchedTime", "HealthyTime")
    for key in times:
        if data.get(key) is not None:
            data[key] = round(data[key] + delta, 3)
    if "Duration" in data and data.get("EndTime") is not None:
        data["Duration"] = data["EndTime"] - data["StartTime"]
    for child in (*data.get("WaveStatus", ()), *data.get("ServerResults", ())):
        _shift(child, delta)
