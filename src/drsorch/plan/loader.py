"""Reading plan files safely: regular files only, size limit, text only, YAML safe loader
with alias, nesting, key and number limits, JSON without duplicate keys or NaN.

Every failure becomes a :class:`~drsorch.errors.PlanError` with a one-line message that
names the file (and the line, for syntax errors); nothing here can hang, exhaust memory or
end in a traceback on hostile input. Text from the file (keys, values, tags) is shown only
through :func:`drsorch.text.printable`, so a plan cannot control the operator's terminal.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import json
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast, get_args

import yaml
from pydantic import BaseModel, ValidationError

from drsorch.errors import PlanError
from drsorch.plan.checks import _WAVE_NUMBER, _read, check_model, check_plan
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
        self.root_node: yaml.Node | None = None

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
        self.root_node = node  # kept for the positions of fields (error path only)
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
    return _read_document(path)[0]


def _read_document(path: str | Path) -> tuple[dict[str, Any], Callable[[], Positions]]:
    """The top-level mapping, and a function that finds where each field is in the file
    (called only when there is a problem to locate: a valid plan costs nothing more)."""
    p = Path(path)
    name = display_path(path)
    raw = _read_bytes(p, name)
    if b"\x00" in raw:
        raise PlanError(f"{name}: binary data, not a YAML or JSON plan")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    positions: Callable[[], Positions]
    if p.suffix.lower() == ".json":
        data = _parse_json(name, text)
        positions = functools.partial(_json_positions, text)
    else:
        data, root = _parse_yaml(name, text)
        positions = functools.partial(_yaml_positions, root)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise PlanError(f"{name}: the plan must be a mapping of fields, this file is {kind}")
    return data, positions


def _line_col(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"line {line}, column {offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def _parse_yaml(name: str, text: str) -> tuple[Any, yaml.Node | None]:
    try:
        loader = _PlanYamlLoader(text)
    except yaml.reader.ReaderError as exc:  # checked for the whole text up front
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        raise PlanError(
            f"{name}: YAML does not allow the control character {printable(char)!s} "
            f"(at {_line_col(text, exc.position)})"
        ) from exc
    try:
        return loader.get_single_data(), loader.root_node
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


# -- where each field is -------------------------------------------------------------------

Loc = tuple[int | str, ...]
#: Field path -> (line, column), both 1-based; a mapping entry is placed at its key.
Positions = dict[Loc, tuple[int, int]]

# Bounds the walk over the YAML node graph: a recursive alias (``&a [*a, *a]``) has
# endlessly many paths; a real plan has far fewer than this.
_MAX_POSITIONS = 200_000


def _yaml_positions(root: yaml.Node | None) -> Positions:
    """Positions from the composed YAML nodes (merge keys are already flattened in place)."""
    out: Positions = {}
    if root is None:
        return out
    out[()] = (root.start_mark.line + 1, root.start_mark.column + 1)
    stack: list[tuple[Loc, yaml.Node]] = [((), root)]
    while stack and len(out) < _MAX_POSITIONS:
        path, node = stack.pop()
        if len(path) > MAX_NESTING:
            continue
        children: list[tuple[int | str, yaml.Node, yaml.Node]] = []
        if isinstance(node, yaml.MappingNode):
            children = [
                (k.value, k, v)
                for k, v in node.value
                if isinstance(k, yaml.ScalarNode) and isinstance(k.value, str)
            ]
        elif isinstance(node, yaml.SequenceNode):
            children = [(i, v, v) for i, v in enumerate(node.value)]
        for part, at, value in reversed(children):
            child = (*path, part)
            out.setdefault(child, (at.start_mark.line + 1, at.start_mark.column + 1))
            stack.append((child, value))
    return out


_JSON_POSITION_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|true|false|null|-?(?:NaN|Infinity)|-?[0-9][0-9.eE+-]*'
)


def _json_positions(text: str) -> Positions:
    """Positions by a second lexing pass over JSON that ``json`` has already accepted."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    out: Positions = {}

    def where(offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    # Open containers: [path, next index (list) or -1 (object), the key awaiting a value]
    open_: list[tuple[Loc, list[Any]]] = []
    for m in _JSON_POSITION_TOKEN.finditer(text):
        t = m.group()
        if t in (",", ":"):
            continue
        if t in ("}", "]"):
            if open_:
                open_.pop()
            continue
        if not open_:
            path: Loc = ()
        else:
            parent, state = open_[-1]
            if state[0] == -1:  # an object
                if state[1] is None:  # this string is a key
                    key = json.loads(t)
                    state[1] = key
                    out.setdefault((*parent, key), where(m.start()))
                    continue
                path, state[1] = (*parent, state[1]), None
            else:
                path = (*parent, state[0])
                state[0] += 1
                out.setdefault(path, where(m.start()))
        if not path:
            out[()] = where(m.start())
        if t == "{":
            open_.append((path, [-1, None]))
        elif t == "[":
            open_.append((path, [0, None]))
        if len(out) >= _MAX_POSITIONS:
            break
    return out


# -- validation ------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_INTERNAL = re.compile(r"(function|json-or-python|lax-or-strict|nullable)-?.*\[.*\]$")
# A field path at the start of a cross-field finding: ``Waves[2].Dependencies[0]: ...``.
_FINDING = re.compile(r"((?:[A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])*): ")
_PATH_PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]")


