"""Moving an execution forward in time: what ``now`` allows after an event was applied.

Owned here: sequential waves, wave completion, readiness and transitive SKIPPED, starting
waves (PauseBefore), dispatching launches within DRS quotas, job and health polls, the
execution timeout, completion, and when to wake up next. Pure, like the rest of the core.
"""

from __future__ import annotations

from drsorch.core import messages as m
from drsorch.core.mutate import (
    DEAD_DEP,
    end_server,
    end_wave_unstarted,
    error,
    fail_server,
    ids_in,
    notice,
    touch,
    wave_by_number,
)
from drsorch.core.state import State, known
from drsorch.core.state_types import WaveState
from drsorch.core.statuses import DispatchStatus as DS
from drsorch.core.statuses import ExecutionStatus as ES
from drsorch.core.statuses import Phase
from drsorch.core.statuses import ServerStatus as SS
from drsorch.core.statuses import WaveStatus as WS
from drsorch.drs_terms import EXECUTION_TAG, PLAN_TAG, TOKEN_TAG, WAVE_TAG

#: How long a PauseBefore wave waits for an approval when its state does not say.
DEFAULT_APPROVAL_TIMEOUT = 86_400

#: The wave statuses that are final (``WS(status).terminal``, without making an enum member
#: from each status: these rules run at every step, over every wave).
_ENDED = frozenset(status for status in WS if status.terminal)
#: The same for a server (these rules also look at every server of a running wave).
_SERVER_ENDED = frozenset(status for status in SS if status.terminal)

# The statuses these rules compare every wave, launch and polled server with at every step,
# read off their enums once: in Python 3.11 ``WS.RUNNING`` costs some 0.2 us (the enum
# metaclass has a ``__getattr__``, which puts every attribute read of the class on the slow
# path).
_PENDING, _WAITING, _PAUSED, _RUNNING = WS.PENDING, WS.WAITING, WS.PAUSED, WS.RUNNING  # waves'
_COMPLETED = WS.COMPLETED  # a wave's
_QUEUED, _ACTIVE = DS.QUEUED, DS.ACTIVE  # launches'
_LAUNCHED = SS.LAUNCHED  # a server's
#: A launch in flight: its StartRecovery went out, its job did not end yet.
_IN_FLIGHT = frozenset({DS.SENT, DS.ACTIVE})


def progress(state: State, now: float, cmds: list[m.Command]) -> None:
    # Time spent waiting for an approval is not counted against TimeoutSeconds.
    paused_since = state.get("paused_since")
    if paused_since is None and now >= state["deadline"]:
        abort(
            state,
            now,
            f"execution timed out after {state['timeout_seconds']} s "
            "(TimeoutSeconds); nothing new was launched",
        )
        return
    if state["phase"] != Phase.RUNNING:
        return
    live = _live(state)
    # The waves running now: the few of a large plan that these two rules look at
    # (_sequential changes no wave's status, so one list serves both).
    running = [w for w in live if w["status"] == _RUNNING]
    _sequential(state, running, now)
    _complete_waves(state, running, now)
    _approval_timeouts(state, live, now)
    _readiness(state, live, now)
    _start_waves(state, live, now, cmds)
    _dispatch(state, now, cmds)
    _poll_jobs(state, now, cmds)
    _poll_health(state, live, now, cmds)
    _finish_if_done(state, live, now)


def _live(state: State) -> list[WaveState]:
    """The waves that have not ended, in order, as this step's rules begin.

    A wave only moves on (PENDING, WAITING, PAUSED, RUNNING, then an end, never back), so
    every wave a rule of this step looks for is among these: the rules walk this list, not
    every wave, at every step. In a large plan most waves have ended or wait for others.
    """
    return [w for w in state["waves"] if w["status"] not in _ENDED]


def _sequential(state: State, running: list[WaveState], now: float) -> None:
    for w in running:
        if w["type"] != "SEQUENTIAL":
            continue
        order, servers = w["order"], state["servers"]
        current = servers[order[w["next_index"] - 1]] if w["next_index"] else None
        if current is None or current["status"] not in _SERVER_ENDED:
            continue
        # A failure within the wave's tolerance does not stop the sequence (MaxFailed...).
        goes_on = current["status"] == SS.COMPLETED or (
            current["status"] == SS.FAILED and _failed(state, w) <= _tolerance(w)
        )
        if goes_on and w["next_index"] < len(order):
            _enqueue(state, w, [order[w["next_index"]]])
            w["next_index"] += 1
        elif not goes_on:
            why = (
                f"{order[w['next_index'] - 1]} before it in the SEQUENTIAL order did not complete"
                if not _tolerance(w) or current["status"] != SS.FAILED
                else f"{_failed(state, w)} servers of this wave FAILED, more than the "
                f"{_tolerance(w)} it tolerates (MaxFailedServers/MaxFailedPercent)"
            )
            for sid in order[w["next_index"] :]:
                if servers[sid]["status"] == SS.PENDING:
                    end_server(
                        state, sid, SS.SKIPPED, now, f"not launched: {why}", record_error=False
                    )


