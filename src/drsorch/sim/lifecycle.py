"""Timelines of jobs, launches and instances in a simulated region.

:class:`Lifecycle` is the base of :class:`drsorch.sim.model.RegionModel`: it keeps the
agenda of future transitions, the seeded id stream and the timeline, and it knows the
shape of each timeline:

- a LAUNCH job goes PENDING -> STARTED (``JOB_START``) -> COMPLETED (``JOB_END``, after
  every server is done). Each server goes PENDING -> IN_PROGRESS (``SNAPSHOT_START``,
  ``SNAPSHOT_END``, ``CONVERSION_START``, ``CONVERSION_END``, ``LAUNCH_START``) ->
  LAUNCHED, or FAILED (``LAUNCH_FAILED`` with a rawError; ``SERVER_SKIPPED`` for a server
  that does not exist or has no recovery point). A server with an earlier drill instance
  gets it cleaned up first (``CLEANUP_START``/``CLEANUP_END``), as DRS does.
- a launched server gets a recovery instance and an EC2 instance that goes ``pending`` ->
  ``running``, with status checks ``initializing`` -> ``ok`` (or ``impaired``).
- a TERMINATE job terminates the EC2 instances and then deletes the recovery instances.
"""

from __future__ import annotations

import heapq
import itertools
import string
from collections.abc import Callable
from typing import Any

from drsorch.sim.entities import (
    NOT_LAUNCHABLE,
    Ec2Instance,
    Job,
    LogItem,
    Participant,
    RecoveryInstance,
    SourceServer,
)
from drsorch.sim.faults import Fault, FaultBook, FaultKind
from drsorch.sim.scenario import Scenario
from drsorch.sim.timing import Timing, stable_rng

ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"

#: (time, kind, id, value): kind is "job", "launch" (id "job/server"), "ec2" or "checks"
TimelineEntry = tuple[float, str, str, str]

# where each job-log step falls between JOB_START (0) and the launch outcome (1)
_LAUNCH_STEPS = (
    (0.10, "SNAPSHOT_START"),
    (0.20, "SNAPSHOT_END"),
    (0.25, "CONVERSION_START"),
    (0.75, "CONVERSION_END"),
    (0.80, "LAUNCH_START"),
)
_CLEANUP_STEPS = ((0.01, "CLEANUP_START"), (0.08, "CLEANUP_END"))


