"""Small state-changing helpers shared by the event handlers and the progress rules.

Every change that a history record would show goes through here, so ``revision`` always
moves when the record changes (the runner persists on a new revision).
"""

from __future__ import annotations

from collections.abc import Iterator

from drsorch.core.state import State
from drsorch.core.state_types import ServerState, WaveState
from drsorch.core.statuses import ServerStatus as SS
from drsorch.core.statuses import WaveStatus as WS

DEAD_DEP = frozenset({WS.FAILED, WS.SKIPPED, WS.CANCELLED})

#: Read off its enum once: ``ids_in`` runs a few times a step, over every wave, and in
#: Python 3.11 ``WS.RUNNING`` costs some 0.2 us (the enum metaclass has a ``__getattr__``).
_RUNNING = WS.RUNNING


def touch(state: State) -> None:
    state["revision"] += 1


def error(
    state: State,
    message: str,
    wave: int | None = None,
    server: str | None = None,
    job: str | None = None,
) -> None:
    state["errors"].append(
        {"Message": message, "WaveNumber": wave, "ServerId": server, "JobId": job}
    )
    touch(state)


def notice(state: State, text: str) -> None:
    if text not in state["notices"]:
        state["notices"].append(text)
        touch(state)


def wave_by_number(state: State, number: int) -> WaveState:
    return state["waves"][state["wave_index"][str(number)]]


def ids_in(
    state: State, *statuses: SS, among: list[WaveState] | None = None
) -> Iterator[tuple[str, ServerState]]:
    """Servers of RUNNING waves with one of these statuses (the only ones that can be in
    flight), in wave and server order. ``among``: the waves to look in, when the caller
    knows that the others are not RUNNING (in wave order); by default every wave."""
    servers = state["servers"]
    for w in state["waves"] if among is None else among:
        if w["status"] != _RUNNING:
            continue
        for sid in w["order"]:
            server = servers[sid]
            if server["status"] in statuses:
                yield sid, server


def end_server(
    state: State,
    sid: str,
    status: SS,
    now: float,
    message: str | None = None,
    record_error: bool = True,
) -> None:
    s = state["servers"][sid]
    s["status"] = status
    s["end_time"] = now
    s["next_poll_at"] = None
    if message is not None:
        s["error"] = message
        if record_error:
            job = s["job_id"]
            where = f"{sid} (job {job})" if job else sid
            error(state, f"{where}: {message}", s["wave"], sid, job)
    touch(state)


def fail_server(state: State, sid: str, now: float, message: str) -> None:
    end_server(state, sid, SS.FAILED, now, message)


def end_wave_unstarted(state: State, w: WaveState, status: WS, now: float) -> None:
    """End a wave that never launched anything: it and all its servers get ``status``."""
    server_status = SS.SKIPPED if status == WS.SKIPPED else SS.CANCELLED
    for sid in w["order"]:
        s = state["servers"][sid]
        if not SS(s["status"]).terminal:
            s.update({"status": server_status, "end_time": None})
    w.update({"status": status, "end_time": now})
    touch(state)
