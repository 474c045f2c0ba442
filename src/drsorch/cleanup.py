"""Drill clean-up (issue 11.7): terminate a drill's recovery instances and record it.

DRS never terminates drill instances by itself (aws-facts §4): after a drill they keep
running, and billing, until someone calls TerminateRecoveryInstances. :func:`clean_up`
does that for one finished DRILL record, below the command line (``drsorch cleanup`` and
``run --cleanup-after`` both call it), on the injected clock:

1. the record's RecoveryInstanceIds are looked up (DescribeRecoveryInstances): those DRS
   no longer knows are *already gone*; one that is not a drill instance is never touched;
2. the rest are terminated, 200 per TERMINATE job; a 409 (an instance already being
   terminated, or its server in an active launch job) on a batch is retried one instance
   at a time, so one busy instance does not keep the others running;
3. the TERMINATE jobs are polled (DescribeJobs, every :data:`POLL_SECONDS`) until they end
   or ``timeout`` passes;
4. each instance's outcome is read from its job (``launchStatus`` TERMINATED), else from
   DRS (no longer listed: terminated; still listed: failed, with the job log's reason).

The result is the record's ``Cleanup`` entry; with a ``store`` the updated record is saved
(the execution is over: no lease is needed). A RECOVERY is refused: its instances are the
production workload now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from drsorch.aws.drs import ID_CHUNK, DrsAdapter
from drsorch.aws.types import JobInfo
from drsorch.clock import Clock
from drsorch.drs_terms import JOB_ENDED, LaunchStatus, chunks
from drsorch.errors import AwsError, ConflictError, RefusedError
from drsorch.history import CleanupEntry, CleanupFailure, ExecutionRecord
from drsorch.store.base import HistoryStore

__all__ = [
    "DEFAULT_TIMEOUT",
    "POLL_SECONDS",
    "check_cleanable",
    "clean_up",
    "recovery_instance_ids",
]

#: How often the TERMINATE jobs are polled (seconds of the injected clock).
POLL_SECONDS = 30.0
#: How long the TERMINATE jobs are followed before the clean-up gives up on them. DRS
#: terminates an instance in a few minutes; an hour means something is stuck.
DEFAULT_TIMEOUT = 3600.0


def recovery_instance_ids(record: ExecutionRecord) -> list[str]:
    """Every RecoveryInstanceId the record names, in wave order, without repeats."""
    ids = [
        result.RecoveryInstanceId
        for wave in record.WaveStatus
        for result in wave.ServerResults
        if result.RecoveryInstanceId
    ]
    return list(dict.fromkeys(ids))


def check_cleanable(record: ExecutionRecord) -> None:
    """Raise RefusedError unless ``record`` is a finished DRILL (what may be cleaned up)."""
    if record.ExecutionType != "DRILL":
        raise RefusedError(
            f"execution {record.ExecutionId} is a {record.ExecutionType}: its recovery "
            "instances are the workload now; drsorch cleans up drills only"
        )
    if not record.Status.terminal:
        raise RefusedError(
            f"execution {record.ExecutionId} is {record.Status}: clean it up once it has ended"
        )


def clean_up(
    record: ExecutionRecord,
    drs: DrsAdapter,
    clock: Clock,
    *,
    store: HistoryStore | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    poll_seconds: float = POLL_SECONDS,
    log: Callable[[str], None] | None = None,
) -> ExecutionRecord:
    """Terminate the drill's recovery instances; the record with its ``Cleanup`` entry.

    Raises RefusedError for a RECOVERY or an execution that has not ended. AWS errors on
    the way are recorded as failures of the instances concerned, never raised."""
    check_cleanable(record)
    say = log or (lambda text: None)
    start = clock.now()
    ids = recovery_instance_ids(record)
    launched = _launched_unrecorded(
        record, drs, clock, say, deadline=start + timeout, poll_seconds=poll_seconds
    )
    ids += [rid for rid in launched if rid not in ids]
    failures: dict[str, str] = {}
    gone: list[str] = []
    to_end: list[str] = []
    if ids:
        try:
            known = drs.describe_recovery_instances(ids)
        except AwsError as exc:
            known = None
            for rid in ids:
                failures[rid] = f"could not look it up: {exc}"
        if known is not None:
            for rid in ids:
                info = known.get(rid)
                if info is None:
                    gone.append(rid)
                elif info.is_drill is False:
                    failures[rid] = "not a drill instance (isDrill false): left running"
                else:
                    to_end.append(rid)
    say(
        f"clean-up: {len(to_end)} recovery instance(s) to terminate"
        + (f", {len(gone)} already gone" if gone else "")
    )
    job_for: dict[str, str] = {}
    jobs = _terminate(drs, to_end, failures, job_for)
    for job in jobs:
        say(f"clean-up: TERMINATE job {job.job_id} started")
    jobs = _follow(drs, clock, jobs, deadline=start + timeout, poll_seconds=poll_seconds)
    ec2_of = {
        result.RecoveryInstanceId: result.Ec2InstanceId
        for wave in record.WaveStatus
        for result in wave.ServerResults
        if result.RecoveryInstanceId and result.Ec2InstanceId
    }
    attempted = [rid for rid in to_end if rid not in failures]
    terminated = _outcomes(drs, jobs, attempted, failures, timeout, ec2_of, job_for)
    # A clean-up run again adds to what the earlier one did, never hides it: what it
    # terminated stays terminated (not "already gone"), its jobs stay listed.
    before = record.Cleanup
    done_before = list(before.Terminated) if before else []
    terminated = done_before + [rid for rid in terminated if rid not in done_before]
    entry = CleanupEntry(
        Status=_status(terminated, failures),
        StartTime=before.StartTime if before else start,
        EndTime=max(clock.now(), start),
        Terminated=terminated,
        Failures=[
            CleanupFailure(RecoveryInstanceId=rid, Message=failures[rid])
            for rid in ids
            if rid in failures
        ],
        AlreadyGone=[rid for rid in gone if rid not in done_before],
        JobIds=(list(before.JobIds) if before else []) + [job.job_id for job in jobs],
    )
    updated = record.model_copy(update={"Cleanup": entry})
    updated = ExecutionRecord.from_dict(updated.to_dict())  # validated, as stores keep it
    if store is not None:
        store.put(updated)
    say(f"clean-up {entry.Status}: {len(terminated)} terminated, {len(entry.Failures)} failed")
    return updated


def _launched_unrecorded(
    record: ExecutionRecord,
    drs: DrsAdapter,
    clock: Clock,
    say: Callable[[str], None],
    *,
    deadline: float,
    poll_seconds: float,
) -> list[str]:
    """The recovery instances of launches the record could not follow to their end (the
    engine stopped while their job ran: the server has a JobId and no instance), read from
    those jobs, once they have ended: a job still launching is followed (polled, as the
    TERMINATE jobs are) until it ends or ``deadline``, so what it launches is not left
    running. One still going at the deadline is said."""
    job_ids = [
        result.JobId
        for wave in record.WaveStatus
        for result in wave.ServerResults
        if result.JobId and not result.RecoveryInstanceId
    ]
    job_ids = list(dict.fromkeys(job_ids))
    if not job_ids:
        return []
    try:
        found = drs.describe_jobs(job_ids)
    except AwsError as exc:
        say(f"clean-up: could not read the jobs the execution did not follow ({exc})")
        return []
    jobs = [found[job_id] for job_id in job_ids if job_id in found]
    running = [job.job_id for job in jobs if job.status not in JOB_ENDED]
    if running:
        say(f"clean-up: waiting for LAUNCH job(s) {', '.join(running)} to end first")
        jobs = _follow(drs, clock, jobs, deadline=deadline, poll_seconds=poll_seconds)
    for job in jobs:
        if job.status not in JOB_ENDED:
            say(
                f"clean-up: LAUNCH job {job.job_id} is still running: what it launches next "
                "is not terminated; run the clean-up again once it has ended"
            )
    return [
        p.recovery_instance_id for job in jobs for p in job.participants if p.recovery_instance_id
    ]


def _status(
    terminated: Sequence[str], failures: dict[str, str]
) -> Literal["COMPLETED", "FAILED", "PARTIAL"]:
    if not failures:
        return "COMPLETED"
    return "PARTIAL" if terminated else "FAILED"


def _terminate(
    drs: DrsAdapter, ids: list[str], failures: dict[str, str], job_for: dict[str, str]
) -> list[JobInfo]:
    """Start TERMINATE jobs for ``ids``; what could not be started goes to ``failures``,
    the job each instance went to to ``job_for``."""
    jobs: list[JobInfo] = []

    def send(chunk: list[str]) -> None:
        started = drs.terminate_recovery_instances(chunk)  # <= 200 ids: one job
        jobs.extend(started)
        if len(started) == 1:
            job_for.update(dict.fromkeys(chunk, started[0].job_id))

    for chunk in chunks(ids, ID_CHUNK):
        try:
            send(chunk)
        except ConflictError:
            if len(chunk) == 1:
                failures[chunk[0]] = _conflict_message(chunk[0], None)
                continue
            # One busy instance refuses the whole batch: try each on its own.
            for rid in chunk:
                try:
                    send([rid])
                except ConflictError as exc:
                    failures[rid] = _conflict_message(rid, exc)
                except AwsError as exc:
                    failures[rid] = f"TerminateRecoveryInstances failed: {exc}"
        except AwsError as exc:
            for rid in chunk:
                failures[rid] = f"TerminateRecoveryInstances failed: {exc}"
    return jobs


def _conflict_message(rid: str, exc: ConflictError | None) -> str:
    why = f" ({exc})" if exc is not None else ""
    return (
        f"DRS refused to terminate {rid} (409 ConflictException){why}: it is already being "
        "terminated, or its server is in an active launch job; run the clean-up again later"
    )


def _follow(
    drs: DrsAdapter,
    clock: Clock,
    jobs: list[JobInfo],
    *,
    deadline: float,
    poll_seconds: float,
) -> list[JobInfo]:
    """Poll the jobs until they all ended or ``deadline``; their last known state."""
    latest = {job.job_id: job for job in jobs}

    def open_ids() -> list[str]:
        return [jid for jid, job in latest.items() if job.status not in JOB_ENDED]

    while open_ids() and clock.now() < deadline:
        clock.sleep(min(poll_seconds, max(deadline - clock.now(), 0.0)))
        try:
            found = drs.describe_jobs(open_ids())
        except AwsError:
            continue  # the retry policy gave up for now: ask again at the next poll
        latest.update(found)
    return list(latest.values())


def _outcomes(
    drs: DrsAdapter,
    jobs: list[JobInfo],
    attempted: list[str],
    failures: dict[str, str],
    timeout: float,
    ec2_of: dict[str, str],
    job_for: dict[str, str],
) -> list[str]:
    """Which of ``attempted`` were terminated; the others are added to ``failures``."""
    by_id = {job.job_id: job for job in jobs}
    said_terminated: set[str] = set()
    for job in jobs:
        for p in job.participants:
            if p.recovery_instance_id is None:
                continue
            if p.launch_status == LaunchStatus.TERMINATED:
                said_terminated.add(p.recovery_instance_id)
    undecided = [rid for rid in attempted if rid not in said_terminated]
    still: dict[str, object] | None = {}
    if undecided:
        try:
            still = dict(drs.describe_recovery_instances(undecided))
        except AwsError:
            still = None
    reasons = _log_reasons(drs, jobs) if undecided else {}
    terminated: list[str] = []
    for rid in attempted:
        if rid in said_terminated:
            terminated.append(rid)
            continue
        its_job = by_id.get(job_for.get(rid, ""))
        if its_job is not None and its_job.status not in JOB_ENDED:
            failures[rid] = (
                f"TERMINATE job {its_job.job_id} was still {its_job.status} after {timeout:g} s; "
                "follow it in the DRS console"
            )
        elif still is None:
            failures[rid] = (
                "could not tell whether it was terminated (DescribeRecoveryInstances failed)"
            )
        elif rid not in still:
            terminated.append(rid)  # DRS deleted it: terminated
        else:
            failures[rid] = (
                reasons.get(rid)
                or reasons.get(ec2_of.get(rid, ""))
                or ("the TERMINATE job ended but the recovery instance still exists")
            )
    return terminated


def _log_reasons(drs: DrsAdapter, jobs: list[JobInfo]) -> dict[str, str]:
    """CLEANUP_FAIL reasons per recovery (or EC2) instance id, from the jobs' logs."""
    reasons: dict[str, str] = {}
    for job in jobs:
        try:
            items = drs.job_log(job.job_id)
        except AwsError:
            continue
        for item in items:
            if item.event == "CLEANUP_FAIL" and item.target_instance_id:
                reasons[item.target_instance_id] = (
                    f"CLEANUP_FAIL in job {job.job_id}: {item.raw_error or 'no reason given'}"
                )
    return reasons
