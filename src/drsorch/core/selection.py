"""Waves that select their servers by tags (``ServerTags``, issue 12 item 4): resolved once,
at preflight, into ordinary servers of the state.

Pure, like the rest of the core. Before the preflight a tag-selected wave's ``selector``
has ``matched`` None and the wave holds only the servers its ServerIds list. The preflight
command names every unresolved selector; its answer says which source servers each one
matched. :func:`resolve` then either refuses (a selector that matches nothing, a server
claimed by two waves) or adds the matched servers to their waves, in id order after the
listed ones, and records what matched. Resolution happens in one step with the rest of
the preflight, so a saved state is either wholly unresolved (a resume resolves again:
nothing was launched) or wholly resolved (a resume never resolves again).
"""

from __future__ import annotations

from drsorch.core.mutate import touch
from drsorch.core.state import State, new_server
from drsorch.plan.model import show, tolerated_failures

__all__ = ["Problem", "resolve", "unresolved"]

#: A reason the preflight fails: (message, WaveNumber, server id or None).
Problem = tuple[str, int, str | None]


def unresolved(state: State) -> dict[str, dict[str, str]]:
    """str(WaveNumber) -> ServerTags, for every wave whose tags are not resolved yet."""
    return {
        str(w["number"]): dict(w["selector"]["tags"])
        for w in state["waves"]
        if "selector" in w and w["selector"]["matched"] is None
    }


def resolve(state: State, matched: dict[str, list[str]]) -> list[Problem]:
    """Apply the preflight's answer (``ServersDescribed.matched``) to ``state``.

    Returns the problems; when there are any, the state is left as it was (nothing is
    resolved), so that the failed execution's record shows only what the plan listed.
    """
    todo = [w for w in state["waves"] if "selector" in w and w["selector"]["matched"] is None]
    if not todo:
        return []
    where = f"account {state['target_account_id']} region {state['region']}"
    #: server id -> (WaveNumber, how that wave names it)
    owner = {sid: (s["wave"], "listed in ServerIds") for sid, s in state["servers"].items()}
    problems: list[Problem] = []
    found: dict[int, list[str]] = {}
    for w in todo:
        n, tags = w["number"], w["selector"]["tags"]
        ids = sorted(set(matched.get(str(n), ())))
        if not ids:
            problems.append(
                (
                    f"wave {n}: preflight: ServerTags {show(tags)} match no DRS source server "
                    f"in {where}",
                    n,
                    None,
                )
            )
            continue
        for sid in ids:
            first = owner.get(sid)
            if first is not None and first[0] != n:
                problems.append(
                    (
                        f"{sid}: preflight: matched by the ServerTags {show(tags)} of wave {n}, "
                        f"but also {first[1]} of wave {first[0]}: a server is recovered by "
                        "one wave only",
                        n,
                        sid,
                    )
                )
            elif first is None:
                owner[sid] = (n, "matched by the ServerTags")
        found[n] = ids
    if problems:
        return problems
    for w in todo:
        n, selector = w["number"], w["selector"]
        ids = found[n]
        for sid in ids:
            if sid not in state["servers"]:  # listed in this wave's ServerIds as well: once
                state["servers"][sid] = new_server(n)
                w["order"].append(sid)
        selector["matched"] = ids
        w["max_failed"] = tolerated_failures(
            selector["max_failed_servers"], selector["max_failed_percent"], len(w["order"])
        )
    touch(state)
    return []
