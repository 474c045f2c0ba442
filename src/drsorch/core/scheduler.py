"""The engine's decisions: ``decide(state, event, now) -> (state, commands)`` (design §4).

Pure and deterministic: no boto3, no I/O, no clock, no randomness. Given the same state,
event and time it always returns the same commands, so the local runner, the Step Functions
Lambda and crash-resume all drive the same logic. ``advance`` is the in-place form the
runner uses for speed; ``decide`` copies first.

One call handles the event, then moves everything forward that ``now`` allows, in order:
sequential waves, finished waves, readiness (and transitive SKIPPED), starting waves,
dispatching launches within DRS quotas, job polls, health polls, and completion. It ends
with exactly one ``WakeAt`` (when to call again with ``Tick``) or one ``Finish``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from drsorch.core import messages as m
from drsorch.core.mutate import end_server as _end_server
from drsorch.core.mutate import end_wave_unstarted as _end_wave_unstarted
from drsorch.core.mutate import error as _error
from drsorch.core.mutate import fail_server as _fail_server
from drsorch.core.mutate import ids_in as _ids_in
from drsorch.core.mutate import notice as _notice
from drsorch.core.mutate import touch as _touch
from drsorch.core.mutate import wave_by_number as _wave
from drsorch.core.selection import resolve as _resolve_selectors
from drsorch.core.selection import unresolved as _unresolved
from drsorch.core.state import State
from drsorch.core.state_types import InstanceHealth, LaunchState, WaveHealthCheck
from drsorch.core.statuses import DispatchStatus as DS
from drsorch.core.statuses import ExecutionStatus as ES
from drsorch.core.statuses import Phase
from drsorch.core.statuses import ServerStatus as SS
from drsorch.core.statuses import WaveStatus as WS
from drsorch.core.timekeeping import abort as _abort
from drsorch.core.timekeeping import finish_early as _finish_early
from drsorch.core.timekeeping import next_wake as _next_wake
from drsorch.core.timekeeping import progress as _progress
from drsorch.drs_terms import (
    INSTANCE_RUNNING,
    JOB_ENDED,
    JOB_IN_PROGRESS,
    LAUNCH_FAILED,
    LAUNCH_IN_PROGRESS,
    REPLICATION_READY,
    STATUS_OK,
    LaunchStatus,
)

#: The final statuses of an execution (``ES(status).terminal``, without making an enum
#: member from the status three times a step).
_FINISHED = frozenset(status for status in ES if status.terminal)

# Statuses and a launch status these rules compare every server of a launch with, read off
# their enums once: in Python 3.11 ``SS.LAUNCHING`` costs some 0.2 us (the enum metaclass
# has a ``__getattr__``, which puts every attribute read of the class on the slow path).
_LAUNCHING, _ACTIVE, _LAUNCHED = SS.LAUNCHING, DS.ACTIVE, LaunchStatus.LAUNCHED


def decide(state: State, event: m.Event, now: float) -> tuple[State, list[m.Command]]:
    """Pure form: a new state and the commands; ``state`` is left untouched."""
    new = copy.deepcopy(state)
    return new, advance(new, event, now)


def advance(state: State, event: m.Event, now: float) -> list[m.Command]:
    """Apply ``event`` at ``now`` to ``state`` in place; return the commands to carry out."""
    cmds: list[m.Command] = []
    if state["status"] in _FINISHED:
        return [m.Finish(state["status"])]
    _HANDLERS[type(event)](state, event, now, cmds)
    if state["status"] not in _FINISHED:
        _progress(state, now, cmds)
    if state["status"] in _FINISHED:
        cmds.append(m.Finish(state["status"]))
    else:
        cmds.append(m.WakeAt(_next_wake(state, now)))
    return cmds


# -- event handlers ------------------------------------------------------------------------


def _on_start(state: State, _: m.Message, now: float, cmds: list[m.Command]) -> None:
    if state["phase"] == Phase.PREFLIGHT and not state["preflight_sent"]:
        state["preflight_sent"] = True
        cmds.append(m.DescribeServers(sorted(state["servers"]), selectors=_unresolved(state)))


def _on_tick(state: State, _: m.Message, now: float, cmds: list[m.Command]) -> None:
    pass


def _on_servers(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    assert isinstance(ev, m.ServersDescribed)
    if state["phase"] != Phase.PREFLIGHT:
        return
    # ServerTags first: the servers they select are then checked like the listed ones.
    refused = _resolve_selectors(state, ev.matched)
    for message, wave, sid in refused:
        _error(state, message, wave, sid)
    if refused:
        _finish_early(
            state,
            now,
            f"preflight failed: {len(refused)} problem(s) with ServerTags; nothing was launched",
        )
        return
    for sid, hostname in ev.hostnames.items():
        server = state["servers"].get(sid)
        if server is not None and server.get("hostname") != hostname:
            server["hostname"] = hostname
            _touch(state)
    where = f"account {state['target_account_id']} region {state['region']}"
    bad = 0
    for w in state["waves"]:
        for sid in w["order"]:
            rep = ev.replication.get(sid)
            if rep is None:
                msg = f"{sid}: preflight: no such DRS source server in {where}"
            elif rep != REPLICATION_READY:
                msg = f"{sid}: preflight: replication is {rep}, not CONTINUOUS"
            else:
                continue
            bad += 1
            state["servers"][sid]["error"] = msg.split(": ", 1)[1]
            _error(state, msg, w["number"], sid)
    if bad:
        _finish_early(state, now, f"preflight failed for {bad} server(s); nothing was launched")
        return
    state["phase"] = Phase.RUNNING
    _touch(state)


def _on_launch_started(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    assert isinstance(ev, m.LaunchStarted)
    launch = state["launches"].get(ev.token)
    if launch is None or launch["status"] != DS.SENT:
        return
    launch["status"] = DS.ACTIVE
    launch["job_id"] = ev.job_id
    state["job_tokens"][ev.job_id] = ev.token
    for sid in launch["servers"]:
        state["servers"][sid]["job_id"] = ev.job_id
    if state["next_job_poll"] is None:
        state["next_job_poll"] = now + state["config"]["job_poll_seconds"]
    _touch(state)


def _on_launch_failed(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    assert isinstance(ev, m.LaunchFailed)
    launch = state["launches"].get(ev.token)
    if launch is None or launch["status"] != DS.SENT:
        return
    cfg = state["config"]
    if ev.requeue and launch["requeues"] < cfg["max_requeues"] and not state["cancel_requested"]:
        launch.update({"status": DS.QUEUED, "requeues": launch["requeues"] + 1})
        launch["not_before"] = now + cfg["requeue_seconds"]
        for sid in launch["servers"]:
            state["servers"][sid].update({"status": SS.PENDING, "start_time": None})
        _notice(
            state,
            f"wave {launch['wave']}: DRS refused a launch for now ({ev.message}); "
            "it is queued again",
        )
        return
    launch["status"] = DS.DONE
    for sid in launch["servers"]:
        _fail_server(state, sid, now, f"StartRecovery failed: {ev.message}")


def _on_jobs(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    assert isinstance(ev, m.JobsPolled)
    state["api_failures"] = 0
    tokens = state["job_tokens"]
    for job_id, job in ev.jobs.items():
        token = tokens.get(job_id)
        if token is None:
            continue
        _apply_job(state, state["launches"][token], job_id, job, now)
    for launch in state["launches"].values():
        if launch["status"] == _ACTIVE and launch["job_id"] not in ev.jobs:
            _missing_job(state, launch, now)


def _missing_job(state: State, launch: LaunchState, now: float) -> None:
    """DescribeJobs did not return a job we started: no better than an unknown status."""
    job_id = launch["job_id"]
    if now - (launch["sent_at"] or now) > 2 * state["config"]["job_poll_seconds"]:
        # (a brand-new job may be missing for a moment: DRS is eventually consistent)
        _notice(state, f"job {job_id} was not in the DescribeJobs answer; still waiting")
    timeout = state["config"]["launch_timeout_seconds"]
    for sid in launch["servers"]:
        s = state["servers"][sid]
        if s["status"] == SS.LAUNCHING and now - (s["start_time"] or now) >= timeout:
            _fail_server(
                state,
                sid,
                now,
                f"still launching after {timeout:.0f} s: DRS no longer returns job {job_id}",
            )
    if all(state["servers"][sid]["status"] != SS.LAUNCHING for sid in launch["servers"]):
        launch["status"] = DS.DONE
        _touch(state)


def _apply_job(
    state: State, launch: LaunchState, job_id: str, job: dict[str, Any], now: float
) -> None:
    status = str(job.get("status"))
    if status not in JOB_IN_PROGRESS and status not in JOB_ENDED:
        _notice(
            state,
            f"job {job_id} reported an unknown status {status!r}; treating it as still in progress",
        )
    ended = status in JOB_ENDED
    participants = job.get("participants") or {}
    reasons = job.get("reasons") or {}
    timeout = state["config"]["launch_timeout_seconds"]
    servers = state["servers"]
    for sid in launch["servers"]:
        s = servers[sid]
        if s["status"] != _LAUNCHING:
            continue
        p = participants.get(sid) or {}
        launch_status = p.get("launch_status")
        if launch_status == _LAUNCHED:
            _launched(state, sid, p.get("recovery_instance_id"), now)
        elif launch_status in LAUNCH_FAILED:
            reason = reasons.get(sid) or f"DRS reported launchStatus {launch_status}"
            _fail_server(state, sid, now, f"launch failed: {reason}")
        elif ended:
            why = "did not include this server" if not p else f"left it {launch_status}"
            _fail_server(state, sid, now, f"job ended {status} but {why}")
        elif now - (s["start_time"] or now) >= timeout:
            _fail_server(
                state,
                sid,
                now,
                f"still launching after {timeout:.0f} s "
                f"(job status {status}, launch status {launch_status})",
            )
        elif launch_status is not None and launch_status not in LAUNCH_IN_PROGRESS:
            _notice(state, f"{sid}: unknown launch status {launch_status!r}; still waiting")
    settled = all(servers[sid]["status"] != _LAUNCHING for sid in launch["servers"])
    if ended or (settled and status not in JOB_IN_PROGRESS):
        launch["status"] = DS.DONE
        _touch(state)


def _launched(state: State, sid: str, recovery_id: str | None, now: float) -> None:
    s = state["servers"][sid]
    s.update({"recovery_instance_id": recovery_id, "launched_time": now})
    if state["cancel_requested"]:
        _end_server(
            state,
            sid,
            SS.CANCELLED,
            now,
            "launched, but not health-checked: the execution was cancelled",
            record_error=False,
        )
        return
    health = _wave(state, s["wave"])["health"]
    if not health["enabled"]:
        if not recovery_id:
            _end_server(state, sid, SS.COMPLETED, now)
            return
        # No health check, but the record should still name the EC2 instance (a drill
        # instance someone must clean up): LAUNCHED until DRS says which one it is.
        poll_at = now + state["config"]["job_poll_seconds"]
        s.update({"status": SS.LAUNCHED, "next_poll_at": poll_at})
    else:
        s.update({"status": SS.HEALTH_CHECK, "polls": 0, "next_poll_at": now + health["interval"]})
    if recovery_id:
        state["resolve_queue"].append(recovery_id)
    _touch(state)


def _on_instances(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    assert isinstance(ev, m.InstancesResolved)
    state["api_failures"] = 0
    for _, s in _ids_in(state, SS.HEALTH_CHECK):
        rid = s["recovery_instance_id"]
        if rid is not None and ev.instances.get(rid):
            s["ec2_instance_id"] = ev.instances[rid]
            _touch(state)
    for sid, s in list(_ids_in(state, SS.LAUNCHED)):
        rid = s["recovery_instance_id"]
        # health check disabled: done once the instance is known
        if rid is not None and rid in ev.instances:
            s["ec2_instance_id"] = ev.instances[rid]
            _end_server(state, sid, SS.COMPLETED, now)


def _on_health(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    assert isinstance(ev, m.HealthPolled)
    state["api_failures"] = 0
    for sid, s in _ids_in(state, SS.HEALTH_CHECK):
        seen = ev.instances.get(s["ec2_instance_id"] or "")
        if seen is None:
            continue
        s["polls"] += 1
        s["last_seen"] = seen.copy()
        health = _wave(state, s["wave"])["health"]
        if _healthy(seen, health["require"]):
            s["healthy_time"] = now
            _end_server(state, sid, SS.COMPLETED, now)
        elif s["polls"] >= health["max_polls"]:
            _unhealthy(state, sid, now, health)


def _healthy(seen: InstanceHealth, require: str) -> bool:
    if seen.get("state") != INSTANCE_RUNNING:
        return False
    if require == "STATUS_OK":
        return seen.get("instance_status") == STATUS_OK and seen.get("system_status") == STATUS_OK
    return True


def _unhealthy(state: State, sid: str, now: float, health: WaveHealthCheck) -> None:
    s = state["servers"][sid]
    seen: Mapping[str, object] = s["last_seen"] or {}
    span = health["interval"] * health["max_polls"]
    what = "running" if health["require"] == "RUNNING" else "running with status checks ok"
    _fail_server(
        state,
        sid,
        now,
        f"instance {s['ec2_instance_id'] or s['recovery_instance_id']} not {what} after "
        f"{s['polls']} polls ({span} s): last seen state {seen.get('state')}, instance status "
        f"{seen.get('instance_status')}, system status {seen.get('system_status')}",
    )


def _on_api_failed(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    assert isinstance(ev, m.ApiFailed)
    state["api_failures"] += 1
    limit = state["config"]["max_api_failures"]
    if ev.fatal or state["api_failures"] >= limit:
        why = "" if ev.fatal else f" ({state['api_failures']} times in a row)"
        if ev.operation == "drsorch":  # the engine itself stopped; the message says how
            _abort(state, now, ev.message)
        else:
            _abort(state, now, f"{ev.operation} failed{why}: {ev.message}")
    else:
        _notice(state, f"{ev.operation} failed; trying again at the next poll: {ev.message}")


def _on_cancel(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    assert isinstance(ev, m.Cancel)
    if state["cancel_requested"]:
        return
    state["cancel_requested"] = True
    _error(state, f"execution cancelled: {ev.reason}")
    if state["phase"] == Phase.PREFLIGHT:
        _finish_early(state, now, None, status=ES.CANCELLED)
        return
    for launch in state["launches"].values():
        if launch["status"] == DS.QUEUED:
            launch["status"] = DS.DONE
    for w in state["waves"]:
        if w["status"] in (WS.PENDING, WS.WAITING, WS.PAUSED):
            _end_wave_unstarted(state, w, WS.CANCELLED, now)
        elif w["status"] == WS.RUNNING:
            for sid in w["order"]:
                s = state["servers"][sid]
                if s["status"] == SS.PENDING:
                    _end_server(state, sid, SS.CANCELLED, now, record_error=False)
                elif s["status"] == SS.HEALTH_CHECK:
                    _end_server(
                        state,
                        sid,
                        SS.CANCELLED,
                        now,
                        "launched; health check stopped: the execution was cancelled",
                        record_error=False,
                    )


def _on_resume(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    _notice(state, "the engine was restarted from its saved state")
    if state["phase"] == Phase.PREFLIGHT:
        state["preflight_sent"] = True
        cmds.append(m.DescribeServers(sorted(state["servers"]), selectors=_unresolved(state)))
    for launch in state["launches"].values():
        if launch["status"] == DS.SENT:  # its answer was lost with the engine
            launch.update({"status": DS.QUEUED, "maybe_sent": True})
            for sid in launch["servers"]:
                state["servers"][sid]["status"] = SS.PENDING
    _touch(state)


def _on_approve(state: State, ev: m.Message, now: float, cmds: list[m.Command]) -> None:
    assert isinstance(ev, m.Approve)
    w = _wave(state, ev.wave)
    if w["status"] == WS.PAUSED and not w["approved"]:
        w.update({"approved": True, "approved_by": ev.by, "approved_at": now})
        _touch(state)


_HANDLERS = {
    m.Start: _on_start,
    m.Tick: _on_tick,
    m.ServersDescribed: _on_servers,
    m.LaunchStarted: _on_launch_started,
    m.LaunchFailed: _on_launch_failed,
    m.JobsPolled: _on_jobs,
    m.InstancesResolved: _on_instances,
    m.HealthPolled: _on_health,
    m.ApiFailed: _on_api_failed,
    m.Cancel: _on_cancel,
    m.Resume: _on_resume,
    m.Approve: _on_approve,
}