def _tolerance(w: WaveState) -> int:
    """Servers of ``w`` that may end FAILED with the wave still COMPLETED."""
    return w.get("max_failed", 0)


def _failed(state: State, w: WaveState) -> int:
    servers = state["servers"]
    return sum(1 for sid in w["order"] if servers[sid]["status"] == SS.FAILED)


def _complete_waves(state: State, running: list[WaveState], now: float) -> None:
    servers = state["servers"]
    for w in running:
        # (first whether any server is still going: it usually is, and often an early one)
        if any(servers[sid]["status"] not in _SERVER_ENDED for sid in w["order"]):
            continue
        statuses = [servers[sid]["status"] for sid in w["order"]]
        failed = statuses.count(SS.FAILED)
        if all(s == SS.COMPLETED for s in statuses):
            w["status"] = WS.COMPLETED
        elif failed <= _tolerance(w) and all(s in (SS.COMPLETED, SS.FAILED) for s in statuses):
            # Within its tolerance: COMPLETED, its dependents released; the failed servers
            # stay FAILED with their errors, and the record counts them.
            w["status"] = WS.COMPLETED
            notice(
                state,
                f"wave {w['number']} COMPLETED with {failed} of {len(statuses)} servers "
                f"FAILED, within the {_tolerance(w)} it tolerates",
            )
        elif SS.FAILED in statuses or not any(s == SS.CANCELLED for s in statuses):
            w["status"] = WS.FAILED
        else:
            w["status"] = WS.CANCELLED
        w["end_time"] = now
        touch(state)


def _readiness(state: State, live: list[WaveState], now: float) -> None:
    waves, index = state["waves"], state["wave_index"]
    # Only a PENDING wave can become ready or be skipped, and no wave becomes PENDING here.
    pending = [w for w in live if w["status"] == _PENDING]
    if not pending:
        return
    # Every wave's status, by number: a PENDING wave reads its dependencies' here (this
    # runs at every step, over every PENDING wave of a plan of up to thousands).
    status_of = {w["number"]: w["status"] for w in waves}
    changed = True
    while changed:  # a skipped wave can skip its dependents in turn
        changed = False
        for w in pending:
            if w["status"] != _PENDING:
                continue
            dead, done = None, True
            for d in w["deps"]:
                if status_of[d] in DEAD_DEP:
                    dead = waves[index[str(d)]]
                    break
                done = done and status_of[d] == _COMPLETED
            if dead is not None:
                error(
                    state,
                    f"wave {w['number']} skipped: it depends on wave {dead['number']}, "
                    f"which ended {dead['status']}",
                    w["number"],
                )
                end_wave_unstarted(state, w, WS.SKIPPED, now)
                status_of[w["number"]] = w["status"]
                changed = True
            elif done:
                deps = [waves[index[str(d)]] for d in w["deps"]]
                w["status"] = WS.WAITING
                status_of[w["number"]] = w["status"]
                w["ready_at"] = max((known(d["end_time"]) + d["wait"] for d in deps), default=now)
                touch(state)


def _approval_timeout(w: WaveState) -> int:
    return w.get("approval_timeout", DEFAULT_APPROVAL_TIMEOUT)


def _approval_due(w: WaveState) -> float:
    """When a PAUSED wave's wait for its approval runs out."""
    return known(w.get("paused_at")) + _approval_timeout(w)


def _approval_timeouts(state: State, live: list[WaveState], now: float) -> None:
    """A PAUSED wave whose approval did not come in time is CANCELLED (its dependents are
    then SKIPPED by the readiness rules, in the same pass)."""
    for w in live:
        if w["status"] != _PAUSED or w["approved"]:
            continue
        if "paused_at" not in w:  # paused by an engine from before approval timeouts
            w["paused_at"] = now
            touch(state)
        if now >= _approval_due(w):
            error(
                state,
                f"wave {w['number']} was not approved within {_approval_timeout(w)} s "
                "(ApprovalTimeoutSeconds): CANCELLED, its dependents SKIPPED",
                w["number"],
            )
            end_wave_unstarted(state, w, WS.CANCELLED, now)


