"""botocore's service models, used by the simulator as the real services use their own.

- :func:`check` validates a value against a shape (types, required members, string and
  list lengths, patterns, numeric ranges, enums, unknown members): DRS requests are
  checked with it before any handler runs, as DRS's own front end does, and contract tests
  check responses with it.
- :func:`decode_query` turns an EC2 query-protocol form (``InstanceId.1=...``) back into
  parameters, following the same naming rules as botocore's EC2 serializer.
- :func:`encode_xml` writes an EC2 response the way EC2 does (``<instanceStatusSet><item>``).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import ServiceModel, Shape

EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"


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
    _check(shape, value, path, problems, enums, unknown, skip_patterns)
    return problems


def _check(
    shape: Shape,
    value: Any,
    path: str,
    out: list[dict[str, str]],
    enums: bool,
    unknown: bool,
    skip: frozenset[str],
) -> None:
    kind = shape.type_name
    meta = shape.metadata
    name = path or shape.name

    def bad(message: str) -> None:
        out.append({"name": name, "message": message})

    if kind == "structure":
        if not isinstance(value, dict):
            return bad("must be an object")
        for req in meta.get("required", []):
            if req not in value:
                out.append({"name": _join(path, req), "message": "is required"})
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                if unknown:
                    out.append({"name": _join(path, key), "message": "is not a known field"})
                continue
            if item is not None:
                _check(member, item, _join(path, key), out, enums, unknown, skip)
    elif kind == "list":
        if not isinstance(value, list):
            return bad("must be a list")
        _bounds(len(value), meta, "items", bad)
        for i, item in enumerate(value):
            _check(shape.member, item, f"{name}[{i}]", out, enums, unknown, skip)
    elif kind == "map":
        if not isinstance(value, dict):
            return bad("must be an object")
        _bounds(len(value), meta, "entries", bad)
        for key, item in value.items():
            _check(shape.key, key, f"{name}.{key}(key)", out, enums, unknown, skip)
            _check(shape.value, item, f"{name}.{key}", out, enums, unknown, skip)
    elif kind == "string":
        if not isinstance(value, str):
            return bad("must be a string")
        _bounds(len(value), meta, "characters", bad)
        pattern = meta.get("pattern")
        if pattern and shape.name not in skip and not _pattern(pattern).fullmatch(value):
            bad(f"must match the pattern {pattern}")
        if enums and shape.enum and value not in shape.enum:
            bad(f"must be one of {', '.join(shape.enum)}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return bad("must be an integer")
        if "min" in meta and value < meta["min"]:
            bad(f"must be at least {meta['min']}")
        if "max" in meta and value > meta["max"]:
            bad(f"must be at most {meta['max']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            bad("must be a boolean")
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            bad("must be a number")
    elif kind == "timestamp" and not isinstance(value, int | float | str | datetime):
        bad("must be a timestamp")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _bounds(size: int, meta: dict[str, Any], unit: str, bad: Any) -> None:
    if "min" in meta and size < meta["min"]:
        bad(f"must have at least {meta['min']} {unit}")
    if "max" in meta and size > meta["max"]:
        bad(f"must have at most {meta['max']} {unit}")


# --- EC2 query protocol ---------------------------------------------------------------


def _query_name(member: Shape, default: str) -> str:
    """The key botocore's EC2 serializer uses for a member."""
    ser = member.serialization
    if "queryName" in ser:
        return str(ser["queryName"])
    if "name" in ser:
        name = str(ser["name"])
        return name[0].upper() + name[1:]
    return default


def decode_query(shape: Shape, form: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """Parameters of an EC2 request from its form fields."""
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = prefix + _query_name(member, name)
        value = _decode_member(member, form, key)
        if value is not None:
            out[name] = value
    return out


def _decode_member(shape: Shape, form: dict[str, str], key: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        inner = decode_query(shape, form, key + ".")
        return inner or None
    if kind == "list":
        items = []
        i = 1
        while True:
            item = _decode_member(shape.member, form, f"{key}.{i}")
            if item is None:
                break
            items.append(item)
            i += 1
        return items or None
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
    body = _xml_members(shape, value)
    text = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{EC2_XMLNS}">'
        f"<requestId>{request_id}</requestId>{body}</{root}>"
    )
    return text.encode()


def _xml_members(shape: Shape, value: dict[str, Any]) -> str:
    parts = []
    for name, item in value.items():
        if item is None:
            continue
        member = shape.members[name]
        tag = member.serialization.get("name", name)
        parts.append(f"<{tag}>{_xml_value(member, item)}</{tag}>")
    return "".join(parts)


def _xml_value(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "structure":
        return _xml_members(shape, value)
    if kind == "list":
        tag = shape.member.serialization.get("name", "item")
        return "".join(f"<{tag}>{_xml_value(shape.member, v)}</{tag}>" for v in value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return iso_z(float(value))
    return escape(str(value))


def iso_z(when: float) -> str:
    """EC2's timestamp format: 2025-11-25T11:26:40.000Z."""
    moment = datetime.fromtimestamp(when, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_drs(when: float) -> str:
    """DRS's date-time strings, as real responses show them: 2025-11-25T11:26:40.123456+00:00."""
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="microseconds")
