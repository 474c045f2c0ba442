"""The state of a simulated region and how it moves through time (issue 3, point 2).

:class:`RegionModel` owns the source servers, jobs, recovery instances and EC2 instances,
and an agenda of future transitions. Creating a job draws every duration of its timeline
at once (from seeded per-server streams) and puts the transitions on the agenda;
:meth:`RegionModel.advance` applies those that are due, in (time, order) order. The model
never reads a clock: the region calls ``advance(clock.now())`` before every request, so a
virtual clock that jumps an hour ahead sees exactly the states an hour of DRS would show.

Every status change is appended to :attr:`RegionModel.timeline` for properties and replay
checks. Quotas are checked here, and refused with the error DRS answers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from drsorch.sim.entities import (
    JOB_RANK,
    NOT_LAUNCHABLE,
    Job,
    LogItem,
    Participant,
    SourceServer,
)
from drsorch.sim.errors import SimApiError
from drsorch.sim.faults import FaultKind
from drsorch.sim.lifecycle import ALNUM, Lifecycle, TimelineEntry
from drsorch.sim.scenario import ServerSpec
from drsorch.sim.timing import stable_rng

__all__ = ["RegionModel", "TimelineEntry"]


class RegionModel(Lifecycle):
    """Source servers, jobs and instances of one account in one region."""

    # --- source servers ---------------------------------------------------------------

    def add_server(self, spec: ServerSpec) -> SourceServer:
        """Add (or replace the description of) one source server."""
        existing = self.servers.get(spec.id)
        server = SourceServer(
            id=spec.id,
            arn=self.arn(f"source-server/{spec.id}"),
            hostname=spec.hostname or f"host-{spec.id[2:10]}",
            tags=dict(spec.tags),
            replication_state=spec.replication_state,
            instance_type=spec.instance_type,
            timing=self.scenario.timing.merged(spec.timing),
            added_at=self.now,
        )
        if existing is not None:  # keep what happened to it
            server.launches = existing.launches
            server.active_job = existing.active_job
            server.recovery_instance_id = existing.recovery_instance_id
            server.last_launch_result = existing.last_launch_result
            server.last_launch = existing.last_launch
            server.added_at = existing.added_at
        self.servers[spec.id] = server
        return server

    def generated_ids(self, count: int, salt: str = "generated") -> list[str]:
        """``count`` seeded server ids (the same for the same seed)."""
        rng = random.Random(stable_rng(self.seed, salt).getrandbits(64))
        return ["s-" + "".join(rng.choice(ALNUM) for _ in range(17)) for _ in range(count)]

    # --- jobs -------------------------------------------------------------------------

    def _new_job(
        self, type_: str, initiated_by: str, tags: dict[str, str], server_ids: Iterable[str]
    ) -> Job:
        job_id = self.new_id("drsjob-")
        participants = {sid: Participant(sid) for sid in server_ids}
        job = Job(
            id=job_id,
            arn=self.arn(f"job/{job_id}"),
            type=type_,
            initiated_by=initiated_by,
            created=self.now,
            tags=dict(tags),
            participants=participants,
            seq=next(self._job_seq),
        )
        self.jobs[job_id] = job
        self.active_job_count += 1
        self.note("job", job_id, "PENDING")
        return job

    def _check_job_quota(self) -> None:
        quotas = self.scenario.quotas
        if self.active_job_count >= quotas.concurrent_jobs:
            raise _quota(
                f"Concurrent jobs in progress quota exceeded ({quotas.concurrent_jobs})",
                "L-D88FAC3A",
            )

    def start_recovery(self, server_ids: list[str], is_drill: bool, tags: dict[str, str]) -> Job:
        """StartRecovery: check the quotas, create a LAUNCH job and schedule its timeline."""
        quotas = self.scenario.quotas
        if len(server_ids) > quotas.servers_per_job:
            raise _quota(
                f"Max source servers in a single job is {quotas.servers_per_job}; "
                f"got {len(server_ids)}",
                "L-B827C881",
            )
        self._check_job_quota()
        if self.active_launch_servers + len(server_ids) > quotas.servers_in_active_jobs:
            raise _quota(
                f"Max source servers in all active jobs is {quotas.servers_in_active_jobs}; "
                f"{self.active_launch_servers} are in active jobs, {len(server_ids)} requested",
                "L-05AFA8C6",
            )
        for sid in server_ids:
            server = self.servers.get(sid)
            if server is not None and server.active_job is not None:
                raise SimApiError(
                    "ConflictException",
                    f"Source server {sid} is already part of an active job ({server.active_job})",
                    409,
                    fields={"resourceId": sid, "resourceType": "SOURCE_SERVER"},
                )
        job = self._new_job(
            "LAUNCH", "START_DRILL" if is_drill else "START_RECOVERY", tags, server_ids
        )
        job.is_drill = is_drill
        self.active_launch_servers += len(server_ids)
        job.status_fault = self.faults.for_job(job.id, server_ids, self.now, self.account_id)
        self.schedule_launch_job(job)
        return job

    def terminate_recovery_instances(self, ids: list[str]) -> Job:
        """TerminateRecoveryInstances: an asynchronous TERMINATE job.

        DRS's rules across job types: a server is in one active job at a time, LAUNCH or
        TERMINATE (409 ConflictException either way), and the servers of TERMINATE jobs
        count toward the 500-servers-in-active-jobs quota."""
        self._check_job_quota()
        known = [self.recovery_instances[i] for i in ids if i in self.recovery_instances]
        for ri in known:
            if ri.terminate_job is not None:
                raise SimApiError(
                    "ConflictException",
                    f"Recovery instance {ri.id} is already being terminated by {ri.terminate_job}",
                    409,
                    fields={"resourceId": ri.id, "resourceType": "RECOVERY_INSTANCE"},
                )
            server = self.servers.get(ri.source_server_id)
            if server is not None and server.active_job is not None:
                raise SimApiError(
                    "ConflictException",
                    f"Recovery instance {ri.id}: its source server {server.id} is already "
                    f"part of an active job ({server.active_job})",
                    409,
                    fields={"resourceId": ri.id, "resourceType": "RECOVERY_INSTANCE"},
                )
        server_ids = list(dict.fromkeys(ri.source_server_id for ri in known))
        quotas = self.scenario.quotas
        if self.active_launch_servers + len(server_ids) > quotas.servers_in_active_jobs:
            raise _quota(
                f"Max source servers in all active jobs is {quotas.servers_in_active_jobs}; "
                f"{self.active_launch_servers} are in active jobs, {len(server_ids)} requested",
                "L-05AFA8C6",
            )
        job = self._new_job("TERMINATE", "TERMINATE_RECOVERY_INSTANCES", {}, server_ids)
        self.active_launch_servers += len(server_ids)
        for sid in server_ids:
            server = self.servers.get(sid)
            if server is not None:
                server.active_job = job.id
        for ri in known:
            ri.terminate_job = job.id
            job.participants[ri.source_server_id].recovery_instance_id = ri.id
        job.terminating = [ri.id for ri in known]
        unknown = [i for i in ids if i not in self.recovery_instances]
        self.schedule_terminate_job(job, unknown)
        return job

    def finish_job(self, job: Job) -> None:
        """JOB_END: the job is COMPLETED and leaves the active-job quotas."""
        job.status = "COMPLETED"
        job.ended = self.now
        job.log.append(LogItem(self.now, "JOB_END", {}))
        self.note("job", job.id, "COMPLETED")
        self.active_job_count -= 1
        if job.type in ("LAUNCH", "TERMINATE"):  # both count toward L-05AFA8C6
            self.active_launch_servers -= len(job.participants)
            for sid in job.participants:
                server = self.servers.get(sid)
                if server is not None and server.active_job == job.id:
                    server.active_job = None

    def job_status(self, job: Job) -> str:
        """The status DescribeJobs shows (an unknown_job_status fault may replace it)."""
        fault = job.status_fault
        if (
            fault is not None
            and fault.kind == FaultKind.UNKNOWN_JOB_STATUS
            and (job.status != "COMPLETED" or fault.sticky)
        ):
            return fault.status
        return job.status

    def jobs_newest_first(self, ids: Iterable[str] | None = None) -> list[Job]:
        """Every job, or the known ones of ``ids`` (each once), newest first."""
        jobs = self.jobs.values() if ids is None else _known(self.jobs, ids)
        return sorted(jobs, key=lambda j: (j.created, j.seq), reverse=True)

    def active_jobs(self) -> list[Job]:
        return [j for j in self.jobs.values() if JOB_RANK[j.status] < JOB_RANK["COMPLETED"]]

    def launchable(self, server: SourceServer | None) -> bool:
        return server is not None and server.replication_state not in NOT_LAUNCHABLE


def _known(jobs: dict[str, Job], ids: Iterable[str]) -> list[Job]:
    return [jobs[i] for i in set(ids) if i in jobs]


def _quota(message: str, quota_code: str) -> SimApiError:
    return SimApiError(
        "ServiceQuotaExceededException",
        message,
        402,
        fields={"serviceCode": "drs", "quotaCode": quota_code, "resourceType": "JOB"},
    )