def _start_waves(state: State, live: list[WaveState], now: float, cmds: list[m.Command]) -> None:
    paused = False  # whether a wave still waits for its approval after this pass
    for w in live:
        status = w["status"]
        if status == _WAITING and known(w["ready_at"]) <= now:
            if w["pause_before"] and not w["approved"]:
                w.update({"status": WS.PAUSED, "paused_at": now})
                touch(state)
                cmds.append(m.AwaitApproval(w["number"]))
                paused = True
                continue
        elif status != _PAUSED:
            continue
        elif not w["approved"]:
            paused = True
            continue
        w.update({"status": WS.RUNNING, "start_time": now})
        touch(state)
        if w["type"] == "SEQUENTIAL":
            _enqueue(state, w, w["order"][:1])
            w["next_index"] = 1
        else:
            size = int(state["config"]["max_servers_per_job"])
            for i in range(0, len(w["order"]), size):
                _enqueue(state, w, w["order"][i : i + size])
    state["status"] = ES.PAUSED if paused else ES.RUNNING
    # While any wave waits for its approval the execution's clock stands still: the
    # deadline moves on by the time waited once no wave waits any more.
    since = state.get("paused_since")
    if paused and since is None:
        state["paused_since"] = now
        touch(state)
    elif not paused and since is not None:
        state["deadline"] += now - since
        state["paused_since"] = None
        touch(state)


def _enqueue(state: State, w: WaveState, servers: list[str]) -> None:
    state["seq"] += 1
    token = f"{state['execution_id']}:{state['seq']}"
    state["launches"][token] = {
        "wave": w["number"],
        "servers": servers,
        "job_id": None,
        "status": DS.QUEUED,
        "not_before": None,
        "requeues": 0,
        "sent_at": None,
        "first_sent_at": None,
        "maybe_sent": False,  # sent before the engine restarted: its job may exist
    }


def _dispatch(state: State, now: float, cmds: list[m.Command]) -> None:
    """Send queued launches, oldest first, while DRS's job quotas allow."""
    cfg = state["config"]
    jobs = servers = 0
    queued = []
    for token, launch in state["launches"].items():  # one pass: in flight, and queued
        status = launch["status"]
        if status in _IN_FLIGHT:
            jobs, servers = jobs + 1, servers + len(launch["servers"])
        elif status == _QUEUED:
            queued.append((token, launch))
    for token, launch in queued:
        if (launch["not_before"] or now) > now:
            continue
        n = len(launch["servers"])
        if jobs + 1 > cfg["max_jobs"] or servers + n > cfg["max_servers_in_jobs"]:
            break  # first in, first out: later launches wait behind this one
        jobs, servers = jobs + 1, servers + n
        launch.update({"status": DS.SENT, "sent_at": now})
        if launch["first_sent_at"] is None:
            launch["first_sent_at"] = now
        for sid in launch["servers"]:
            state["servers"][sid].update(
                {"status": SS.LAUNCHING, "start_time": now, "token": token}
            )
        touch(state)
        cmds.append(
            m.StartRecovery(
                token=token,
                wave=launch["wave"],
                server_ids=list(launch["servers"]),
                is_drill=state["is_drill"],
                tags={
                    EXECUTION_TAG: state["execution_id"],
                    PLAN_TAG: state["plan_id"],
                    WAVE_TAG: str(launch["wave"]),
                    TOKEN_TAG: token,
                },
                adopt_existing=launch["maybe_sent"],
                since=launch["first_sent_at"],
            )
        )


def _poll_jobs(state: State, now: float, cmds: list[m.Command]) -> None:
    launches = state["launches"].values()
    active = sorted(known(x["job_id"]) for x in launches if x["status"] == _ACTIVE)
    if not active:
        state["next_job_poll"] = None
        return
    if state["next_job_poll"] is not None and state["next_job_poll"] <= now:
        state["next_job_poll"] = now + state["config"]["job_poll_seconds"]
        cmds.append(m.PollJobs(active))


