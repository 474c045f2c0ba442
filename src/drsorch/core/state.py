"""The execution state: plain JSON, everything the core needs to continue after a crash.

Its layout is :class:`~drsorch.core.state_types.ExecutionState` and the TypedDicts under it
(:mod:`drsorch.core.state_types`): the one description of every key, which mypy checks the
code against. This module makes and reads states:

- :func:`new_execution` flattens a validated :class:`~drsorch.plan.Plan` into a fresh state,
  so that the core never re-parses the plan;
- :func:`to_record` derives the execution-history record of design §5 (:func:`wave_record`
  one wave of it);
- :func:`load_state` is the way in for a saved state (a resume): it refuses a damaged or
  foreign one with a message naming the execution and what is wrong, and migrates a state
  of an older layout :data:`STATE_VERSION` to the current one.
"""

from __future__ import annotations

import functools
import reprlib
from collections.abc import Callable
from typing import Any, TypeAlias, TypedDict, TypeVar

from pydantic import TypeAdapter, ValidationError

from drsorch.core.state_types import (
    EngineConfig,
    EnvironmentDetails,
    ExecutionState,
    ServerState,
    WaveState,
)
from drsorch.core.statuses import ExecutionStatus, Phase, ServerStatus, WaveStatus
from drsorch.drs_terms import MAX_ACTIVE_JOBS, MAX_SERVERS_IN_ACTIVE_JOBS, MAX_SERVERS_PER_JOB
from drsorch.errors import RefusedError, StoreDamagedError
from drsorch.plan import Plan

__all__ = [
    "DEFAULT_CONFIG",
    "STATE_VERSION",
    "ConfigOverrides",
    "State",
    "known",
    "load_state",
    "new_execution",
    "new_server",
    "to_record",
    "wave_record",
]

#: The layout version a state is written with (its ``"version"``). Bump it, and add a
#: migration to ``_MIGRATIONS``, whenever a key is added, removed or changes meaning.
STATE_VERSION = 2


