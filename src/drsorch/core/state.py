"""The execution state: plain JSON, everything the core needs to continue after a crash.

``new_execution`` flattens a validated :class:`~drsorch.plan.Plan` into the state so that the
core never re-parses the plan; ``to_record`` derives the execution-history record of design §5.
Layout::

    {"version": 1, "execution_id", "plan": the plan as written, "plan_id", "plan_name",
     "execution_type", "is_drill", "environment": simulator|aws (set by the runner),
     "status", "phase": PREFLIGHT|RUNNING|DONE, "start_time", "end_time", "deadline",
     "initiated_by", "source_account_id", "target_account_id", "region",
     "config": {job_poll_seconds, launch_timeout_seconds, requeue_seconds, max_requeues, ...},
     "wave_index": {"<WaveNumber>": position in waves},
     "waves": [{number, name, deps, wait, type, order, health, pause_before, status,
                start_time, end_time, ready_at, next_index, approved}],
     "servers": {sid: {wave, status, job_id, token, recovery_instance_id, ec2_instance_id,
                       start_time, launched_time, healthy_time, end_time, error,
                       polls, next_poll_at, last_seen}},
     "launches": {token: {wave, servers, job_id, status: QUEUED|SENT|ACTIVE|DONE,
                          not_before, requeues, sent_at, first_sent_at, maybe_sent}},
     "job_tokens": {job_id: token}, "resolve_queue": [recovery instance ids to look up],
     "preflight_sent": bool,
     "next_job_poll": float|None, "api_failures": int, "seq": int, "revision": int,
     "errors": [{Message, WaveNumber, ServerId, JobId}], "notices": [str],
     "cancel_requested": bool}
"""

from __future__ import annotations

from typing import Any

from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.drs_terms import MAX_ACTIVE_JOBS, MAX_SERVERS_IN_ACTIVE_JOBS, MAX_SERVERS_PER_JOB
from drsorch.plan import Plan

STATE_VERSION = 1

DEFAULT_CONFIG: dict[str, float] = {
    "job_poll_seconds": 30.0,  # one DescribeJobs for all active jobs this often
    "launch_timeout_seconds": 7200.0,  # a server still launching after this is FAILED
    "requeue_seconds": 60.0,  # wait before retrying a launch DRS refused for quota
    "max_requeues": 10,
    "max_api_failures": 5,  # consecutive failed polls before the execution fails
    "max_jobs": MAX_ACTIVE_JOBS,  # DRS: concurrent jobs in progress
    "max_servers_in_jobs": MAX_SERVERS_IN_ACTIVE_JOBS,  # DRS: servers across active jobs
    "max_servers_per_job": MAX_SERVERS_PER_JOB,  # DRS: source servers in one job
}

State = dict[str, Any]


def new_execution(
    plan: Plan,
    *,
    execution_id: str,
    now: float,
    initiated_by: str,
    source_account_id: str,
    target_account_id: str,
    region: str,
    config: dict[str, float] | None = None,
) -> State:
    """A fresh RUNNING execution of ``plan`` started at ``now``."""
    waves = []
    servers: dict[str, Any] = {}
    for w in sorted(plan.waves, key=lambda w: w.wave_number):
        hc = plan.health_check_for(w)
        waves.append(
            {
                "number": w.wave_number,
                "name": w.name,
                "deps": plan.dependencies_of(w),
                "wait": w.wait_time_seconds,
                "type": w.execution_type,
                "order": w.launch_order(),
                "health": {
                    "enabled": hc.enabled,
                    "interval": hc.poll_interval_seconds,
                    "max_polls": hc.max_polls,
                    "require": hc.require,
                },
                "pause_before": w.pause_before,
                "approved": False,
                "status": WaveStatus.PENDING.value,
                "start_time": None,
                "end_time": None,
                "ready_at": None,
                "next_index": 0,
            }
        )
        for sid in w.server_ids:
            servers[sid] = {
                "wave": w.wave_number,
                "status": ServerStatus.PENDING.value,
                "job_id": None,
                "token": None,
                "recovery_instance_id": None,
                "ec2_instance_id": None,
                "start_time": None,
                "launched_time": None,
                "healthy_time": None,
                "end_time": None,
                "error": None,
                "polls": 0,
                "next_poll_at": None,
                "last_seen": None,
            }
    return {
        "version": STATE_VERSION,
        "execution_id": execution_id,
        "plan": plan.to_dict(),  # what is being run, for a resume after a crash
        "environment": None,
        "plan_id": plan.plan_id,
        "plan_name": plan.plan_name,
        "execution_type": plan.execution_type,
        "is_drill": plan.execution_type == "DRILL",
        "status": ExecutionStatus.RUNNING.value,
        "phase": "PREFLIGHT",
        "start_time": now,
        "end_time": None,
        "deadline": now + plan.timeout_seconds,
        "timeout_seconds": plan.timeout_seconds,
        "initiated_by": initiated_by,
        "source_account_id": source_account_id,
        "target_account_id": target_account_id,
        "region": region,
        "config": {**DEFAULT_CONFIG, **(config or {})},
        "waves": waves,
        "wave_index": {str(w["number"]): i for i, w in enumerate(waves)},  # JSON keys
        "servers": servers,
        "launches": {},
        "job_tokens": {},
        "resolve_queue": [],
        "preflight_sent": False,
        "next_job_poll": None,
        "api_failures": 0,
        "seq": 0,
        "revision": 0,
        "errors": [],
        "notices": [],
        "cancel_requested": False,
    }


def to_record(state: State) -> dict[str, Any]:
    """The execution-history record (design §5) of this state."""
    servers = state["servers"]
    waves_out = []
    for w in state["waves"]:
        results = []
        for sid in w["order"]:
            s = servers[sid]
            results.append(
                {
                    "ServerId": sid,
                    "Status": s["status"],
                    "JobId": s["job_id"],
                    "RecoveryInstanceId": s["recovery_instance_id"],
                    "Ec2InstanceId": s["ec2_instance_id"],
                    "StartTime": s["start_time"],
                    "LaunchedTime": s["launched_time"],
                    "HealthyTime": s["healthy_time"],
                    "EndTime": s["end_time"],
                    "Error": s["error"],
                }
            )
        waves_out.append(
            {
                "WaveNumber": w["number"],
                "WaveName": w["name"],
                "Status": w["status"],
                "StartTime": w["start_time"],
                "EndTime": w["end_time"],
                "ServerResults": results,
            }
        )
    end = state["end_time"]
    return {
        "ExecutionId": state["execution_id"],
        "PlanId": state["plan_id"],
        "PlanName": state["plan_name"],
        "ExecutionType": state["execution_type"],
        "Status": state["status"],
        "InitiatedBy": state["initiated_by"],
        "StartTime": state["start_time"],
        "EndTime": end,
        "Duration": None if end is None else end - state["start_time"],
        "SourceAccountId": state["source_account_id"],
        "TargetAccountId": state["target_account_id"],
        "Region": state["region"],
        "ServerCount": len(servers),
        "Errors": list(state["errors"]),
        "WaveStatus": waves_out,
    }
