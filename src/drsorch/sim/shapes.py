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
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any, Literal
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
    body = _xml_members(shape, value)
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
    body = _xml_members(shape, value, "query")
    text = (
        f'<{operation}Response xmlns="{xmlns}">'
        f"<{operation}Result>{body}</{operation}Result>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    )
    return text.encode()


def _xml_members(shape: Shape, value: dict[str, Any], protocol: Protocol = "ec2") -> str:
    parts = []
    for name, item in value.items():
        if item is None:
            continue
        member = shape.members[name]
        tag = member.serialization.get("name", name)
        parts.append(f"<{tag}>{_xml_value(member, item, protocol)}</{tag}>")
    return "".join(parts)


def _xml_value(shape: Shape, value: Any, protocol: Protocol = "ec2") -> str:
    kind = shape.type_name
    if kind == "structure":
        return _xml_members(shape, value, protocol)
    if kind == "list":
        default = "item" if protocol == "ec2" else "member"
        tag = shape.member.serialization.get("name", default)
        return "".join(f"<{tag}>{_xml_value(shape.member, v, protocol)}</{tag}>" for v in value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return iso_z(float(value)) if protocol == "ec2" else iso_seconds(float(value))
    return xml_text(str(value))


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
