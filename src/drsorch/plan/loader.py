"""Reading plan files safely: size limit, text only, YAML safe loader with an alias limit.

Every failure becomes a :class:`~drsorch.errors.PlanError` with a one-line message that
names the file (and the line, for syntax errors); nothing here can hang or exhaust memory
on hostile input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from drsorch.errors import PlanError
from drsorch.plan.checks import check_plan
from drsorch.plan.model import Plan

MAX_PLAN_BYTES = 5 * 1024 * 1024
MAX_YAML_ALIASES = 100
# Nodes the document would have with every alias expanded. The classic "billion laughs"
# needs only 72 aliases, so counting aliases is not enough; a 5 MB plan has far fewer.
MAX_YAML_EXPANDED_NODES = 1_000_000


class _PlanYamlLoader(yaml.SafeLoader):
    """SafeLoader that refuses alias bombs and duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.YAMLError(
                    f"more than {MAX_YAML_ALIASES} YAML aliases (line {mark.line + 1}); "
                    "refusing a possible alias bomb"
                )
        return super().compose_node(parent, index)

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None and _expanded_size(node) > MAX_YAML_EXPANDED_NODES:
            raise yaml.YAMLError(
                f"YAML aliases expand to more than {MAX_YAML_EXPANDED_NODES} values; "
                "refusing a possible alias bomb"
            )
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.YAMLError(
                    f"duplicate key {key!r} at line {key_node.start_mark.line + 1}"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node) -> int:
    """Node count of the tree with aliases expanded, computed on the shared graph (cheap)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:  # a recursive alias: construction will refuse or loop; count once
            return 1
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def read_document(path: str | Path) -> dict[str, Any]:
    """The plan file's top-level mapping, or PlanError naming what is wrong with the file."""
    p = Path(path)
    try:
        if not p.exists():
            raise PlanError(f"{p}: no such file")
        if p.is_dir():
            raise PlanError(f"{p}: is a directory, not a plan file")
        size = p.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise PlanError(f"{p}: {size} bytes is larger than the 5 MB a plan may have")
        # Bounded read: a device or pipe (/dev/zero, <(...)) reports size 0 but never ends.
        with p.open("rb") as f:
            raw = f.read(MAX_PLAN_BYTES + 1)
        if len(raw) > MAX_PLAN_BYTES:
            raise PlanError(f"{p}: larger than the 5 MB a plan may have")
    except OSError as exc:
        raise PlanError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    if b"\x00" in raw:
        raise PlanError(f"{p}: binary data, not a YAML or JSON plan")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{p}: not UTF-8 text (byte {exc.start})") from exc
    data = _parse(p, text)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise PlanError(f"{p}: the plan must be a mapping of fields, this file is {kind}")
    return data


def _parse(p: Path, text: str) -> Any:
    if p.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(
                f"{p}: JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
        except RecursionError as exc:
            raise PlanError(f"{p}: JSON nested too deeply") from exc
    loader = _PlanYamlLoader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PlanError(f"{p}: YAML syntax error{where}: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise PlanError(f"{p}: {exc}") from exc
    except RecursionError as exc:
        raise PlanError(f"{p}: YAML nested too deeply") from exc
    finally:
        loader.dispose()


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or part in {"int", "str", "list"}:
            continue  # pydantic's internal validator names, not field names
        else:
            out += f".{part}" if out else part
    return out or "(plan)"


def _message(err: dict[str, Any]) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    ctx = err.get("ctx") or {}
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    return msg.removeprefix("Value error, ")


def validate_data(data: dict[str, Any]) -> tuple[Plan | None, list[str]]:
    """Validate a raw mapping: the Plan if valid, and every field and cross-field problem."""
    problems: list[str] = []
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        problems += [f"{_path(e['loc'])}: {_message(dict(e))}" for e in exc.errors()]
    problems += check_plan(data)
    if problems:
        return None, list(dict.fromkeys(problems))
    return plan, []


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; PlanError lists every problem with its field path."""
    data = read_document(path)
    plan, problems = validate_data(data)
    if plan is None:
        n = len(problems)
        raise PlanError(f"{path}: {n} problem{'s' if n != 1 else ''}", problems)
    return plan


def parse_plan(data: dict[str, Any]) -> Plan:
    """Validate an in-memory mapping (e.g. from an API); PlanError lists every problem."""
    plan, problems = validate_data(data)
    if plan is None:
        raise PlanError(f"invalid plan: {len(problems)} problem(s)", problems)
    return plan
