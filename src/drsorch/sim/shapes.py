"""botocore's service models, used by the simulator as the real services use their own.

- :func:`check` validates a value against a shape (types, required members, string and
  list lengths, patterns, numeric ranges, enums, unknown members): DRS requests are
  checked with it before any handler runs, as DRS's own front end does, and contract tests
  check responses with it.
- :func:`decode_query` turns a query-protocol form back into parameters, following the
  naming rules of botocore's serializers: EC2's (``InstanceId.1=...``) or the plain query
  protocol's that STS uses (``Tags.member.1.Key=...``).
- :func:`encode_xml` writes an EC2 response the way EC2 does (``<instanceStatusSet><item>``);
  :func:`encode_query_xml` a query-protocol one (``<AssumeRoleResponse><AssumeRoleResult>``).

Checking and writing follow the shape of every value; what a shape says (members, tags,
constraints) is read from the model once per shape into a checker or writer, and kept
(every request is checked and every answer written; the model never changes).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import ServiceModel, Shape

EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"
Protocol = Literal["ec2", "query"]


@functools.cache
def service_model(name: str) -> ServiceModel:
    """The service model botocore ships (cached: loading it takes milliseconds)."""
    return botocore.session.get_session().get_service_model(name)


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def check(
    shape: Shape,
    value: Any,
    path: str = "",
    *,
    enums: bool = False,
    unknown: bool = False,
    skip_patterns: frozenset[str] = frozenset(),
) -> list[dict[str, str]]:
    """Every way ``value`` breaks ``shape``, as ``{"name": path, "message": ...}`` items."""
    problems: list[dict[str, str]] = []
    _checker(shape, enums, unknown, skip_patterns)(value, path, problems)
    return problems


#: Checks a value at a path, adding what is wrong with it to a list.
Checker = Callable[[Any, str, list[dict[str, str]]], None]


@functools.lru_cache(maxsize=1024)
def _checker(shape: Shape, enums: bool, unknown: bool, skip: frozenset[str]) -> Checker:
    """The checker of ``shape``'s values: members, constraints and patterns looked up in the
    model once per shape (every DRS request is checked; the model never changes). Kept by
    shape object: the wire's come from the cached service models (a bounded cache, since
    ``ServiceModel.shape_for`` makes a new object at every call)."""
    return _compile_check(shape, (enums, unknown, skip), {})


_Options = tuple[bool, bool, frozenset[str]]


F = TypeVar("F", bound=Callable[..., Any])


def made_once(shape: Shape, memo: dict[str, F], make: Callable[[], F]) -> F:
    """``make()``'s function for ``shape``, made once per ``memo``. A recursive shape met
    again while its function is being made gets a stand-in that calls the finished one."""
    if shape.name in memo:
        return memo[shape.name]
    cell: list[F] = []
    memo[shape.name] = cast(F, lambda *args: cell[0](*args))
    made = make()
    cell.append(made)
    memo[shape.name] = made
    return made


def _compile_check(shape: Shape, options: _Options, memo: dict[str, Checker]) -> Checker:
    return made_once(shape, memo, lambda: _make_check(shape, options, memo))


def _make_check(shape: Shape, options: _Options, memo: dict[str, Checker]) -> Checker:
    enums, unknown, skip = options
    kind = shape.type_name
    meta = shape.metadata
    shape_name = shape.name

    def bad(out: list[dict[str, str]], path: str, message: str) -> None:
        out.append({"name": path or shape_name, "message": message})

    if kind == "structure":
        required = list(meta.get("required", []))
        members = {k: _compile_check(m, options, memo) for k, m in shape.members.items()}

        def structure(value: Any, path: str, out: list[dict[str, str]]) -> None:
            if not isinstance(value, dict):
                return bad(out, path, "must be an object")
            for req in required:
                if req not in value:
                    out.append({"name": _join(path, req), "message": "is required"})
            for key, item in value.items():
                member = members.get(key)
                if member is None:
                    if unknown:
                        out.append({"name": _join(path, key), "message": "is not a known field"})
                    continue
                if item is not None:
                    member(item, _join(path, key), out)

        return structure
    if kind == "list":
        items = _bounds(meta, "items", bad)
        member = _compile_check(shape.member, options, memo)

        def list_(value: Any, path: str, out: list[dict[str, str]]) -> None:
            if not isinstance(value, list):
                return bad(out, path, "must be a list")
            items(len(value), path, out)
            name = path or shape_name
            for i, item in enumerate(value):
                member(item, f"{name}[{i}]", out)

        return list_
    if kind == "map":
        entries = _bounds(meta, "entries", bad)
        key_check = _compile_check(shape.key, options, memo)
        value_check = _compile_check(shape.value, options, memo)

        def map_(value: Any, path: str, out: list[dict[str, str]]) -> None:
            if not isinstance(value, dict):
                return bad(out, path, "must be an object")
            entries(len(value), path, out)
            name = path or shape_name
            for key, item in value.items():
                key_check(key, f"{name}.{key}(key)", out)
                value_check(item, f"{name}.{key}", out)

        return map_
    if kind == "string":
        characters = _bounds(meta, "characters", bad)
        pattern = meta.get("pattern")
        # compiled when first used: some patterns are Java's, which Python cannot compile
        checked = pattern if pattern and shape_name not in skip else None
        enum = shape.enum if enums else None

        def string(value: Any, path: str, out: list[dict[str, str]]) -> None:
            if not isinstance(value, str):
                return bad(out, path, "must be a string")
            characters(len(value), path, out)
            if checked is not None and not _pattern(checked).fullmatch(value):
                bad(out, path, f"must match the pattern {pattern}")
            if enum and value not in enum:
                bad(out, path, f"must be one of {', '.join(enum)}")

        return string
    if kind in ("integer", "long"):

        def integer(value: Any, path: str, out: list[dict[str, str]]) -> None:
            if isinstance(value, bool) or not isinstance(value, int):
                return bad(out, path, "must be an integer")
            if "min" in meta and value < meta["min"]:
                bad(out, path, f"must be at least {meta['min']}")
            if "max" in meta and value > meta["max"]:
                bad(out, path, f"must be at most {meta['max']}")

        return integer
    if kind == "boolean":

        def boolean(value: Any, path: str, out: list[dict[str, str]]) -> None:
            if not isinstance(value, bool):
                bad(out, path, "must be a boolean")

        return boolean
    if kind in ("double", "float"):

        def number(value: Any, path: str, out: list[dict[str, str]]) -> None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                bad(out, path, "must be a number")

        return number
    if kind == "timestamp":

        def timestamp(value: Any, path: str, out: list[dict[str, str]]) -> None:
            if not isinstance(value, int | float | str | datetime):
                bad(out, path, "must be a timestamp")

        return timestamp
    return _unchecked


def _unchecked(value: Any, path: str, out: list[dict[str, str]]) -> None:
    """Values of the other types (blobs...) are not checked."""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _bounds(
    meta: dict[str, Any], unit: str, bad: Callable[[list[dict[str, str]], str, str], None]
) -> Callable[[int, str, list[dict[str, str]]], None]:
    """The check of a size against the shape's min and max."""
    low, high = "min" in meta, "max" in meta

    def bounds(size: int, path: str, out: list[dict[str, str]]) -> None:
        if low and size < meta["min"]:
            bad(out, path, f"must have at least {meta['min']} {unit}")
        if high and size > meta["max"]:
            bad(out, path, f"must have at most {meta['max']} {unit}")

    return bounds


