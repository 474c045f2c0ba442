"""Rules that relate several fields of a plan (design §3, validation).

The model (:mod:`drsorch.plan.model`) is the single source of truth for what a value means;
these rules only ever judge values *as the model reads them*:

- :func:`check_model` runs on a validated :class:`~drsorch.plan.model.Plan`. It alone decides
  whether a plan whose fields are all valid is accepted, so a plan that passes validation
  is exactly the plan the engine runs: no ``1.0`` / ``"1"`` / ``" 5 "`` that the model
  coerced one way and a check read another.
- :func:`check_plan` runs on the raw mapping when field validation failed elsewhere, so that
  a user fixing a plan sees every problem in one pass. It reads each value through the
  model's own field types (same strictness, same whitespace trimming) and skips values the
  model refused (those are reported by the model already).

Both build the same :class:`WaveView` and share the rules. Each finding names the field
path, e.g. ``Waves[2].Dependencies[0]: wave 7 does not exist``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from drsorch.plan.model import (
    ROLE_ARN_RE,
    VALUE_CONFIG,
    WAVE_REF_RE,
    AccountId,
    Number,
    Plan,
    RoleArn,
    ServerId,
    WaveKind,
    WaveNumber,
    WaveRef,
    show,
)

T = TypeVar("T")

_WAVE_NUMBER: TypeAdapter[int] = TypeAdapter(WaveNumber, config=VALUE_CONFIG)
_WAVE_REF: TypeAdapter[int] = TypeAdapter(WaveRef, config=VALUE_CONFIG)
_SERVER_ID: TypeAdapter[str] = TypeAdapter(ServerId, config=VALUE_CONFIG)
_POSITION: TypeAdapter[int] = TypeAdapter(Number, config=VALUE_CONFIG)
_KIND: TypeAdapter[str] = TypeAdapter(WaveKind, config=VALUE_CONFIG)
_ACCOUNT: TypeAdapter[str] = TypeAdapter(AccountId, config=VALUE_CONFIG)
_ROLE: TypeAdapter[str] = TypeAdapter(RoleArn, config=VALUE_CONFIG)
_COUNT: TypeAdapter[int] = TypeAdapter(Number, config=VALUE_CONFIG)


def _read(adapter: TypeAdapter[T], value: Any) -> T | None:
    """``value`` as the model reads it, or None if the model refuses it."""
    try:
        return adapter.validate_python(value)
    except (ValidationError, ValueError, TypeError, RecursionError):
        return None


@dataclass(frozen=True)
class WaveView:
    """One wave's values as the model reads them (None: missing, or refused by the model)."""

    index: int  # position in Waves
    number: int | None
    servers: tuple[tuple[int, str], ...]  # (position in ServerIds, normalised id)
    server_count: int | None  # len(ServerIds) when it is a list
    dependencies: tuple[tuple[int, int], ...] | None  # (position, wave); None = omitted
    kind: str | None  # ExecutionType; None = refused
    order: tuple[int, ...] | None  # ExecutionOrder; None = omitted
    order_complete: bool  # every entry was an integer
    max_failed_servers: int | None = None  # MaxFailedServers; None = omitted or refused
    max_failed_percent: int | None = None  # MaxFailedPercent; None = omitted or refused
    has_ids: bool = True  # ServerIds is given (valid or not)
    has_tags: bool = False  # ServerTags is given (valid or not): more servers at preflight


@dataclass(frozen=True)
class PlanView:
    waves: tuple[WaveView, ...]
    all_numbers_known: bool  # every wave's WaveNumber was read (none missing or refused)
    # What refused WaveNumbers were probably meant to be ("1" or 1.0 -> 1): only so as not
    # to add "wave 1 does not exist" to "WaveNumber: must be an integer"; never to accept.
    refused_numbers: frozenset[int]
    account: str | None
    role_arn: str | None
    #: Defaults.MaxFailedServers and Defaults.MaxFailedPercent (None: omitted or refused).
    default_tolerance: tuple[int | None, int | None] = (None, None)


def view_of_model(plan: Plan) -> PlanView:
    waves = tuple(
        WaveView(
            index=i,
            number=w.wave_number,
            servers=tuple(enumerate(w.listed_ids)),
            server_count=len(w.listed_ids),
            dependencies=None if w.dependencies is None else tuple(enumerate(w.dependencies)),
            kind=w.execution_type,
            order=None if w.execution_order is None else tuple(w.execution_order),
            order_complete=True,
            max_failed_servers=w.max_failed_servers,
            max_failed_percent=w.max_failed_percent,
            has_ids=w.server_ids is not None,
            has_tags=w.server_tags is not None,
        )
        for i, w in enumerate(plan.waves)
    )
    target, defaults = plan.target, plan.defaults
    return PlanView(
        waves,
        all_numbers_known=True,
        refused_numbers=frozenset(),
        account=target.account_id if target else None,
        role_arn=target.role_arn if target else None,
        default_tolerance=(
            (defaults.max_failed_servers, defaults.max_failed_percent) if defaults else (None, None)
        ),
    )


