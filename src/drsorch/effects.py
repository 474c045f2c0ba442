"""The core's commands carried out through the AWS adapters, their answers turned into the
core's events (design §2: adapters at the edge; issue 13: effects apart from the loop).

:class:`Effects` knows nothing of sleeping, saving or the order of a loop: given one
command it makes the calls and returns the events to feed back. The local runner and any
other driver (the Step Functions Lambda) use it as it is. Failures of AWS calls become
events (``ApiFailed``, ``LaunchFailed``), never exceptions; only drsorch's own bugs raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drsorch.aws.drs import JOB_LOOKBACK_SECONDS, DrsAdapter
from drsorch.aws.ec2 import Ec2Adapter
from drsorch.clock import Clock
from drsorch.core import messages as m
from drsorch.drs_terms import FAILURE_EVENTS, LAUNCH_FAILED, TOKEN_TAG, tags_match
from drsorch.errors import (
    AccessDeniedError,
    AwsError,
    ConflictError,
    CredentialsError,
    QuotaExceededError,
)

__all__ = ["Effects"]

#: Errors after which polling again cannot help: the execution fails at once.
_FATAL = (AccessDeniedError, CredentialsError)


#: Answers an approval request (PauseBefore) for a wave: a name or True approves, False
#: refuses, None waits for an approval from elsewhere (see ``Effects._await_approval``).
Approver = Callable[[int], "bool | str | None"]


class Effects:
    """Carries out one command at a time and says what happened, as events.

    ``approve(wave)`` answers an approval request (PauseBefore); ``before_launch()`` is
    called right before any StartRecovery goes out (the runner checks its lease there);
    ``log(text)`` hears what a person may want to know (adopted jobs, unreadable job logs).
    """

    def __init__(
        self,
        *,
        drs: DrsAdapter,
        ec2: Ec2Adapter,
        clock: Clock,
        approve: Approver | None = None,
        log: Callable[[str], None] | None = None,
        before_launch: Callable[[], None] | None = None,
    ) -> None:
        self.drs, self.ec2, self.clock = drs, ec2, clock
        self.approve = approve or (lambda wave: False)
        self.log = log or (lambda text: None)
        self.before_launch = before_launch or (lambda: None)

    def execute(self, command: m.Command) -> list[m.Event]:
        """The events that answer ``command`` (WakeAt and Finish are the driver's)."""
        handler = _HANDLERS[type(command)]
        return handler(self, command)

    # -- one method per command ------------------------------------------------------------

    def _describe_servers(self, cmd: m.DescribeServers) -> list[m.Event]:
        matched: dict[str, list[str]] = {}
        try:
            if cmd.selectors:
                every = self.drs.list_source_servers()
                for wave, selector in cmd.selectors.items():
                    matched[wave] = sorted(
                        sid for sid, s in every.items() if tags_match(s.tags, selector)
                    )
                # Only the servers the plan names or selects: tags are sensitive, and an
                # account may hold thousands of servers the execution has nothing to do with.
                wanted = set(cmd.server_ids).union(*matched.values())
                found = {sid: s for sid, s in every.items() if sid in wanted}
            else:
                found = self.drs.describe_source_servers(cmd.server_ids)
        except AwsError as exc:
            return [m.ApiFailed("DescribeSourceServers", str(exc), fatal=True)]
        return [
            m.ServersDescribed(
                {sid: s.replication_state for sid, s in found.items()},
                hostnames={sid: s.hostname for sid, s in found.items() if s.hostname},
                matched=matched,
            )
        ]

    def _start_recovery(self, cmd: m.StartRecovery) -> list[m.Event]:
        self.before_launch()
        try:
            if cmd.adopt_existing:
                since = (cmd.since or self.clock.now()) - JOB_LOOKBACK_SECONDS
                found = self.drs.find_job_by_tags({TOKEN_TAG: cmd.token}, since)
                if found is not None:
                    self.log(f"wave {cmd.wave}: adopted job {found.job_id} sent before the restart")
                    return [m.LaunchStarted(cmd.token, found.job_id)]
            job = self.drs.start_recovery(cmd.server_ids, is_drill=cmd.is_drill, tags=cmd.tags)
        except (QuotaExceededError, ConflictError) as exc:
            return [m.LaunchFailed(cmd.token, str(exc), requeue=True)]
        except AwsError as exc:
            return [m.LaunchFailed(cmd.token, str(exc))]
        self.log(f"wave {cmd.wave}: job {job.job_id} launches {len(cmd.server_ids)} server(s)")
        return [m.LaunchStarted(cmd.token, job.job_id)]

    def _poll_jobs(self, cmd: m.PollJobs) -> list[m.Event]:
        try:
            jobs = self.drs.describe_jobs(cmd.job_ids)
            out: dict[str, dict[str, Any]] = {}
            for job_id, job in jobs.items():
                participants = {
                    p.server_id: {
                        "launch_status": p.launch_status,
                        "recovery_instance_id": p.recovery_instance_id,
                    }
                    for p in job.participants
                }
                failed = [p.server_id for p in job.participants if p.launch_status in LAUNCH_FAILED]
                reasons = self._failure_reasons(job_id, failed) if failed else {}
                out[job_id] = {
                    "status": job.status,
                    "participants": participants,
                    "reasons": reasons,
                }
        except AwsError as exc:
            return [m.ApiFailed("DescribeJobs", str(exc), fatal=isinstance(exc, _FATAL))]
        return [m.JobsPolled(out)]

    def _failure_reasons(self, job_id: str, servers: list[str]) -> dict[str, str]:
        """What the job log says about each failed server (best effort)."""
        try:
            items = self.drs.job_log(job_id)
        except AwsError as exc:
            self.log(f"could not read the log of job {job_id}: {exc}")
            return {}
        reasons: dict[str, str] = {}
        for item in items:
            if item.server_id in servers and item.event in FAILURE_EVENTS:
                reasons[item.server_id] = f"{item.event}: {item.raw_error or 'no details'}"
        return reasons

    def _resolve(self, cmd: m.ResolveInstances) -> list[m.Event]:
        try:
            found = self.drs.describe_recovery_instances(cmd.recovery_instance_ids)
        except AwsError as exc:
            return [
                m.ApiFailed("DescribeRecoveryInstances", str(exc), fatal=isinstance(exc, _FATAL))
            ]
        return [
            m.InstancesResolved(
                {
                    rid: (found[rid].ec2_instance_id if rid in found else None)
                    for rid in cmd.recovery_instance_ids
                }
            )
        ]

    def _check_health(self, cmd: m.CheckHealth) -> list[m.Event]:
        try:
            seen = self.ec2.describe_instance_status(cmd.instance_ids)
        except AwsError as exc:
            return [m.ApiFailed("DescribeInstanceStatus", str(exc), fatal=isinstance(exc, _FATAL))]
        return [
            m.HealthPolled(
                {
                    iid: {
                        "state": h.state,
                        "instance_status": h.instance_status,
                        "system_status": h.system_status,
                    }
                    for iid, h in seen.items()
                }
            )
        ]

    def _await_approval(self, cmd: m.AwaitApproval) -> list[m.Event]:
        """``approve(wave)``: a name (or True) approves, False refuses (the execution is
        cancelled), None leaves the wave PAUSED for an approval from elsewhere (``drsorch
        approve``, through the store) until its ApprovalTimeoutSeconds."""
        answer = self.approve(cmd.wave)
        if answer is None:
            return []
        if answer is False:
            return [
                m.Cancel(f"wave {cmd.wave} needs an approval (PauseBefore) and did not get one")
            ]
        return [m.Approve(cmd.wave, by=answer if isinstance(answer, str) else None)]


_HANDLERS: dict[type[m.Message], Callable[[Effects, Any], list[m.Event]]] = {
    m.DescribeServers: Effects._describe_servers,
    m.StartRecovery: Effects._start_recovery,
    m.PollJobs: Effects._poll_jobs,
    m.ResolveInstances: Effects._resolve,
    m.CheckHealth: Effects._check_health,
    m.AwaitApproval: Effects._await_approval,
}