@dataclass(frozen=True)
class Problem:
    """One finding: where it is (field path, and line and column when read from a file), and
    what is wrong, in our words.

    ``str(problem)`` is ``PATH: MESSAGE`` (``Waves[3].ServerIds[0]: ...``): the machine
    readable path, 0-based like the file's own lists. :meth:`located` is what a person
    reads: ``plan.yaml:12:7: Waves[3].ServerIds[0] (wave 4): ...``.
    """

    loc: Loc
    message: str
    line: int | None = None
    column: int | None = None
    wave: int | None = None  # WaveNumber of the wave the path is in, when it is valid

    @property
    def path(self) -> str:
        return _path(self.loc)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def located(self, name: str) -> str:
        where = f"{name}:{self.line}:{self.column}" if self.line is not None else name
        wave = f" (wave {self.wave})" if self.wave is not None else ""
        return f"{where}: {self.path}{wave}: {self.message}"


class PlanProblems(PlanError):
    """An invalid plan file: :attr:`located` holds every problem, in file order, with its
    line and column (``problems`` holds the same as ``PATH: MESSAGE`` lines)."""

    def __init__(self, name: str, located: list[Problem]) -> None:
        n = len(located)
        super().__init__(f"{name}: {n} problem{'s' if n != 1 else ''}", [str(p) for p in located])
        self.name = name
        self.located = located


def _clean(loc: tuple[int | str, ...]) -> Loc:
    """A pydantic location without pydantic's internal validator names."""
    return tuple(
        part
        for k, part in enumerate(loc)
        if isinstance(part, int) or k == len(loc) - 1 or not _INTERNAL.match(part)
    )