# --- query protocols (EC2, STS) -----------------------------------------------------


def _query_name(member: Shape, default: str, protocol: Protocol) -> str:
    """The key botocore's EC2 or query serializer uses for a member."""
    ser = member.serialization
    if protocol == "query":
        return str(ser.get("name", default))
    if "queryName" in ser:
        return str(ser["queryName"])
    if "name" in ser:
        name = str(ser["name"])
        return name[0].upper() + name[1:]
    return default


def decode_query(
    shape: Shape, form: dict[str, str], prefix: str = "", protocol: Protocol = "ec2"
) -> dict[str, Any]:
    """Parameters of an EC2 (or, with ``protocol="query"``, STS) request from its form."""
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = prefix + _query_name(member, name, protocol)
        value = _decode_member(member, form, key, protocol)
        if value is not None:
            out[name] = value
    return out


def _decode_member(shape: Shape, form: dict[str, str], key: str, protocol: Protocol) -> Any:
    kind = shape.type_name
    if kind == "structure":
        inner = decode_query(shape, form, key + ".", protocol)
        return inner or None
    if kind == "list":
        if protocol == "query" and not shape.serialization.get("flattened"):
            key = f"{key}.{shape.member.serialization.get('name', 'member')}"
        items = []
        i = 1
        while True:
            item = _decode_member(shape.member, form, f"{key}.{i}", protocol)
            if item is None:
                break
            items.append(item)
            i += 1
        if not items and protocol == "query" and form.get(key.rsplit(".", 1)[0]) == "":
            return []  # botocore writes an empty list as "Name="
        return items or None
    if kind == "map":
        entries: dict[str, Any] = {}
        i = 1
        while f"{key}.entry.{i}.key" in form:
            value = _decode_member(shape.value, form, f"{key}.entry.{i}.value", protocol)
            entries[form[f"{key}.entry.{i}.key"]] = value
            i += 1
        return entries or None
    raw = form.get(key)
    if raw is None:
        return None
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "boolean":
        return raw.lower() == "true"
    return raw


