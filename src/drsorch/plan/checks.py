"""Rules that relate several fields of a plan (design §3, validation).

These run on the raw mapping read from the file, tolerant of bad types, so that they report
their findings even when field-level validation failed elsewhere: a user fixing a plan sees
every problem in one pass. Each finding names the field path, e.g.
``Waves[2].Dependencies[0]: wave 7 does not exist``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from drsorch.plan.model import WAVE_REF_RE


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _ref(value: Any) -> int | None:
    if isinstance(value, str) and (m := WAVE_REF_RE.match(value.strip())):
        return int(m.group(1))
    return _int(value)


def _waves(data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    waves = data.get("Waves")
    if not isinstance(waves, list):
        return []
    return [(i, w) for i, w in enumerate(waves) if isinstance(w, dict)]


def check_plan(data: dict[str, Any]) -> list[str]:
    """Every cross-field problem of a raw plan, each prefixed by its field path."""
    waves = _waves(data)
    problems: list[str] = []
    problems += _duplicate_waves(waves)
    problems += _duplicate_servers(waves)
    problems += _orders(waves)
    problems += _dependencies(waves)
    problems += _target(data)
    return problems


def _duplicate_waves(waves: list[tuple[int, dict[str, Any]]]) -> Iterator[str]:
    seen: dict[int, int] = {}
    for i, w in waves:
        n = _int(w.get("WaveNumber"))
        if n is None:
            continue
        if n in seen:
            yield f"Waves[{i}].WaveNumber: wave {n} is already defined at Waves[{seen[n]}]"
        else:
            seen[n] = i


def _duplicate_servers(waves: list[tuple[int, dict[str, Any]]]) -> Iterator[str]:
    seen: dict[str, tuple[int, str]] = {}  # server id -> (wave index, "wave N")
    for i, w in waves:
        ids = w.get("ServerIds")
        if not isinstance(ids, list):
            continue
        label = f"wave {w.get('WaveNumber')}"
        for j, sid in enumerate(ids):
            if not isinstance(sid, str):
                continue
            if sid in seen:
                # Compare positions, not labels: two waves may (wrongly) share a WaveNumber.
                first, where = seen[sid]
                where = "earlier in this wave" if first == i else f"in {where}"
                yield f"Waves[{i}].ServerIds[{j}]: {sid} is already {where}"
            else:
                seen[sid] = (i, label)


def _orders(waves: list[tuple[int, dict[str, Any]]]) -> Iterator[str]:
    for i, w in waves:
        order = w.get("ExecutionOrder")
        if order is None:
            continue
        kind = w.get("ExecutionType", "PARALLEL")
        if kind != "SEQUENTIAL":
            yield (
                f"Waves[{i}].ExecutionOrder: only a SEQUENTIAL wave has a launch order "
                f"(this wave is {kind})"
            )
            continue
        ids = w.get("ServerIds")
        if not isinstance(order, list) or not isinstance(ids, list) or not ids:
            continue
        expected = list(range(1, len(ids) + 1))
        if sorted(o for o in order if _int(o) is not None) != expected or len(order) != len(ids):
            yield (
                f"Waves[{i}].ExecutionOrder: {order} is not a permutation of "
                f"1..{len(ids)} (one 1-based position per server in ServerIds)"
            )


def _dependencies(waves: list[tuple[int, dict[str, Any]]]) -> Iterator[str]:
    numbers = {n for _, w in waves if (n := _int(w.get("WaveNumber"))) is not None}
    ordered = sorted(numbers)
    previous = dict(zip(ordered[1:], ordered, strict=False))
    graph: dict[int, list[int]] = {}
    for i, w in waves:
        n = _int(w.get("WaveNumber"))
        deps = w.get("Dependencies")
        if n is None:
            continue
        if deps is None:
            graph[n] = [previous[n]] if n in previous else []
            continue
        if not isinstance(deps, list):
            continue
        graph[n] = []
        for j, raw in enumerate(deps):
            d = _ref(raw)
            if d is None:
                continue
            if d == n:
                yield f"Waves[{i}].Dependencies[{j}]: wave {n} depends on itself"
            elif d not in numbers:
                yield f"Waves[{i}].Dependencies[{j}]: wave {d} does not exist"
            else:
                graph[n].append(d)
    for cycle in _cycles(graph):
        yield "Waves: dependency cycle " + " -> ".join(str(n) for n in cycle)


def _cycles(graph: dict[int, list[int]]) -> list[list[int]]:
    """Each distinct cycle once, as a closed path (``2 -> 3 -> 2``), found by DFS.

    Iterative, not recursive: a chain of thousands of waves must not hit Python's
    recursion limit (a traceback instead of a report).
    """
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(graph, white)
    found: list[list[int]] = []
    seen: set[frozenset[int]] = set()

    for root in sorted(graph):
        if color[root] != white:
            continue
        color[root] = grey
        stack = [root]  # the current DFS path
        pending = [iter(graph.get(root, []))]
        while pending:
            for d in pending[-1]:
                if color.get(d, black) == grey:
                    loop = stack[stack.index(d) :]
                    key = frozenset(loop)
                    if key not in seen:
                        seen.add(key)
                        # Read it in dependency order: d waits for ... which waits for d.
                        path = [*reversed(loop)]
                        start = path.index(min(path))
                        path = path[start:] + path[:start]
                        found.append([*path, path[0]])
                elif color.get(d) == white:
                    color[d] = grey
                    stack.append(d)
                    pending.append(iter(graph.get(d, [])))
                    break
            else:
                pending.pop()
                color[stack.pop()] = black
    return found


def _target(data: dict[str, Any]) -> Iterator[str]:
    target = data.get("Target")
    if not isinstance(target, dict):
        return
    account, role = target.get("AccountId"), target.get("RoleArn")
    if isinstance(role, str) and account is not None:
        parts = role.split(":")
        if len(parts) > 4 and parts[4].isdigit() and parts[4] != str(account):
            yield (
                f"Target.RoleArn: the role is in account {parts[4]}, "
                f"but Target.AccountId is {account}"
            )