def _v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added a wave's ``selector`` (ServerTags, issue 12): a version-1 state has
    none, so only its version changes. A drsorch that reads only version 1 refuses a
    version-2 state as "saved by a newer drsorch" instead of resuming it wrongly."""
    return {**old, "version": 2}


#: Version N -> a function turning a saved version-N state into a version-N+1 one.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}

DEFAULT_CONFIG: EngineConfig = {
    "job_poll_seconds": 30.0,  # one DescribeJobs for all active jobs this often
    "launch_timeout_seconds": 7200.0,  # a server still launching after this is FAILED
    "requeue_seconds": 60.0,  # wait before retrying a launch DRS refused for quota
    "max_requeues": 10,
    "max_api_failures": 5,  # consecutive failed polls before the execution fails
    "max_jobs": MAX_ACTIVE_JOBS,  # DRS: concurrent jobs in progress
    "max_servers_in_jobs": MAX_SERVERS_IN_ACTIVE_JOBS,  # DRS: servers across active jobs
    "max_servers_per_job": MAX_SERVERS_PER_JOB,  # DRS: source servers in one job
}


class ConfigOverrides(TypedDict, total=False):
    """Some keys of :class:`~drsorch.core.state_types.EngineConfig`, to change defaults."""

    job_poll_seconds: float
    launch_timeout_seconds: float
    requeue_seconds: float
    max_requeues: int
    max_api_failures: int
    max_jobs: int
    max_servers_in_jobs: int
    max_servers_per_job: int


#: The engine state of one execution.
State: TypeAlias = ExecutionState

_T = TypeVar("_T")


def known(value: _T | None) -> _T:
    """``value``, which the layout allows to be null, where the state's rules say it is set
    (a COMPLETED wave has an end_time, an ACTIVE launch a job_id, ...)."""
    assert value is not None, "the engine state broke one of its own rules"
    return value


def new_execution(
    plan: Plan,
    *,
    execution_id: str,
    now: float,
    initiated_by: str,
    source_account_id: str,
    target_account_id: str,
    region: str,
    config: ConfigOverrides | None = None,
    environment: EnvironmentDetails | None = None,
) -> State:
    """A fresh RUNNING execution of ``plan`` started at ``now``; ``environment`` says where
    it runs (its ``kind`` is also the state's ``environment``)."""
    waves: list[WaveState] = []
    servers: dict[str, ServerState] = {}
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
                "approval_timeout": plan.approval_timeout_seconds,
                "status": WaveStatus.PENDING,
                "start_time": None,
                "end_time": None,
                "ready_at": None,
                "next_index": 0,
                "max_failed": plan.max_failed_for(w),
            }
        )
        if w.server_tags is not None:
            most, percent = plan.tolerance_of(w)
            waves[-1]["selector"] = {
                "tags": dict(w.server_tags),
                "matched": None,  # the preflight resolves it
                "max_failed_servers": most,
                "max_failed_percent": percent,
            }
        for sid in w.listed_ids:
            servers[sid] = new_server(w.wave_number)
    state: State = {
        "version": STATE_VERSION,
        "execution_id": execution_id,
        "plan": plan.to_dict(),  # what is being run, for a resume after a crash
        "environment": None if environment is None else environment["kind"],
        "plan_id": plan.plan_id,
        "plan_name": plan.plan_name,
        "execution_type": plan.execution_type,
        "is_drill": plan.execution_type == "DRILL",
        "status": ExecutionStatus.RUNNING,
        "phase": Phase.PREFLIGHT,
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
    if environment is not None:
        state["environment_details"] = environment.copy()
    return state


def new_server(wave: int) -> ServerState:
    """A source server of wave ``wave`` that nothing has happened to yet."""
    return {
        "wave": wave,
        "status": ServerStatus.PENDING,
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
        "hostname": None,
    }


def to_record(state: State, waves: list[Any] | None = None) -> dict[str, Any]:
    """The execution-history record (design §5) of this state. ``waves``, when given, is
    its ``WaveStatus`` already made (a keeper that reuses the waves unchanged since its
    last save and makes the others with :func:`wave_record`)."""
    servers = state["servers"]
    if waves is None:
        waves = [wave_record(state, w) for w in state["waves"]]
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
        "FailedServerCount": sum(1 for s in servers.values() if s["status"] == ServerStatus.FAILED),
        "RtoTargetSeconds": state["plan"].get("RtoTargetSeconds"),
        "Errors": list(state["errors"]),
        "WaveStatus": waves,
        "Notification": state.get("notification"),
        "Environment": _environment_record(state.get("environment_details")),
    }


