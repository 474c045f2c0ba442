"""Reading plan files safely: regular files only, size limit, text only, YAML safe loader
with alias, nesting, key and number limits, JSON without duplicate keys or NaN.

Every failure becomes a :class:`~drsorch.errors.PlanError` with a one-line message that
names the file (and the line, for syntax errors); nothing here can hang, exhaust memory or
end in a traceback on hostile input. Text from the file (keys, values, tags) is shown only
through :func:`drsorch.text.printable`, so a plan cannot control the operator's terminal.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import ValidationError

from drsorch.errors import PlanError
from drsorch.plan.checks import check_model, check_plan
from drsorch.plan.model import Plan, describe, show
from drsorch.text import printable

MAX_PLAN_BYTES = 5 * 1024 * 1024
MAX_YAML_ALIASES = 100
# Nodes the document would have with every alias expanded. The classic "billion laughs"
# needs only 72 aliases, so counting aliases is not enough; a 5 MB plan has far fewer.
MAX_YAML_EXPANDED_NODES = 1_000_000
# A plan is five levels deep (Plan > Waves > wave > HealthCheck > field); deeper input is
# refused before anything recurses over it.
MAX_NESTING = 32
# The largest number a plan field holds is a 12-digit account id; anything past this bound
# is refused while reading (Python refuses to convert integers of over 4300 digits at all).
MAX_INTEGER = 10**15
_MAX_INTEGER_CHARS = 64  # longest integer spelling looked at (0b..., 1_000_..., 1:00:...)


class _Refused(yaml.YAMLError):
    """A problem found while reading, already worded (with its line where known)."""


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


class _PlanYamlLoader(yaml.SafeLoader):
    """SafeLoader that refuses alias bombs, deep nesting, non-text and duplicate keys, and
    numbers no plan field can hold."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refused(
                    f"more than {MAX_YAML_ALIASES} YAML aliases (line {mark.line + 1}); "
                    "refusing a possible alias bomb"
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refused(f"nested more than {MAX_NESTING} levels deep at {_at(mark)}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None and _expanded_size(node) > MAX_YAML_EXPANDED_NODES:
            raise _Refused(
                f"YAML aliases expand to more than {MAX_YAML_EXPANDED_NODES} values; "
                "refusing a possible alias bomb"
            )
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # A scalar the resolver typed but Python cannot build (2024-13-45 as a date, say)
        # raises ValueError deep inside PyYAML: report it with its place instead.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            kind = str(node.tag).rpartition(":")[2]
            kind = {"timestamp": "date", "int": "number", "float": "number"}.get(kind, "value")
            raise _Refused(
                f"the value at {_at(node.start_mark)} is not a valid {printable(kind)} "
                "(put it in quotes if it is text)"
            ) from exc

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`, merged below
                    continue
                key = self._key(key_node, deep)
                if key in seen:
                    raise _Refused(
                        f"duplicate key {show(key)} at line {key_node.start_mark.line + 1}"
                    )
                seen.add(key)
            self.flatten_mapping(node)
            for key_node, _ in node.value:  # keys merged in from elsewhere
                self._key(key_node, deep)
        return super().construct_mapping(node, deep=deep)

    def _key(self, key_node: Any, deep: bool) -> str:
        key = self.construct_object(key_node, deep=deep)
        if not isinstance(key, str):
            raise _Refused(
                f"a key must be text, not {describe(key)} (at {_at(key_node.start_mark)})"
            )
        return key

    def construct_yaml_int(self, node: Any) -> int:
        text = str(node.value)
        if len(text) > _MAX_INTEGER_CHARS:
            raise _Refused(
                f"a number of {len(text)} characters at {_at(node.start_mark)} is larger "
                "than any plan field allows"
            )
        value = int(super().construct_yaml_int(node))
        if abs(value) > MAX_INTEGER:
            raise _Refused(
                f"the number at {_at(node.start_mark)} is larger than any plan field allows"
            )
        return value


_PlanYamlLoader.add_constructor("tag:yaml.org,2002:int", _PlanYamlLoader.construct_yaml_int)


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


# -- the file --------------------------------------------------------------------------------


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _read_bytes(p: Path, name: str) -> bytes:
    """The file's bytes, at most MAX_PLAN_BYTES + 1 of them.

    Only a regular file is opened for reading: a FIFO, device or socket is refused from its
    ``stat`` (opening a FIFO for reading blocks until a writer comes; /dev/zero never ends).
    The file is opened non-blocking and checked again through its descriptor, so a file
    swapped for a FIFO between the two calls cannot block either.
    """
    try:
        st = os.stat(p)
    except FileNotFoundError as exc:
        raise PlanError(f"{name}: no such file") from exc
    except ValueError as exc:  # a NUL in the path
        raise PlanError(f"{name}: cannot read: the path contains a NUL character") from exc
    except OSError as exc:
        raise PlanError(f"{name}: cannot read: {printable(exc.strerror or exc)}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise PlanError(f"{name}: is a directory, not a plan file")
    if not stat.S_ISREG(st.st_mode):
        raise PlanError(f"{name}: is {_kind(st.st_mode)}, not a plan file")
    if st.st_size > MAX_PLAN_BYTES:
        raise PlanError(f"{name}: {st.st_size} bytes is larger than the 5 MB a plan may have")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags)
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise PlanError(f"{name}: is {_kind(mode)}, not a plan file")
            chunks: list[bytes] = []
            left = MAX_PLAN_BYTES + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        raise PlanError(f"{name}: cannot read: {printable(exc.strerror or exc)}") from exc
    raw = b"".join(chunks)
    if len(raw) > MAX_PLAN_BYTES:  # it grew after the stat
        raise PlanError(f"{name}: larger than the 5 MB a plan may have")
    return raw


def display_path(path: str | Path) -> str:
    """The file name as messages show it: control characters and undecodable bytes escaped."""
    return printable(str(path).encode("utf-8", "backslashreplace").decode("utf-8"))


def read_document(path: str | Path) -> dict[str, Any]:
    """The plan file's top-level mapping, or PlanError naming what is wrong with the file."""
    p = Path(path)
    name = display_path(path)
    raw = _read_bytes(p, name)
    if b"\x00" in raw:
        raise PlanError(f"{name}: binary data, not a YAML or JSON plan")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    data = _parse_json(name, text) if p.suffix.lower() == ".json" else _parse_yaml(name, text)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise PlanError(f"{name}: the plan must be a mapping of fields, this file is {kind}")
    return data


def _line_col(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"line {line}, column {offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def _parse_yaml(name: str, text: str) -> Any:
    try:
        loader = _PlanYamlLoader(text)
    except yaml.reader.ReaderError as exc:  # checked for the whole text up front
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        raise PlanError(
            f"{name}: YAML does not allow the control character {printable(char)!s} "
            f"(at {_line_col(text, exc.position)})"
        ) from exc
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise PlanError(f"{name}: {exc}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at {_at(mark)}" if mark else ""
        problem = printable(exc.problem or exc.context or "not valid YAML")[:200]
        raise PlanError(f"{name}: YAML syntax error{where}: {problem}") from exc
    except yaml.YAMLError as exc:
        raise PlanError(f"{name}: not valid YAML ({printable(type(exc).__name__)})") from exc
    except RecursionError as exc:
        raise PlanError(f"{name}: YAML nested too deeply") from exc
    finally:
        loader.dispose()


# -- JSON ------------------------------------------------------------------------------------


class _JsonRefused(Exception):
    def __init__(self, message: str, *, key: str | None = None, token: str | None = None):
        super().__init__(message)
        self.key = key
        self.token = token


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # the docs promise an error, not "last one wins"
            raise _JsonRefused(f"duplicate key {show(key)}", key=key)
        out[key] = value
    return out


def _json_int(token: str) -> int:
    if len(token) > _MAX_INTEGER_CHARS or abs(value := int(token)) > MAX_INTEGER:
        raise _JsonRefused("a number larger than any plan field allows", token=token)
    return value


def _json_constant(token: str) -> Any:
    raise _JsonRefused(f"{token} is not a number JSON allows", token=token)


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:]|-?(?:NaN|Infinity)|-?[0-9][0-9.eE+-]*')


def _json_where(text: str, exc: _JsonRefused) -> str:
    """Where in ``text`` the refused key or number is: a second lexing pass, error path only."""
    objects: list[set[str] | None] = []
    tokens = list(_JSON_TOKEN.finditer(text))
    for k, m in enumerate(tokens):
        t = m.group()
        if t in ("{", "["):
            objects.append(set() if t == "{" else None)
        elif t in ("}", "]"):
            if objects:
                objects.pop()
        elif exc.token is not None and t == exc.token:
            return f" at {_line_col(text, m.start())}"
        elif (
            exc.key is not None
            and t.startswith('"')
            and objects
            and (keys := objects[-1]) is not None
            and k + 1 < len(tokens)
            and tokens[k + 1].group() == ":"
        ):
            try:
                key = json.loads(t)
            except ValueError:
                continue
            if key == exc.key and key in keys:
                return f" at {_line_col(text, m.start())}"
            keys.add(key)
    return ""


def _depth_exceeds(data: Any, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def _parse_json(name: str, text: str) -> Any:
    try:
        data = json.loads(
            text,
            object_pairs_hook=_json_object,
            parse_int=_json_int,
            parse_constant=_json_constant,
        )
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"{name}: JSON syntax error at line {exc.lineno}, column {exc.colno}: "
            f"{printable(exc.msg)}"
        ) from exc
    except _JsonRefused as exc:
        raise PlanError(f"{name}: {exc}{_json_where(text, exc)}") from exc
    except RecursionError as exc:
        raise PlanError(f"{name}: JSON nested too deeply") from exc
    except ValueError as exc:  # any other conversion the decoder could not make
        raise PlanError(f"{name}: not valid JSON ({printable(type(exc).__name__)})") from exc
    if _depth_exceeds(data, MAX_NESTING):
        raise PlanError(f"{name}: nested more than {MAX_NESTING} levels deep")
    return data


# -- validation ------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_INTERNAL = re.compile(r"(function|json-or-python|lax-or-strict|nullable)-?.*\[.*\]$")


def _path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a plan field path: ``Waves[2].HealthCheck.MaxPolls``."""
    out = ""
    for k, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif k < len(loc) - 1 and _INTERNAL.match(part):
            continue  # pydantic's internal validator names, not field names
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:  # an unknown key with odd characters: quoted, short and printable
            out += f"[{show(part)}]"
    return out or "(plan)"


def _message(err: Mapping[str, Any]) -> str:
    """A pydantic error in our words (never pydantic's "Input should be ...")."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        return printable(str(ctx["error"]))  # our own validators' words
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("too_short", "string_too_short"):
        n = ctx.get("min_length")
        return "must not be empty" if n == 1 else f"must have at least {n} entries"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} entries"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "string_unicode":
        return f"must be valid Unicode text, not {show(value)} (it holds a lone surrogate)"
    if kind in ("string_type", "string_sub_type"):
        return f"must be text, not {describe(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, not {describe(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {describe(value)}"
    if kind in ("list_type", "iterable_type"):
        return f"must be a list, not {describe(value)}"
    if kind in ("model_type", "dict_type", "model_attributes_type", "dataclass_type"):
        return f"must be a mapping of fields, not {describe(value)}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, not {show(value)}"
    if kind == "invalid_key":
        return f"a key must be text, not {describe(value)}"
    if kind == "recursion_loop":
        return "contains itself (a recursive YAML alias)"
    return f"is not a valid value ({describe(value)})"


def validate_data(data: Mapping[str, Any]) -> tuple[Plan | None, list[str]]:
    """Validate a raw mapping: the Plan if valid, and every field and cross-field problem.

    The cross-field rules judge the values the model produced (:func:`check_model`), so a
    plan accepted here is exactly the plan the engine runs. When a field is invalid, the
    rules run on the raw mapping read through the model's field types instead
    (:func:`check_plan`), so that every problem of the file is reported in one pass.
    """
    if not isinstance(cast(object, data), Mapping):  # an API caller may pass anything
        return None, [f"(plan): must be a mapping of fields, not {describe(data)}"]
    try:
        plan = Plan.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        problems = [f"{_path(e['loc'])}: {_message(e)}" for e in exc.errors()]
        problems += check_plan(data)
        return None, list(dict.fromkeys(problems))
    except RecursionError:
        return None, ["(plan): nested too deeply"]
    problems = check_model(plan)
    if problems:
        return None, list(dict.fromkeys(problems))
    return plan, []


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; PlanError lists every problem with its field path."""
    data = read_document(path)
    plan, problems = validate_data(data)
    if plan is None:
        n = len(problems)
        name = display_path(path)
        raise PlanError(f"{name}: {n} problem{'s' if n != 1 else ''}", problems)
    return plan


def parse_plan(data: Mapping[str, Any]) -> Plan:
    """Validate an in-memory mapping (e.g. from an API); PlanError lists every problem."""
    plan, problems = validate_data(data)
    if plan is None:
        raise PlanError(f"invalid plan: {len(problems)} problem(s)", problems)
    return plan