def _path(loc: tuple[int | str, ...]) -> str:
    """A location as a plan field path: ``Waves[2].HealthCheck.MaxPolls``."""
    out = ""
    for part in _clean(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:  # an unknown key with odd characters: quoted, short and printable
            out += f"[{show(part)}]"
    return out or "(plan)"


def _split(finding: str) -> Problem:
    """A cross-field finding (``PATH: message``) as a Problem."""
    m = _FINDING.match(finding)
    if m is None:
        return Problem((), finding)
    loc: list[int | str] = []
    for part in _PATH_PART.finditer(m.group(1)):
        loc.append(part.group(1) if part.group(1) is not None else int(part.group(2)))
    return Problem(tuple(loc), finding[m.end() :])


# -- our words for the model's complaints ----------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``X | None`` or ``list[X]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _known_fields(parent: Loc) -> list[str]:
    """The field names (as written in a file) a mapping at ``parent`` may hold."""
    model: type[BaseModel] | None = Plan
    for part in parent:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        model = _model_of(field.annotation) if field is not None else None
    if model is None:
        return []
    return [f.alias for f in model.model_fields.values() if f.alias]


def _unknown_field(loc: Loc) -> str:
    """``unknown field``, with the closest known field at that level (typos, case, snake)."""
    key, known = loc[-1] if loc else "", _known_fields(loc[:-1])
    if not isinstance(key, str) or not known:
        return "unknown field"
    folded = key.replace("_", "").replace("-", "").replace(" ", "").casefold()
    same = [k for k in known if k.casefold() == folded]
    close = same or difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown field; did you mean {close[0]}?"
    return f"unknown field (fields here: {', '.join(known)})"


def _not_accepted(value: Any, accepted: list[str]) -> str:
    """An enum value refused: what was meant, if it is a case or a typo away, and the list."""
    choices = ", ".join(accepted)
    if not accepted:
        return f"is not an accepted value ({describe(value)})"
    if isinstance(value, str):
        text = value.strip()
        same = [a for a in accepted if a.casefold() == text.casefold()]
        close = same or difflib.get_close_matches(text.upper(), accepted, n=1, cutoff=0.6)
        if close:
            return f"{show(value)} is not accepted: did you mean {close[0]}? (one of {choices})"
        return f"{show(value)} is not accepted: must be one of {choices}"
    return f"must be one of {choices}, not {describe(value)}"


def _message(err: Mapping[str, Any], loc: Loc) -> str:
    """A pydantic error in our words (never pydantic's "Input should be ...")."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        return printable(str(ctx["error"]))  # our own validators' words
    if kind == "extra_forbidden":
        return _unknown_field(loc)
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
        return _not_accepted(value, re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
    if kind == "invalid_key":
        return f"a key must be text, not {describe(value)}"
    if kind == "recursion_loop":
        return "contains itself (a recursive YAML alias)"
    return f"is not a valid value ({describe(value)})"


def _findings(data: Mapping[str, Any]) -> tuple[Plan | None, list[Problem]]:
    if not isinstance(cast(object, data), Mapping):  # an API caller may pass anything
        return None, [Problem((), f"must be a mapping of fields, not {describe(data)}")]
    try:
        plan = Plan.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        found = []
        for e in exc.errors():
            loc = _clean(e["loc"])
            found.append(Problem(loc, _message(e, loc)))
        found += [_split(p) for p in check_plan(data)]
        return None, list(dict.fromkeys(found))
    except RecursionError:
        return None, [Problem((), "nested too deeply")]
    problems = check_model(plan)
    if problems:
        return None, list(dict.fromkeys(_split(p) for p in problems))
    return plan, []


def validate_data(data: Mapping[str, Any]) -> tuple[Plan | None, list[str]]:
    """Validate a raw mapping: the Plan if valid, and every field and cross-field problem
    as ``PATH: message``.

    The cross-field rules judge the values the model produced (:func:`check_model`), so a
    plan accepted here is exactly the plan the engine runs. When a field is invalid, the
    rules run on the raw mapping read through the model's field types instead
    (:func:`check_plan`), so that every problem of the file is reported in one pass.
    """
    plan, found = _findings(data)
    return plan, list(dict.fromkeys(str(p) for p in found))


def _wave_number(data: Mapping[str, Any], loc: Loc) -> int | None:
    """The WaveNumber of the wave ``loc`` is in (``Waves[3]...``), if it is a valid one."""
    if len(loc) < 2 or loc[0] != "Waves" or not isinstance(loc[1], int):
        return None
    waves = data.get("Waves")
    if not isinstance(waves, list) or not 0 <= loc[1] < len(waves):
        return None
    wave = waves[loc[1]]
    return _read(_WAVE_NUMBER, wave.get("WaveNumber")) if isinstance(wave, dict) else None


def locate(data: Mapping[str, Any], problems: list[Problem], positions: Positions) -> list[Problem]:
    """Problems with their line and column, wave numbers named, in file order.

    A problem is placed at its field, or for a missing field at the nearest enclosing one
    that is in the file (a missing ``Waves[5].WaveNumber`` at the wave); a problem of the
    whole plan (a missing ``PlanId``) has no place and comes last.
    """
    out = []
    for p in problems:
        at = next(
            (positions[p.loc[:k]] for k in range(len(p.loc), 0, -1) if p.loc[:k] in positions),
            None,
        )
        line, column = at if at is not None else (None, None)
        out.append(replace(p, line=line, column=column, wave=_wave_number(data, p.loc)))
    # Stable: problems at one place keep the order the validator found them in.
    return sorted(out, key=lambda p: (p.line is None, p.line or 0, p.column or 0))


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; :class:`PlanProblems` lists every problem with its
    field path, line and column, in file order."""
    data, positions = _read_document(path)
    plan, found = _findings(data)
    if plan is None:
        try:
            where = positions()
        except (ValueError, RecursionError):  # positions are a help, never a new failure
            where = {}
        raise PlanProblems(display_path(path), locate(data, found, where))
    return plan


def parse_plan(data: Mapping[str, Any]) -> Plan:
    """Validate an in-memory mapping (e.g. from an API); PlanError lists every problem."""
    plan, problems = validate_data(data)
    if plan is None:
        raise PlanError(f"invalid plan: {len(problems)} problem(s)", problems)
    return plan