def _wave_view(i: int, w: Mapping[str, Any]) -> WaveView:
    ids = w.get("ServerIds")
    servers: list[tuple[int, str]] = []
    if isinstance(ids, list):
        for j, raw in enumerate(ids):
            sid = _read(_SERVER_ID, raw)
            if sid is not None:
                servers.append((j, sid))
    deps_raw = w.get("Dependencies")
    deps: list[tuple[int, int]] | None = None
    if isinstance(deps_raw, list):
        deps = []
        for j, raw in enumerate(deps_raw):
            d = _read(_WAVE_REF, raw)
            if d is not None:
                deps.append((j, d))
    elif deps_raw is not None:
        deps = []  # not a list: the model reports it; the wave waits for nothing here
    order_raw = w.get("ExecutionOrder")
    order: list[int] | None = None
    order_complete = True
    if isinstance(order_raw, list):
        order = []
        for raw in order_raw:
            p = _read(_POSITION, raw)
            if p is None:
                order_complete = False
            else:
                order.append(p)
    elif order_raw is not None:
        order, order_complete = [], False
    return WaveView(
        index=i,
        number=_read(_WAVE_NUMBER, w.get("WaveNumber")),
        servers=tuple(servers),
        server_count=len(ids) if isinstance(ids, list) else None,
        dependencies=None if deps is None else tuple(deps),
        kind=_read(_KIND, w.get("ExecutionType", "PARALLEL")),
        order=None if order is None else tuple(order),
        order_complete=order_complete,
        max_failed_servers=_read(_COUNT, w.get("MaxFailedServers")),
        max_failed_percent=_read(_COUNT, w.get("MaxFailedPercent")),
        has_ids=w.get("ServerIds") is not None,
        has_tags=w.get("ServerTags") is not None,
    )


def view_of_data(data: Mapping[str, Any]) -> PlanView:
    raw_waves = data.get("Waves")
    raw = [w for w in raw_waves if isinstance(w, dict)] if isinstance(raw_waves, list) else []
    waves = tuple(
        _wave_view(i, w)
        for i, w in enumerate(raw_waves if isinstance(raw_waves, list) else [])
        if isinstance(w, dict)
    )
    known = (
        isinstance(raw_waves, list)
        and len(raw) == len(raw_waves)
        and all(w.number is not None for w in waves)
    )
    refused = frozenset(
        n
        for w, v in zip(raw, waves, strict=True)
        if v.number is None and (n := _guess(w.get("WaveNumber"))) is not None
    )
    target = data.get("Target")
    account = role = None
    if isinstance(target, dict):
        account = _read(_ACCOUNT, target.get("AccountId"))
        role = _read(_ROLE, target.get("RoleArn"))
    defaults = data.get("Defaults")
    tolerance: tuple[int | None, int | None] = (None, None)
    if isinstance(defaults, dict):
        tolerance = (
            _read(_COUNT, defaults.get("MaxFailedServers")),
            _read(_COUNT, defaults.get("MaxFailedPercent")),
        )
    return PlanView(
        waves, known, refused, account=account, role_arn=role, default_tolerance=tolerance
    )


def _guess(value: Any) -> int | None:
    """The wave number a refused WaveNumber probably meant, for wording messages only."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, str) and (m := WAVE_REF_RE.fullmatch(value.strip())):
        return int(m.group(1)) if len(m.group(1)) <= 12 else None
    return None


def check_model(plan: Plan) -> list[str]:
    """Every cross-field problem of a plan whose fields are all valid."""
    return check_view(view_of_model(plan))


def check_plan(data: Mapping[str, Any]) -> list[str]:
    """Every cross-field problem of a raw plan, read through the model's field types."""
    return check_view(view_of_data(data))


def check_view(view: PlanView) -> list[str]:
    problems: list[str] = []
    problems += _duplicate_waves(view.waves)
    problems += _duplicate_servers(view.waves)
    problems += _selections(view.waves)
    problems += _orders(view.waves)
    problems += _dependencies(view)
    problems += _target(view)
    problems += _tolerances(view)
    return problems


