"""DRS's and EC2's own words, in one home: the statuses, job-log events, quotas and tag
keys that the core, the runner and the adapters share (issue 13: rename one and a resume
could no longer find its job, so each lives here once).

Plain strings and frozensets, importing nothing, so the pure core may use them. The
simulator keeps its own copies on purpose: it is an independent oracle of what DRS says.
(aws-facts.md is the source of every value.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import StrEnum

__all__ = [
    "EXECUTION_TAG",
    "FAILURE_EVENTS",
    "INSTANCE_RUNNING",
    "JOB_ENDED",
    "JOB_IN_PROGRESS",
    "LAUNCH_FAILED",
    "LAUNCH_IN_PROGRESS",
    "MAX_ACTIVE_JOBS",
    "MAX_SERVERS_IN_ACTIVE_JOBS",
    "MAX_SERVERS_PER_JOB",
    "PLAN_TAG",
    "REPLICATION_READY",
    "STATUS_OK",
    "TOKEN_TAG",
    "WAVE_TAG",
    "JobStatus",
    "LaunchStatus",
    "chunks",
    "tags_match",
]


def tags_match(tags: dict[str, str], selector: dict[str, str]) -> bool:
    """A source server with ``tags`` is selected by ``selector`` (a wave's ServerTags): it
    has every key, each with exactly that value (case-sensitive, as DRS stores tags)."""
    return all(tags.get(key) == value for key, value in selector.items())


class JobStatus(StrEnum):
    """A DRS job's ``status``; DRS itself says PENDING, STARTED, COMPLETED. The seed's
    IN_PROGRESS and FAILED are understood too."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    IN_PROGRESS = "IN_PROGRESS"  # the seed's word for STARTED
    FAILED = "FAILED"  # the seed's; DRS reports failures per server instead


class LaunchStatus(StrEnum):
    """``participatingServers[].launchStatus``: how one server's launch went."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    LAUNCHED = "LAUNCHED"
    FAILED = "FAILED"
    TERMINATED = "TERMINATED"


JOB_IN_PROGRESS = frozenset({JobStatus.PENDING, JobStatus.STARTED, JobStatus.IN_PROGRESS})
JOB_ENDED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})
LAUNCH_IN_PROGRESS = frozenset({LaunchStatus.PENDING, LaunchStatus.IN_PROGRESS})
LAUNCH_FAILED = frozenset({LaunchStatus.FAILED, LaunchStatus.TERMINATED})

#: The replication state a source server must be in to be recovered.
REPLICATION_READY = "CONTINUOUS"

#: Job-log events whose rawError explains a failed launch.
FAILURE_EVENTS = frozenset(
    {
        "LAUNCH_FAILED",
        "SNAPSHOT_FAIL",
        "CONVERSION_FAIL",
        "CLEANUP_FAIL",
        "USING_PREVIOUS_SNAPSHOT_FAILED",
        "SERVER_SKIPPED",
    }
)

#: EC2: the instance state a healthy recovery instance is in, and a passed status check.
INSTANCE_RUNNING = "running"
STATUS_OK = "ok"

#: DRS quotas the engine stays within (aws-facts.md §quotas).
MAX_SERVERS_PER_JOB = 100  # L-B827C881: source servers in one job (the model allows 200)
MAX_ACTIVE_JOBS = 20  # concurrent jobs in progress
MAX_SERVERS_IN_ACTIVE_JOBS = 500  # source servers across all active jobs

#: Tags drsorch puts on every job. The token is unique per launch: how a job whose
#: StartRecovery answer was lost (or whose engine died) is found again and adopted.
TOKEN_TAG = "drsorch:token"
EXECUTION_TAG = "drsorch:execution-id"
PLAN_TAG = "drsorch:plan-id"
WAVE_TAG = "drsorch:wave"


def chunks(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    """``ids`` without repeats (first occurrence kept), in lists of at most ``size``: how
    every batched DRS and EC2 call is cut."""
    unique = list(dict.fromkeys(ids))
    for i in range(0, len(unique), size):
        yield unique[i : i + size]
