"""Lifecycle statuses of an execution, a wave and a server (design §4), and the engine's
own bookkeeping: the phase of an execution and the status of one of its launches.

String enums, so they serialize as themselves in the JSON state and in history records.
"""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    RUNNING = "RUNNING"  # started, not finished
    PAUSED = "PAUSED"  # waiting for an approval before a wave
    COMPLETED = "COMPLETED"  # every wave COMPLETED
    FAILED = "FAILED"  # a wave failed or was skipped, preflight failed, or timed out
    CANCELLED = "CANCELLED"  # someone cancelled it; started jobs were left to finish

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_EXECUTION


class WaveStatus(StrEnum):
    PENDING = "PENDING"  # dependencies not finished yet
    WAITING = "WAITING"  # dependencies COMPLETED, waiting out WaitTimeSeconds
    PAUSED = "PAUSED"  # PauseBefore: waiting for an approval
    RUNNING = "RUNNING"  # launching or health-checking servers
    COMPLETED = "COMPLETED"  # every server COMPLETED
    FAILED = "FAILED"  # at least one server FAILED
    SKIPPED = "SKIPPED"  # a dependency did not complete; no API call was made
    CANCELLED = "CANCELLED"  # the execution was cancelled or timed out before it ran

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_WAVE


class ServerStatus(StrEnum):
    PENDING = "PENDING"  # not launched yet
    LAUNCHING = "LAUNCHING"  # StartRecovery sent, DRS job running
    LAUNCHED = "LAUNCHED"  # DRS launched the recovery instance
    HEALTH_CHECK = "HEALTH_CHECK"  # polling EC2 for the instance's health
    COMPLETED = "COMPLETED"  # launched and (if enabled) healthy
    FAILED = "FAILED"  # launch failed, unhealthy, or an API error
    SKIPPED = "SKIPPED"  # an earlier server of a SEQUENTIAL wave failed
    CANCELLED = "CANCELLED"  # never launched because the execution stopped

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_SERVER


class Phase(StrEnum):
    """Where an execution is in the engine's life, apart from its status."""

    PREFLIGHT = "PREFLIGHT"  # checking every server's replication; nothing launched yet
    RUNNING = "RUNNING"  # preflight passed: waves start, launch and are health-checked
    DONE = "DONE"  # finished (the status says how)


class DispatchStatus(StrEnum):
    """The status of one of the engine's launches: one StartRecovery of a group of servers
    of one wave, i.e. one DRS job. (Not DRS's per-server ``LaunchStatus``, which is
    :class:`drsorch.drs_terms.LaunchStatus`.)"""

    QUEUED = "QUEUED"  # waiting for its turn within DRS's job quotas (or to be requeued)
    SENT = "SENT"  # StartRecovery went out; no answer yet (a resume adopts or resends it)
    ACTIVE = "ACTIVE"  # DRS accepted it: its job runs and is polled
    DONE = "DONE"  # its job ended, it failed to start, or the execution stopped


_TERMINAL_EXECUTION = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)
_TERMINAL_WAVE = frozenset(
    {WaveStatus.COMPLETED, WaveStatus.FAILED, WaveStatus.SKIPPED, WaveStatus.CANCELLED}
)
_TERMINAL_SERVER = frozenset(
    {ServerStatus.COMPLETED, ServerStatus.FAILED, ServerStatus.SKIPPED, ServerStatus.CANCELLED}
)