def _duplicate_waves(waves: tuple[WaveView, ...]) -> Iterator[str]:
    seen: dict[int, int] = {}
    for w in waves:
        if w.number is None:
            continue
        if w.number in seen:
            yield (
                f"Waves[{w.index}].WaveNumber: wave {w.number} is already defined at "
                f"Waves[{seen[w.number]}]"
            )
        else:
            seen[w.number] = w.index


def _duplicate_servers(waves: tuple[WaveView, ...]) -> Iterator[str]:
    seen: dict[str, tuple[int, str]] = {}  # server id -> (wave index, "wave N")
    for w in waves:
        label = f"wave {w.number}" if w.number is not None else f"Waves[{w.index}]"
        for j, sid in w.servers:
            if sid in seen:
                # Compare positions, not labels: two waves may (wrongly) share a WaveNumber.
                first, where = seen[sid]
                where = "earlier in this wave" if first == w.index else f"in {where}"
                yield f"Waves[{w.index}].ServerIds[{j}]: {sid} is already {where}"
            else:
                seen[sid] = (w.index, label)


#: Why a wave without ServerIds or ServerTags is refused (at ServerIds, which it lacks).
NO_SERVERS = (
    "required field is missing: a wave needs ServerIds, ServerTags (servers selected by "
    "their tags) or both"
)


def _selections(waves: tuple[WaveView, ...]) -> Iterator[str]:
    for w in waves:
        if not w.has_ids and not w.has_tags:
            yield f"Waves[{w.index}].ServerIds: {NO_SERVERS}"


def _orders(waves: tuple[WaveView, ...]) -> Iterator[str]:
    for w in waves:
        if w.order is None or w.kind is None:
            continue
        if w.has_tags:
            yield (
                f"Waves[{w.index}].ExecutionOrder: a wave that selects servers by ServerTags "
                "has no fixed launch order (its servers are only known at preflight and "
                "launch in server-id order); list the servers in ServerIds to order them"
            )
            continue
        if w.kind != "SEQUENTIAL":
            yield (
                f"Waves[{w.index}].ExecutionOrder: only a SEQUENTIAL wave has a launch order "
                f"(this wave is {w.kind})"
            )
            continue
        if not w.order_complete or not w.server_count:
            continue  # a refused entry or ServerIds is reported by the model
        if sorted(w.order) != list(range(1, w.server_count + 1)):
            yield (
                f"Waves[{w.index}].ExecutionOrder: {show(list(w.order))} is not a permutation "
                f"of 1..{w.server_count} (one 1-based position per server in ServerIds)"
            )


def _dependencies(view: PlanView) -> Iterator[str]:
    waves = view.waves
    numbers = {w.number for w in waves if w.number is not None}
    ordered = sorted(numbers)
    previous = dict(zip(ordered[1:], ordered, strict=False))
    graph: dict[int, list[int]] = {}
    for w in waves:
        n = w.number
        if n is None:
            continue
        if w.dependencies is None:
            # "The previous wave" is only known when every WaveNumber is.
            if view.all_numbers_known:
                graph[n] = [previous[n]] if n in previous else []
            continue
        graph.setdefault(n, [])
        for j, d in w.dependencies:
            if d == n:
                yield f"Waves[{w.index}].Dependencies[{j}]: wave {n} depends on itself"
            elif d in numbers:
                graph[n].append(d)
            elif d not in view.refused_numbers:  # else it is the wave whose number was refused
                yield f"Waves[{w.index}].Dependencies[{j}]: wave {d} does not exist"
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


def _target(view: PlanView) -> Iterator[str]:
    if view.account is None or view.role_arn is None:
        return
    m = ROLE_ARN_RE.fullmatch(view.role_arn)
    if m and m.group(1) != view.account:
        yield (
            f"Target.RoleArn: the role is in account {m.group(1)}, "
            f"but Target.AccountId is {view.account}"
        )


_BOTH = "give MaxFailedServers or MaxFailedPercent, not both"


def _tolerances(view: PlanView) -> Iterator[str]:
    """MaxFailedServers / MaxFailedPercent: one or the other; a wave's count within it."""
    servers, percent = view.default_tolerance
    if servers is not None and percent is not None:
        yield f"Defaults.MaxFailedPercent: {_BOTH}"
    for w in view.waves:
        if w.max_failed_servers is not None and w.max_failed_percent is not None:
            yield f"Waves[{w.index}].MaxFailedPercent: {_BOTH}"
        count = w.max_failed_servers
        if w.has_tags:
            continue  # its number of servers is only known at preflight
        if count is not None and w.server_count and count > w.server_count:
            yield (
                f"Waves[{w.index}].MaxFailedServers: {count} is more than the wave's "
                f"{w.server_count} server(s); at most {w.server_count} (every server may fail)"
            )