def wave_record(state: State, w: WaveState) -> dict[str, Any]:
    """One wave of the record (an item of its ``WaveStatus``): the wave ``w`` of ``state``
    and the results of its servers, in launch order."""
    servers = state["servers"]
    results = []
    for sid in w["order"]:
        s = servers[sid]
        results.append(
            {
                "ServerId": sid,
                "Hostname": s.get("hostname"),
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
    wave_out: dict[str, Any] = {
        "WaveNumber": w["number"],
        "WaveName": w["name"],
        "Status": w["status"],
        "DependsOn": list(w["deps"]),
        "WaitTimeSeconds": w["wait"],
        "StartTime": w["start_time"],
        "EndTime": w["end_time"],
        "ServerResults": results,
    }
    if w.get("approved_at") is not None:  # only approved waves: other records keep their shape
        wave_out["ApprovedBy"] = w.get("approved_by")
        wave_out["ApprovedTime"] = w["approved_at"]
    if "selector" in w:  # only waves that select by tags, so other records keep their shape
        wave_out["ServerTags"] = dict(w["selector"]["tags"])
        wave_out["TagMatchedServerIds"] = list(w["selector"]["matched"] or ())
    return wave_out


def _environment_record(details: EnvironmentDetails | None) -> dict[str, Any] | None:
    """The record's Environment; None for a state saved before drsorch kept it."""
    if details is None:
        return None
    return {
        "Kind": details["kind"],
        "Endpoint": details["endpoint"],
        "Seed": details["seed"],
        "Scenario": details["scenario"],
    }


# -- loading a saved state -----------------------------------------------------------------


@functools.cache
def _adapter() -> TypeAdapter[ExecutionState]:
    """Built on first use (about 10 ms): only a resume needs it."""
    return TypeAdapter(ExecutionState)


def load_state(data: object, *, execution_id: str | None = None) -> State:
    """``data``, an engine state as it was saved (JSON), checked and brought to
    :data:`STATE_VERSION`, ready for the core to continue.

    Every key of every level is checked against :mod:`~drsorch.core.state_types`, strictly
    (no ``"5"`` for 5, no unknown or missing key), then every reference (a wave's servers
    and dependencies, a launch's servers, a job's launch) must name something the state
    has. Statuses and phases come back as their enum members; everything else as it was
    saved. ``execution_id``, when given, is the id the state was saved under.

    Raises :class:`~drsorch.errors.StoreDamagedError` naming the execution and what is
    wrong, or :class:`~drsorch.errors.RefusedError` for a state a newer drsorch saved.
    """
    name = execution_id or _saved_id(data)
    if not isinstance(data, dict):
        raise _damaged(name, f"it is {_short(data)}, not a JSON object")
    if "version" not in data:
        raise _damaged(name, "it has no version: it is not an engine state")
    version = data["version"]
    if type(version) is not int or version < 1:
        raise _damaged(name, f"its version is {_short(version)}, not a state version")
    if version > STATE_VERSION:
        raise RefusedError(
            f"execution {name} was saved by a newer drsorch (engine state version {version}; "
            f"this one reads versions 1 to {STATE_VERSION}): resume it with that drsorch"
        )
    for older in range(version, STATE_VERSION):
        data = _MIGRATIONS[older](data)
    try:
        state = _adapter().validate_python(data)
    except ValidationError as exc:
        raise _damaged(name, _listed(_validation_problems(exc))) from None
    problems = _dangling(state)
    if execution_id is not None and state["execution_id"] != execution_id:
        problems.insert(0, f"it is the state of execution {state['execution_id']}")
    if problems:
        raise _damaged(name, _listed(problems))
    return state


def _damaged(name: str, what: str) -> StoreDamagedError:
    return StoreDamagedError(
        f"the saved engine state of execution {name} is damaged, so it cannot be resumed: {what}"
    )


def _saved_id(data: object) -> str:
    found = data.get("execution_id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else "(of unknown id)"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 40


def _short(value: object) -> str:
    return _REPR.repr(value)


def _listed(problems: list[str], shown: int = 3) -> str:
    more = len(problems) - shown
    return "; ".join(problems[:shown]) + (f"; and {more} more" if more > 0 else "")


def _validation_problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "the state"
        found = "" if error["type"] == "missing" else f" (found {_short(error['input'])})"
        problems.append(f"{where}: {error['msg']}{found}")
    return problems


def _dangling(state: State) -> list[str]:
    """References to what the state does not have: the core would fail on them."""
    waves, servers, launches = state["waves"], state["servers"], state["launches"]
    index = {str(w["number"]): i for i, w in enumerate(waves)}
    problems = [] if state["wave_index"] == index else ["wave_index does not match waves"]
    for w in waves:
        problems += [
            f"wave {w['number']} has no server {sid}" for sid in _missing(w["order"], servers)
        ]
        problems += [
            f"wave {w['number']} depends on wave {d}, which is not in the state"
            for d in w["deps"]
            if str(d) not in index
        ]
    for w in waves:
        matched = w["selector"]["matched"] if "selector" in w else None
        problems += [
            f"wave {w['number']}: server {sid} matched by its ServerTags is not in its order"
            for sid in matched or ()
            if sid not in w["order"]
        ]
    for sid, s in servers.items():
        if str(s["wave"]) not in index:
            problems.append(f"server {sid} is in wave {s['wave']}, which is not in the state")
        if s["token"] is not None and s["token"] not in launches:
            problems.append(f"server {sid} names launch {s['token']}, which is not in the state")
    for token, launch in launches.items():
        problems += [
            f"launch {token} has no server {sid}" for sid in _missing(launch["servers"], servers)
        ]
    problems += [
        f"job {job_id} names launch {token}, which is not in the state"
        for job_id, token in state["job_tokens"].items()
        if token not in launches
    ]
    return problems


def _missing(ids: list[str], servers: dict[str, ServerState]) -> list[str]:
    return [sid for sid in ids if sid not in servers]
