"""The recovery report of one execution (issue 12): its record turned into what a DR team
shows an auditor. Pure: no click, no rich, no I/O, no clock (``now`` is given).

:func:`build_report` makes a :class:`Report` from an :class:`~drsorch.history.ExecutionRecord`;
the text, JSON, HTML and JUnit outputs are all drawn from it, so they cannot disagree.

Phases of a server (times from the record, design §5)::

    wave StartTime ── StartTime ──── LaunchedTime ──────── HealthyTime ── EndTime
         queued        launching        booting                finishing

- **queued**: the wave started, the server's StartRecovery not sent yet (a SEQUENTIAL
  wave's later servers wait here for the earlier ones; a quota makes others wait too);
- **launching**: StartRecovery sent, DRS not yet reporting it LAUNCHED;
- **booting**: launched, until its health check passed (the instance boots and passes its
  check: the record keeps no time in between, so the two are one phase). With the health
  check disabled, until DRS named its EC2 instance;
- **finishing**: healthy to the server's end (normally nothing; left out when zero).

A phase that has not ended is *in progress* up to ``as_of``. The phases of a server are
contiguous, so they add up to its total (wave start to its end).

**Recovery time** is the execution's Duration (StartTime to EndTime: preflight, every wave,
every wait), or for a RUNNING execution the time so far. It is measured against the plan's
``RtoTargetSeconds``: met when the execution COMPLETED within it.

**Critical path**: the chain of waves that decided the recovery time. From the wave that
ended last, step back to the dependency that released it (the latest ``EndTime +
WaitTimeSeconds`` among its dependencies) until a wave with none. Its segments (the start
before the first wave, each wave, each wait between, the end after the last) add up to the
recovery time. Records written before drsorch kept ``DependsOn`` do not say which wave
waited for which (a plan's Dependencies may have been explicit): their critical path is
unknown, unless the engine state saved with the execution names the dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.history import ExecutionRecord, ServerResult, WaveRecord
from drsorch.text import format_duration

__all__ = [
    "PHASES",
    "CriticalPath",
    "Links",
    "Phase",
    "Report",
    "RtoVerdict",
    "Segment",
    "ServerView",
    "SkippedWork",
    "WaveView",
    "build_report",
    "critical_path_words",
    "knows_dependencies",
    "links_in_state",
    "rto_words",
]

#: The phases of a server, in order (see the module docstring).
PHASES = ("queued", "launching", "booting", "finishing")

#: Server statuses of work that is under way (its phase has no end yet).
_IN_FLIGHT = {
    ServerStatus.LAUNCHING,
    ServerStatus.LAUNCHED,
    ServerStatus.HEALTH_CHECK,
}
#: Wave statuses that never ran: their servers were never launched.
_NOT_RUN = {WaveStatus.SKIPPED, WaveStatus.CANCELLED}


@dataclass(frozen=True)
class Links:
    """How a wave is tied to the others: the waves it waited for, and its WaitTimeSeconds
    (how long its dependents waited after it ended; None when not known)."""

    depends_on: tuple[int, ...]
    wait_seconds: int | None = None


@dataclass(frozen=True)
class Phase:
    """One phase of a server: ``name`` (one of :data:`PHASES`) from ``start`` to ``end``."""

    name: str
    start: float
    end: float
    in_progress: bool = False

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {
            "Phase": self.name,
            "StartTime": self.start,
            "EndTime": None if self.in_progress else self.end,
            "Seconds": self.seconds,
            "InProgress": self.in_progress,
        }


@dataclass(frozen=True)
class ServerView:
    """One server of a wave: its phases and total (wave start to its end)."""

    server_id: str
    status: ServerStatus
    job_id: str | None
    instance_id: str | None
    error: str | None
    phases: tuple[Phase, ...]

    @property
    def start(self) -> float | None:
        return self.phases[0].start if self.phases else None

    @property
    def end(self) -> float | None:
        return self.phases[-1].end if self.phases else None

    @property
    def total_seconds(self) -> float | None:
        return None if not self.phases else sum(p.seconds for p in self.phases)

    @property
    def in_progress(self) -> bool:
        return bool(self.phases) and self.phases[-1].in_progress

    def phase_seconds(self, name: str) -> float | None:
        """Seconds spent in phase ``name``; None when the server never reached it."""
        found = [p.seconds for p in self.phases if p.name == name]
        return sum(found) if found else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ServerId": self.server_id,
            "Status": self.status.value,
            "JobId": self.job_id,
            "Ec2InstanceId": self.instance_id,
            "StartTime": self.start,
            "EndTime": None if self.in_progress else self.end,
            "TotalSeconds": self.total_seconds,
            "InProgress": self.in_progress,
            "Phases": [phase.to_dict() for phase in self.phases],
            "Error": self.error,
        }


@dataclass(frozen=True)
class WaveView:
    """One wave: when it ran, how long it waited to start, and its servers."""

    number: int
    name: str
    status: WaveStatus
    links: Links | None
    start: float | None
    end: float | None  # ``as_of`` while it runs
    in_progress: bool
    waited_seconds: float | None  # from its last dependency's end (or the start) to its start
    critical: bool
    servers: tuple[ServerView, ...]

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {
            "WaveNumber": self.number,
            "WaveName": self.name,
            "Status": self.status.value,
            "DependsOn": None if self.links is None else list(self.links.depends_on),
            "WaitTimeSeconds": None if self.links is None else self.links.wait_seconds,
            "StartTime": self.start,
            "EndTime": None if self.in_progress else self.end,
            "Seconds": self.seconds,
            "InProgress": self.in_progress,
            "WaitedSeconds": self.waited_seconds,
            "OnCriticalPath": self.critical,
            "Servers": [server.to_dict() for server in self.servers],
        }


@dataclass(frozen=True)
class Segment:
    """A stretch of the critical path: ``start`` (before the first wave: the preflight),
    ``wave``, ``wait`` (between a wave and the one it released) or ``end`` (after the last)."""

    kind: str
    start: float
    end: float
    wave: int | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {
            "Kind": self.kind,
            "WaveNumber": self.wave,
            "StartTime": self.start,
            "EndTime": self.end,
            "Seconds": self.seconds,
        }


@dataclass(frozen=True)
class CriticalPath:
    """The waves that decided the recovery time, first first; ``known`` False (with the
    ``reason``) when the record does not say which wave waited for which."""

    known: bool
    waves: tuple[int, ...] = ()
    segments: tuple[Segment, ...] = ()
    reason: str | None = None

    @property
    def seconds(self) -> float:
        return sum(segment.seconds for segment in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "Known": self.known,
            "Waves": list(self.waves),
            "Seconds": self.seconds if self.known and self.segments else None,
            "Segments": [segment.to_dict() for segment in self.segments],
            "Reason": self.reason,
        }


@dataclass(frozen=True)
class RtoVerdict:
    """The recovery time against ``RtoTargetSeconds``. ``met`` is None while the execution
    runs; ``margin_seconds`` is the target minus the recovery time (negative: missed by)."""

    target_seconds: int
    met: bool | None
    margin_seconds: float
    why_not: str | None = None  # met False although within the target: the execution failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "TargetSeconds": self.target_seconds,
            "Met": self.met,
            "MarginSeconds": self.margin_seconds,
            "Reason": self.why_not,
        }


@dataclass(frozen=True)
class SkippedWork:
    """Servers that were never launched: a whole wave (``server_id`` None) or one server."""

    wave: int
    status: str
    servers: tuple[str, ...]
    reason: str
    server_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "WaveNumber": self.wave,
            "ServerId": self.server_id,
            "Status": self.status,
            "Servers": list(self.servers),
            "Reason": self.reason,
        }


@dataclass(frozen=True)
class Report:
    """Everything a recovery report says about one execution."""

    record: ExecutionRecord
    as_of: float  # the latest time the report knows of (now, for a RUNNING execution)
    recovery_seconds: float
    rto: RtoVerdict | None
    critical_path: CriticalPath
    waves: tuple[WaveView, ...]
    skipped: tuple[SkippedWork, ...]

    @property
    def running(self) -> bool:
        return not self.record.Status.terminal

    @property
    def end(self) -> float:
        """The end of the execution, or ``as_of`` while it runs."""
        end = self.record.EndTime
        return self.as_of if end is None else end

    def servers(self) -> list[tuple[WaveView, ServerView]]:
        return [(wave, server) for wave in self.waves for server in wave.servers]

    def to_dict(self) -> dict[str, Any]:
        """The report as ``drsorch report --json`` prints it (epoch seconds, as §5)."""
        r = self.record
        return {
            "ExecutionId": r.ExecutionId,
            "PlanId": r.PlanId,
            "PlanName": r.PlanName,
            "ExecutionType": r.ExecutionType,
            "Status": r.Status.value,
            "Running": self.running,
            "StartTime": r.StartTime,
            "EndTime": r.EndTime,
            "AsOfTime": self.as_of,
            "RecoverySeconds": self.recovery_seconds,
            "Rto": None if self.rto is None else self.rto.to_dict(),
            "CriticalPath": self.critical_path.to_dict(),
            "ServerCount": r.ServerCount,
            "FailedServerCount": sum(
                1 for _, s in self.servers() if s.status is ServerStatus.FAILED
            ),
            "Waves": [wave.to_dict() for wave in self.waves],
            "Skipped": [item.to_dict() for item in self.skipped],
            "Errors": [error.to_dict() for error in r.Errors],
        }


# -- building it ---------------------------------------------------------------------------


def knows_dependencies(record: ExecutionRecord) -> bool:
    """Whether every wave of ``record`` says what it waited for (``DependsOn``)."""
    return all(wave.DependsOn is not None for wave in record.WaveStatus)


def links_in_state(state: object) -> dict[int, Links] | None:
    """Each wave's dependencies and wait as an engine state saved with the execution holds
    them (``waves[].number / deps / wait``), or None when ``state`` does not say (absent,
    damaged, another layout). Read leniently: a report must not fail on an old state."""
    if not isinstance(state, Mapping):
        return None
    waves = state.get("waves")
    if not isinstance(waves, list):
        return None
    links: dict[int, Links] = {}
    for wave in waves:
        if not isinstance(wave, Mapping):
            return None
        number, deps, wait = wave.get("number"), wave.get("deps"), wave.get("wait")
        if not isinstance(number, int) or not isinstance(deps, list):
            return None
        if not all(map(_is_int, [number, *deps])):
            return None
        links[number] = Links(tuple(deps), wait if _is_int(wait) else None)
    return links


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def build_report(
    record: ExecutionRecord,
    *,
    now: float | None = None,
    links: Mapping[int, Links] | None = None,
) -> Report:
    """The report of ``record``.

    ``now`` matters only while the execution runs: work still under way is shown up to it
    (never before the latest time in the record). ``links`` (see :func:`links_in_state`)
    are used for waves whose record has no ``DependsOn``.
    """
    as_of = _latest_time(record)
    if not record.Status.terminal and now is not None:
        as_of = max(as_of, now)
    wave_links = _wave_links(record, links)
    running = not record.Status.terminal
    path = _critical_path(record, wave_links, as_of)
    on_path = set(path.waves)
    waves = tuple(
        _wave_view(record, wave, wave_links, as_of, running, critical=wave.WaveNumber in on_path)
        for wave in record.WaveStatus
    )
    recovery = record.Duration if record.Duration is not None else as_of - record.StartTime
    return Report(
        record=record,
        as_of=as_of,
        recovery_seconds=recovery,
        rto=_rto(record, recovery),
        critical_path=path,
        waves=waves,
        skipped=tuple(_skipped(record)),
    )


def _latest_time(record: ExecutionRecord) -> float:
    times = [record.StartTime, record.EndTime]
    for wave in record.WaveStatus:
        times += [wave.StartTime, wave.EndTime]
        for s in wave.ServerResults:
            times += [s.StartTime, s.LaunchedTime, s.HealthyTime, s.EndTime]
    return max(t for t in times if t is not None)


def _wave_links(
    record: ExecutionRecord, fallback: Mapping[int, Links] | None
) -> dict[int, Links | None]:
    out: dict[int, Links | None] = {}
    for wave in record.WaveStatus:
        if wave.DependsOn is not None:
            out[wave.WaveNumber] = Links(tuple(wave.DependsOn), wave.WaitTimeSeconds)
        else:
            out[wave.WaveNumber] = (fallback or {}).get(wave.WaveNumber)
    return out


def _server_view(
    wave: WaveRecord, s: ServerResult, as_of: float, running: bool, record_end: float | None
) -> ServerView:
    known = [t for t in (s.StartTime, s.LaunchedTime, s.HealthyTime, s.EndTime) if t is not None]
    instance = s.Ec2InstanceId or s.RecoveryInstanceId
    if not known:  # never launched: no phases
        return ServerView(s.ServerId, s.Status, s.JobId, instance, s.Error, ())
    anchor = wave.StartTime
    if anchor is None or anchor > known[0]:
        anchor = known[0]
    marks = [("queued", anchor)] + [
        (name, t)
        for name, t in zip(PHASES[1:], (s.StartTime, s.LaunchedTime, s.HealthyTime), strict=True)
        if t is not None
    ]
    in_progress = s.EndTime is None and running and s.Status in _IN_FLIGHT
    if s.EndTime is not None:
        end = s.EndTime
    elif in_progress:
        end = as_of
    else:  # an unfinished server of a finished execution: up to the execution's end
        end = record_end if record_end is not None else known[-1]
    end = max(end, marks[-1][1])
    phases: list[Phase] = []
    for i, (name, start) in enumerate(marks):
        stop = marks[i + 1][1] if i + 1 < len(marks) else end
        last = i + 1 == len(marks)
        if name == "finishing" and stop == start:
            continue
        phases.append(Phase(name, start, stop, in_progress=last and in_progress))
    return ServerView(s.ServerId, s.Status, s.JobId, instance, s.Error, tuple(phases))


def _wave_view(
    record: ExecutionRecord,
    wave: WaveRecord,
    links: Mapping[int, Links | None],
    as_of: float,
    running: bool,
    *,
    critical: bool,
) -> WaveView:
    servers = tuple(
        _server_view(wave, s, as_of, running, record.EndTime) for s in wave.ServerResults
    )
    in_progress = running and wave.StartTime is not None and wave.EndTime is None
    end = as_of if in_progress else wave.EndTime
    start = wave.StartTime
    if wave.Status in _NOT_RUN and start is None:
        end = None  # ended without running: nothing to draw
    own = links.get(wave.WaveNumber)
    waited: float | None = None
    if start is not None and own is not None:
        ends = [
            dep.EndTime
            for dep in (record.wave(n) for n in own.depends_on)
            if dep is not None and dep.EndTime is not None
        ]
        waited = start - (max(ends) if ends else record.StartTime)
    return WaveView(
        number=wave.WaveNumber,
        name=wave.WaveName,
        status=wave.Status,
        links=own,
        start=start,
        end=end,
        in_progress=in_progress,
        waited_seconds=waited,
        critical=critical,
        servers=servers,
    )


def _critical_path(
    record: ExecutionRecord, links: Mapping[int, Links | None], as_of: float
) -> CriticalPath:
    ran = {w.WaveNumber: w for w in record.WaveStatus if w.StartTime is not None}
    if not ran:
        return CriticalPath(known=True, reason="no wave started")
    unknown = sorted(n for n in ran if links.get(n) is None)
    if unknown:
        return CriticalPath(
            known=False,
            reason="unknown: this record predates DependsOn (drsorch did not yet record "
            "which wave waited for which)",
        )

    def end_of(number: int) -> float:
        end = ran[number].EndTime
        return as_of if end is None else end

    def released_at(number: int) -> float:
        own = links[number]
        return end_of(number) + ((own.wait_seconds or 0) if own is not None else 0)

    last = max(ran, key=lambda n: (end_of(n), n))
    chain = [last]
    seen = {last}
    while True:
        own = links[chain[-1]]
        deps = [d for d in (own.depends_on if own else ()) if d in ran and d not in seen]
        if not deps:
            break
        via = max(deps, key=lambda d: (released_at(d), end_of(d), -d))
        chain.append(via)
        seen.add(via)
    chain.reverse()
    record_end = record.EndTime if record.EndTime is not None else as_of
    first = ran[chain[0]]
    segments = [Segment("start", record.StartTime, _known(first.StartTime))]
    for i, number in enumerate(chain):
        wave = ran[number]
        if i:
            segments.append(Segment("wait", end_of(chain[i - 1]), _known(wave.StartTime), number))
        segments.append(Segment("wave", _known(wave.StartTime), end_of(number), number))
    segments.append(Segment("end", end_of(chain[-1]), max(record_end, end_of(chain[-1]))))
    return CriticalPath(known=True, waves=tuple(chain), segments=tuple(segments))


def _known(value: float | None) -> float:
    assert value is not None  # waves on the path started
    return value


def _rto(record: ExecutionRecord, recovery: float) -> RtoVerdict | None:
    target = record.RtoTargetSeconds
    if target is None:
        return None
    margin = target - recovery
    if not record.Status.terminal:
        return RtoVerdict(target, None, margin)
    if record.Status is not ExecutionStatus.COMPLETED:
        return RtoVerdict(
            target, False, margin, why_not=f"the execution ended {record.Status.value}"
        )
    return RtoVerdict(target, margin >= 0, margin)


def _skipped(record: ExecutionRecord) -> list[SkippedWork]:
    out: list[SkippedWork] = []
    never = {ServerStatus.SKIPPED, ServerStatus.CANCELLED}
    for wave in record.WaveStatus:
        if wave.Status in _NOT_RUN and wave.StartTime is None:
            out.append(
                SkippedWork(
                    wave=wave.WaveNumber,
                    status=wave.Status.value,
                    servers=tuple(s.ServerId for s in wave.ServerResults),
                    reason=_wave_reason(record, wave),
                )
            )
            continue
        for s in wave.ServerResults:
            if s.Status in never and s.StartTime is None:
                out.append(
                    SkippedWork(
                        wave=wave.WaveNumber,
                        status=s.Status.value,
                        servers=(s.ServerId,),
                        reason=s.Error or _server_reason(wave, s),
                        server_id=s.ServerId,
                    )
                )
    return out


def _wave_reason(record: ExecutionRecord, wave: WaveRecord) -> str:
    """Why a wave never ran: the engine's own error entry, else what its record shows."""
    for error in record.Errors:
        if error.WaveNumber == wave.WaveNumber and error.ServerId is None:
            return error.Message
    dead = [
        f"wave {d.WaveNumber} ended {d.Status.value}"
        for d in (record.wave(n) for n in wave.DependsOn or ())
        if d is not None and d.Status is not WaveStatus.COMPLETED
    ]
    if dead:
        return "a dependency did not complete: " + ", ".join(dead)
    if wave.Status is WaveStatus.CANCELLED:
        return "the execution ended before this wave started"
    return "a wave it depends on did not complete"