def _poll_health(state: State, live: list[WaveState], now: float, cmds: list[m.Command]) -> None:
    resolve: list[str] = list(dict.fromkeys(state["resolve_queue"]))
    state["resolve_queue"] = []
    check: list[str] = []
    in_flight = ids_in(state, SS.LAUNCHED, SS.HEALTH_CHECK, among=live)
    for sid, s in in_flight:  # one pass: each is its own
        if s["next_poll_at"] is None or s["next_poll_at"] > now:
            continue
        if s["status"] == _LAUNCHED:  # no health check; the lookup did not answer
            s["next_poll_at"] = now + state["config"]["job_poll_seconds"]
            resolve.append(known(s["recovery_instance_id"]))
            continue
        health = wave_by_number(state, s["wave"])["health"]
        s["next_poll_at"] = now + health["interval"]
        if s["ec2_instance_id"]:
            check.append(s["ec2_instance_id"])
            continue
        # No EC2 id yet: this poll is spent looking the recovery instance up again.
        s["polls"] += 1
        s["last_seen"] = {
            "state": "unknown (recovery instance not found yet)",
            "instance_status": None,
            "system_status": None,
        }
        if s["recovery_instance_id"]:
            resolve.append(s["recovery_instance_id"])
        if s["polls"] >= health["max_polls"]:
            fail_server(
                state,
                sid,
                now,
                f"no EC2 instance found for recovery instance "
                f"{s['recovery_instance_id']} after {s['polls']} polls",
            )
    if resolve:
        cmds.append(m.ResolveInstances(sorted(set(resolve))))
    if check:
        cmds.append(m.CheckHealth(sorted(set(check))))


def _finish_if_done(state: State, live: list[WaveState], now: float) -> None:
    if not all(w["status"] in _ENDED for w in live):
        return
    if any(x["status"] in _IN_FLIGHT for x in state["launches"].values()):
        return
    if state["cancel_requested"]:
        status = ES.CANCELLED
    elif all(w["status"] == WS.COMPLETED for w in state["waves"]):
        status = ES.COMPLETED
    else:
        status = ES.FAILED
    _finalize(state, now, status)


def _finalize(state: State, now: float, status: ES) -> None:
    state.update({"status": status, "end_time": now, "phase": Phase.DONE})
    touch(state)


def finish_early(state: State, now: float, message: str | None, status: ES = ES.FAILED) -> None:
    """End before anything was launched (preflight failure, cancel during preflight)."""
    if message:
        error(state, message)
    for w in state["waves"]:
        end_wave_unstarted(state, w, WS.CANCELLED, now)
    _finalize(state, now, status)


def abort(state: State, now: float, message: str) -> None:
    """End FAILED now (timeout, an API that keeps failing); record what was in flight."""
    error(state, message)
    for w in state["waves"]:
        if w["status"] != WS.RUNNING:
            if not WS(w["status"]).terminal:
                end_wave_unstarted(state, w, WS.CANCELLED, now)
            continue
        for sid in w["order"]:
            s = state["servers"][sid]
            if s["status"] == SS.PENDING:
                end_server(state, sid, SS.CANCELLED, now, record_error=False)
            elif s["status"] == SS.LAUNCHING:
                job = s["job_id"] or "not known"
                fail_server(
                    state,
                    sid,
                    now,
                    f"execution ended while launching; DRS job {job} may still launch it",
                )
            elif s["status"] in (SS.LAUNCHED, SS.HEALTH_CHECK):
                fail_server(state, sid, now, "execution ended before the health check passed")
        w.update({"status": WS.FAILED, "end_time": now})
    for launch in state["launches"].values():
        launch["status"] = DS.DONE
    _finalize(state, now, ES.FAILED)


def next_wake(state: State, now: float) -> float:
    """The earliest time anything is due; at the latest, the execution deadline."""
    times = [state["deadline"]] if state.get("paused_since") is None else []
    running = []
    for w in state["waves"]:  # one pass: a wave waits out its WaitTime, for an approval...
        status = w["status"]
        if status == _WAITING:
            times.append(known(w["ready_at"]))
        elif status == _PAUSED and not w["approved"] and "paused_at" in w:
            times.append(_approval_due(w))
        elif status == _RUNNING:  # ... or for its servers' next health poll
            running.append(w)
    if state["next_job_poll"] is not None:
        times.append(state["next_job_poll"])
    times += [
        s["next_poll_at"]
        for _, s in ids_in(state, SS.HEALTH_CHECK, SS.LAUNCHED, among=running)
        if s["next_poll_at"] is not None
    ]
    times += [
        x["not_before"]
        for x in state["launches"].values()
        if x["status"] == _QUEUED and x["not_before"] is not None
    ]
    return float(max(now, min(times)))
