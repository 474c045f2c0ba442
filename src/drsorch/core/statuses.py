"""Lifecycle statuses of an execution, a wave and a server (design §4).

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


_TERMINAL_EXECUTION = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)
_TERMINAL_WAVE = frozenset(
    {WaveStatus.COMPLETED, WaveStatus.FAILED, WaveStatus.SKIPPED, WaveStatus.CANCELLED}
)
_TERMINAL_SERVER = frozenset(
    {ServerStatus.COMPLETED, ServerStatus.FAILED, ServerStatus.SKIPPED, ServerStatus.CANCELLED}
)