class Lifecycle:
    """Agenda, ids, timeline and the timelines of jobs and instances."""

    def __init__(
        self,
        *,
        scenario: Scenario,
        seed: int,
        start: float,
        account_id: str,
        region_name: str,
        faults: FaultBook,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.start = start
        self.now = start
        self.account_id = account_id
        self.region_name = region_name
        self.faults = faults
        self.servers: dict[str, SourceServer] = {}
        self.jobs: dict[str, Job] = {}
        self.recovery_instances: dict[str, RecoveryInstance] = {}
        #: Each recovery instance's rank in creation order (DescribeRecoveryInstances lists
        #: them so, and finds a few named ones among thousands without walking them all).
        self.recovery_instance_rank: dict[str, int] = {}
        self.instances: dict[str, Ec2Instance] = {}
        self.timeline: list[TimelineEntry] = []
        self.active_job_count = 0
        self.active_launch_servers = 0  # servers in active LAUNCH and TERMINATE jobs
        self._agenda: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._job_seq = itertools.count(1)
        self._ids = stable_rng(seed, "ids")

    # --- time -------------------------------------------------------------------------

    def at(self, when: float, fn: Callable[..., None], *args: Any) -> None:
        """Put a transition on the agenda."""
        heapq.heappush(self._agenda, (when, next(self._seq), fn, args))

    def advance(self, now: float) -> None:
        """Apply every transition due at or before ``now`` (time never goes backwards)."""
        agenda = self._agenda
        while agenda and agenda[0][0] <= now:
            when, _, fn, args = heapq.heappop(agenda)
            self.now = max(self.now, when)
            fn(*args)
        self.now = max(self.now, now)

    def next_event_time(self) -> float | None:
        """When the next transition is due, or None when the region is idle."""
        return self._agenda[0][0] if self._agenda else None

    def note(self, kind: str, ident: str, value: str) -> None:
        self.timeline.append((self.now, kind, ident, value))

    # --- ids --------------------------------------------------------------------------

    def new_id(self, prefix: str, alphabet: str = ALNUM, length: int = 17) -> str:
        return prefix + "".join(self._ids.choices(alphabet, k=length))

    def new_instance_id(self) -> str:
        return self.new_id("i-", HEX)

    def arn(self, resource: str) -> str:
        return f"arn:aws:drs:{self.region_name}:{self.account_id}:{resource}"

    def finish_job(self, job: Job) -> None:  # pragma: no cover - RegionModel overrides
        raise NotImplementedError

    # --- LAUNCH jobs ------------------------------------------------------------------

    def schedule_launch_job(self, job: Job) -> None:
        """Draw the whole timeline of a new LAUNCH job and put it on the agenda."""
        timing = self.scenario.timing
        jrng = stable_rng(self.seed, "job", job.id)
        started = job.created + timing.job_start.draw(jrng)
        self.at(started, self._job_started, job)
        last = started
        for participant in job.participants.values():
            server = self.servers.get(participant.server_id)
            if server is not None:
                server.active_job = job.id
                server.last_launch_result = "PENDING"
                server.last_launch = {
                    "initiated": {
                        "apiCallDateTime": job.created,
                        "jobID": job.id,
                        "type": "DRILL" if job.is_drill else "RECOVERY",
                    },
                    "status": "PENDING",
                }
            last = max(last, self._schedule_server(job, participant, server, started))
        self.at(last + timing.job_end.draw(jrng), self.finish_job, job)

    def _schedule_server(
        self, job: Job, p: Participant, server: SourceServer | None, started: float
    ) -> float:
        """Schedule one server's launch; returns when its outcome is known."""
        if server is None or server.replication_state in NOT_LAUNCHABLE:
            why = (
                f"Source server {p.server_id} was not found"
                if server is None
                else f"Source server {p.server_id} has no recovery point "
                f"(replication state {server.replication_state})"
            )
            self.at(started, self._skip_server, job, p, why)
            return started
        server.launches += 1
        rng = stable_rng(self.seed, "launch", server.id, server.launches)
        t = server.timing
        launched = max(job.created + t.launch.draw(rng), started + 10.0)
        running_delay, ok_delay = t.running.draw(rng), t.status_ok.draw(rng)
        fired = self.faults.for_launch(server.id, server.launches, self.now, self.account_id)
        faults = {FaultKind(f.kind): f for f in fired}
        ec2_id = self.new_instance_id()
        ri_id = ec2_id if self.scenario.recovery_instance_ids == "same" else self.new_instance_id()
        span = launched - started
        old = self.recovery_instances.get(server.recovery_instance_id or "")
        if old is not None and old.is_drill and old.terminate_job is None:
            for frac, event in _CLEANUP_STEPS:
                self.at(started + frac * span, self._cleanup_step, job, p, old, event)
        for frac, event in _LAUNCH_STEPS:
            data = {"sourceServerID": p.server_id}
            if event == "LAUNCH_START":
                data["targetInstanceID"] = ec2_id
            self.at(started + frac * span, self._log_step, job, p, event, data)
        failure = faults.get(FaultKind.LAUNCH_FAILURE)
        if failure is not None:
            self.at(launched, self._launch_failed, job, p, server, failure.raw_error)
        else:
            args = (job, p, server, ec2_id, ri_id, running_delay, ok_delay, faults)
            self.at(launched, self._launched, *args)
        return launched

    def _job_started(self, job: Job) -> None:
        job.status = "STARTED"
        job.log.append(LogItem(self.now, "JOB_START", {}))
        self.note("job", job.id, "STARTED")

    def _set_launch(self, job: Job, p: Participant, status: str) -> None:
        p.launch_status = status
        job.version += 1
        self.note("launch", f"{job.id}/{p.server_id}", status)
        server = self.servers.get(p.server_id)
        last = server.last_launch if server is not None else None
        if job.type == "LAUNCH" and last is not None and last["initiated"]["jobID"] == job.id:
            last["status"] = status

    def _log_step(self, job: Job, p: Participant, event: str, data: dict[str, str]) -> None:
        job.log.append(LogItem(self.now, event, data))
        if p.launch_status == "PENDING":
            self._set_launch(job, p, "IN_PROGRESS")

    def _skip_server(self, job: Job, p: Participant, why: str) -> None:
        job.log.append(
            LogItem(self.now, "SERVER_SKIPPED", {"sourceServerID": p.server_id, "rawError": why})
        )
        self._set_launch(job, p, "FAILED")

    def _cleanup_step(self, job: Job, p: Participant, old: RecoveryInstance, event: str) -> None:
        data = {"sourceServerID": p.server_id, "targetInstanceID": old.ec2_id}
        self._log_step(job, p, event, data)
        inst = self.instances.get(old.ec2_id)
        if event == "CLEANUP_START" and inst is not None:
            self.begin_ec2_terminate(inst, "Terminated by DRS: replaced by a new drill instance")
        elif event == "CLEANUP_END":
            if inst is not None:
                self._ec2_terminated(inst)
            self.delete_recovery_instance(old)

    def _launch_failed(self, job: Job, p: Participant, server: SourceServer, raw: str) -> None:
        data = {"sourceServerID": server.id, "rawError": raw}
        job.log.append(LogItem(self.now, "LAUNCH_FAILED", data))
        server.last_launch_result = "FAILED"
        self._set_launch(job, p, "FAILED")

    def _launched(
        self,
        job: Job,
        p: Participant,
        server: SourceServer,
        ec2_id: str,
        ri_id: str,
        running_delay: float,
        ok_delay: float,
        faults: dict[FaultKind, Fault],
    ) -> None:
        inst = Ec2Instance(
            id=ec2_id,
            image_id=self.new_id("ami-", HEX),
            instance_type=server.instance_type,
            launch_time=self.now,
            private_ip=f"10.0.{self._ids.randrange(256)}.{self._ids.randrange(1, 255)}",
            tags={
                "Name": server.hostname,
                "AWSElasticDisasterRecoveryManaged": "drs.amazonaws.com",
                "AWSElasticDisasterRecoverySourceServerID": server.id,
            },
        )
        self.instances[ec2_id] = inst
        self.note("ec2", ec2_id, "pending")
        self.note("checks", ec2_id, "initializing")
        self.recovery_instance_rank[ri_id] = len(self.recovery_instance_rank)
        self.recovery_instances[ri_id] = RecoveryInstance(
            id=ri_id,
            arn=self.arn(f"recovery-instance/{ri_id}"),
            ec2_id=ec2_id,
            source_server_id=server.id,
            job_id=job.id,
            is_drill=job.is_drill,
            created=self.now,
            point_in_time=job.created,
            tags=dict(server.tags),
        )
        p.recovery_instance_id = ri_id
        server.recovery_instance_id = ri_id
        server.last_launch_result = "SUCCEEDED"
        self._set_launch(job, p, "LAUNCHED")
        if FaultKind.STUCK_PENDING not in faults:
            impaired = faults.get(FaultKind.IMPAIRED)
            self.at(self.now + running_delay, self._ec2_running, inst, ok_delay, impaired)

    # --- EC2 instances ----------------------------------------------------------------

    def _ec2_running(self, inst: Ec2Instance, ok_delay: float, impaired: Fault | None) -> None:
        if inst.state != "pending":
            return
        inst.state = "running"
        self.note("ec2", inst.id, "running")
        self.at(self.now + ok_delay, self._ec2_checked, inst, impaired)

    def _ec2_checked(self, inst: Ec2Instance, impaired: Fault | None) -> None:
        if inst.state != "running":
            return
        which = impaired.checks if impaired is not None else None
        inst.instance_checks = "impaired" if which in ("instance", "both") else "ok"
        inst.system_checks = "impaired" if which in ("system", "both") else "ok"
        if which is not None:
            inst.impaired_since = self.now
        self.note("checks", inst.id, "impaired" if which else "ok")

    def begin_ec2_terminate(self, inst: Ec2Instance, reason: str) -> str:
        """Start terminating an instance; returns the state it was in."""
        previous = inst.state
        if previous in ("shutting-down", "terminated"):
            return previous
        inst.state = "shutting-down"
        inst.reason = reason
        self.note("ec2", inst.id, "shutting-down")
        timing: Timing = self.scenario.timing
        delay = timing.ec2_terminate.draw(stable_rng(self.seed, "ec2-terminate", inst.id))
        self.at(self.now + delay, self._ec2_terminated, inst)
        return previous

    def _ec2_terminated(self, inst: Ec2Instance) -> None:
        if inst.state == "terminated":
            return
        inst.state = "terminated"
        inst.terminated_at = self.now
        self.note("ec2", inst.id, "terminated")

    def ec2_visible(self, inst: Ec2Instance) -> bool:
        """EC2 forgets terminated instances after a while."""
        if inst.terminated_at is None:
            return True
        return self.now < inst.terminated_at + self.scenario.terminated_visible_seconds

    # --- TERMINATE jobs ---------------------------------------------------------------

    def schedule_terminate_job(self, job: Job, unknown: list[str]) -> None:
        timing = self.scenario.timing
        jrng = stable_rng(self.seed, "job", job.id)
        started = job.created + timing.job_start.draw(jrng)
        self.at(started, self._job_started, job)
        for ident in unknown:
            raw = f"Recovery instance {ident} was not found"
            data = {"targetInstanceID": ident, "rawError": raw}
            self.at(started, self._log, job, "CLEANUP_FAIL", data)
        last = started
        for ri_id in job.terminating:
            ri = self.recovery_instances[ri_id]
            p = job.participants[ri.source_server_id]
            server = self.servers.get(ri.source_server_id)
            t = server.timing if server is not None else timing
            end = started + t.terminate.draw(stable_rng(self.seed, "terminate", ri_id, job.id))
            self.at(started, self._terminate_start, job, p, ri)
            self.at(end, self._terminate_end, job, p, ri)
            last = max(last, end)
        self.at(last + timing.job_end.draw(jrng), self.finish_job, job)

    def _log(self, job: Job, event: str, data: dict[str, str]) -> None:
        job.log.append(LogItem(self.now, event, data))

    def _terminate_start(self, job: Job, p: Participant, ri: RecoveryInstance) -> None:
        data = {"sourceServerID": ri.source_server_id, "targetInstanceID": ri.ec2_id}
        self._log_step(job, p, "CLEANUP_START", data)
        inst = self.instances.get(ri.ec2_id)
        if inst is not None:
            self.begin_ec2_terminate(inst, "Terminated by DRS (TerminateRecoveryInstances)")

    def _terminate_end(self, job: Job, p: Participant, ri: RecoveryInstance) -> None:
        inst = self.instances.get(ri.ec2_id)
        if inst is not None:
            self._ec2_terminated(inst)
        data = {"sourceServerID": ri.source_server_id, "targetInstanceID": ri.ec2_id}
        job.log.append(LogItem(self.now, "CLEANUP_END", data))
        self.delete_recovery_instance(ri)
        if p.launch_status != "TERMINATED":  # a server's two instances share one participant
            self._set_launch(job, p, "TERMINATED")

    def delete_recovery_instance(self, ri: RecoveryInstance) -> None:
        """DRS forgets the recovery instance; its launch job now says TERMINATED."""
        if self.recovery_instances.pop(ri.id, None) is None:
            return
        server = self.servers.get(ri.source_server_id)
        if server is not None and server.recovery_instance_id == ri.id:
            server.recovery_instance_id = None
        launch_job = self.jobs.get(ri.job_id)
        if launch_job is not None:
            p = launch_job.participants.get(ri.source_server_id)
            if p is not None and p.launch_status == "LAUNCHED" and p.recovery_instance_id == ri.id:
                self._set_launch(launch_job, p, "TERMINATED")