def encode_xml(shape: Shape, value: dict[str, Any], root: str, request_id: str) -> bytes:
    """An EC2 response document for ``value`` (keys are botocore member names)."""
    body = _xml_writer(shape, "ec2")(value)
    text = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{EC2_XMLNS}">'
        f"<requestId>{request_id}</requestId>{body}</{root}>"
    )
    return text.encode()


def encode_query_xml(
    shape: Shape, value: dict[str, Any], operation: str, request_id: str, xmlns: str
) -> bytes:
    """A query-protocol (STS) response document: the members inside ``<OpResult>``, the
    request id in ``<ResponseMetadata>``, lists as ``<member>`` items."""
    body = _xml_writer(shape, "query")(value)
    text = (
        f'<{operation}Response xmlns="{xmlns}">'
        f"<{operation}Result>{body}</{operation}Result>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    )
    return text.encode()


def _xml_value(shape: Shape, value: Any, protocol: Protocol = "ec2") -> str:
    """The content of the element that holds ``value``, a value of ``shape``."""
    return _xml_writer(shape, protocol)(value)


XmlWriter = Callable[[Any], str]


@functools.lru_cache(maxsize=1024)
def _xml_writer(shape: Shape, protocol: Protocol) -> XmlWriter:
    """The writer of ``shape``'s values: the tags and the writers of its members, lists and
    scalars looked up in the model once per shape (responses are written thousands of
    times; the model never changes). Kept by shape object, as :func:`_checker`."""
    return _compile_xml(shape, protocol, {})


def _compile_xml(shape: Shape, protocol: Protocol, memo: dict[str, XmlWriter]) -> XmlWriter:
    return made_once(shape, memo, lambda: _make_xml(shape, protocol, memo))


def _make_xml(shape: Shape, protocol: Protocol, memo: dict[str, XmlWriter]) -> XmlWriter:
    kind = shape.type_name
    writer: XmlWriter
    if kind == "structure":
        members: dict[str, tuple[str, str, XmlWriter]] = {}
        for name, member in shape.members.items():
            tag = member.serialization.get("name", name)
            members[name] = (f"<{tag}>", f"</{tag}>", _compile_xml(member, protocol, memo))

        def structure(value: Any) -> str:
            parts = []
            for name, item in value.items():
                if item is None:
                    continue
                start, end, write = members[name]
                parts.append(start + write(item) + end)
            return "".join(parts)

        writer = structure
    elif kind == "list":
        tag = shape.member.serialization.get("name", "item" if protocol == "ec2" else "member")
        start, end = f"<{tag}>", f"</{tag}>"
        item = _compile_xml(shape.member, protocol, memo)

        def items(value: Any) -> str:
            return "".join([start + item(v) + end for v in value])

        writer = items
    elif kind == "boolean":
        writer = _xml_boolean
    elif kind == "timestamp":
        writer = _xml_iso_z if protocol == "ec2" else _xml_iso_seconds
    else:
        writer = _xml_scalar
    return writer


def _xml_boolean(value: Any) -> str:
    return "true" if value else "false"


def _xml_iso_z(value: Any) -> str:
    return iso_z(float(value))


def _xml_iso_seconds(value: Any) -> str:
    return iso_seconds(float(value))


def _xml_scalar(value: Any) -> str:
    return _escaped(str(value))


@functools.lru_cache(maxsize=4096)
def _escaped(text: str) -> str:
    """:func:`xml_text`, kept for the texts last written (ids, states and codes are written
    again at every poll; the function is pure)."""
    return xml_text(text)


#: Characters XML 1.0 cannot carry at all, not even escaped (C0 controls but tab, CR, LF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """``value`` escaped for XML, with characters XML cannot carry replaced by U+FFFD (a
    control character echoed in an error message must not make the document unreadable)."""
    return escape(_NOT_XML.sub("\ufffd", value))


def iso_z(when: float) -> str:
    """EC2's timestamp format: 2025-11-25T11:26:40.000Z."""
    moment = datetime.fromtimestamp(when, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_seconds(when: float) -> str:
    """STS's timestamp format: 2025-11-25T11:26:40Z (whole seconds)."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=4096)
def iso_drs(when: float) -> str:
    """DRS's date-time strings, as real responses show them: 2025-11-25T11:26:40.123456+00:00.

    Kept for the times last written: a job's creation time is written at every poll."""
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="microseconds")