def _server_reason(wave: WaveRecord, s: ServerResult) -> str:
    if s.Status is ServerStatus.CANCELLED:
        return "not launched: the execution ended first"
    return "not launched: an earlier server of this wave failed"


# -- in words (every output says these the same way) -------------------------------------


def rto_words(report: Report) -> str:
    """The RTO verdict in words (plain text)."""
    rto = report.rto
    if rto is None:
        return "no target (the plan sets no RtoTargetSeconds)"
    target = format_duration(rto.target_seconds)
    if rto.met is None:
        so_far = format_duration(report.recovery_seconds)
        if rto.margin_seconds < 0:
            return f"{target}: already MISSED, {so_far} so far and still running"
        left = format_duration(rto.margin_seconds)
        return f"{target}: not known yet, still running ({so_far} so far, {left} left)"
    if rto.why_not:
        return f"{target}: NOT MET, {rto.why_not}"
    if rto.met:
        return f"{target}: MET with {format_duration(rto.margin_seconds)} to spare"
    return f"{target}: MISSED by {format_duration(-rto.margin_seconds)}"


def critical_path_words(report: Report) -> str:
    """The critical path in words (plain text)."""
    path = report.critical_path
    if not path.known:
        return path.reason or "unknown"
    if not path.waves:
        return f"none: {path.reason}" if path.reason else "none"
    return " > ".join(f"wave {n}" for n in path.waves)
