"""How the DynamoDB store lays a record out in items (issue 9): pure, no boto3.

One table; every item of an execution shares its partition key ``pk`` (the ExecutionId)
and is told apart by its sort key ``sk``::

    SUMMARY                         the head: the commit point of every save (below)
    LEASE                           which engine drives the execution, until when
    WAVE#00042#<version>#000        wave 42's record, chunk 0 (a wave of 10 000 servers: more)
    STATE#wave:42#<version>#000     a part of the engine state (base.split_state: "plan",
                                    "core", one "wave:N" per wave with its servers), chunk 0
    PAYLOAD#<version>#000           the head's payload, when too big to sit in the head

A *blob* is a JSON document compressed with zlib; a blob longer than :data:`CHUNK_BYTES` is
cut into chunks, one item each. A ``version`` is ``<revision>-<random tag>``: every save
writes its parts under new keys, never over the parts a reader may be reading, and the
random tag keeps two writers that raced for the same revision from ever writing the same
key. The head names the version and chunk count of every part it is made of (the
*manifest*), beside the record's summary, in its payload; the head is written last and
conditionally (on the revision it replaces), so a reader that reads a head finds every
part it names, and never a half-saved record.

Sizes (DynamoDB's limit is 400 KB an item, 4 MB and 100 actions a transaction):

- a chunk item holds at most :data:`CHUNK_BYTES` (300 000) bytes of blob plus ~100 bytes of
  keys, whatever the size of what it holds: a wave or a state part of any size is just
  more chunks. Measured (tests/integration/test_dynamodb_store.py prints it): a finished
  10 000-server, 100-wave execution, its record (3.6 MB of JSON) and engine state (5.8 MB),
  takes 203 items and 1.75 MB: each wave's record 7.7 KB at most, each wave's state part
  8.8 KB, the state's core 1.1 KB, the head 1 KB; the largest item is the plan (113 KB),
  written once. A save in which one wave moved writes ~20 KB;
- the head holds its payload inline up to :data:`INLINE_PAYLOAD` (64 KiB compressed: the
  summary and a manifest of 100 waves take ~2 KB), else the payload is chunked like a
  wave and the head keeps a reference: the head stays under ~70 KB whatever the record's
  errors or wave count (10 001 waves at most, plan.model.MAX_WAVE_NUMBER).

Indexes (all on the head only: no other item has their key attributes)::

    by_plan    plan_id + start_time     executions of a plan, newest first
    by_status  status + start_time      executions with a status; merged, all of them
    running    running + start_time     sparse: ``running`` is set only while RUNNING
    by_id      id_head + pk, keys only  ids by prefix (id_head: the id's first 2 characters)

Numbers: only ``start_time``, ``expires_at`` and ``rev`` are DynamoDB numbers (written from
``repr(float)``, so reading them back gives the same float); records and states are JSON
inside blobs, where a float stays the float it was. A ``Decimal`` handed in (a value read
through boto3's resource API) is written as the int or float it equals.
"""

from __future__ import annotations

import json
import secrets
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "CHUNK_BYTES",
    "HEAD",
    "ID_HEAD",
    "INDEXES",
    "INLINE_PAYLOAD",
    "LEASE",
    "LEVEL",
    "MAX_ITEM_BYTES",
    "PK",
    "SK",
    "Head",
    "Ref",
    "batches",
    "chunk_keys",
    "decode",
    "encode",
    "item_size",
    "manifest",
    "new_version",
    "number",
    "parse_manifest",
    "revision_of",
    "schema_problems",
    "split",
    "table_definition",
]

PK, SK = "pk", "sk"
HEAD = "SUMMARY"
LEASE = "LEASE"
#: DynamoDB's item size limit.
MAX_ITEM_BYTES = 400 * 1024
#: Blob bytes in one chunk item: under the item limit with room for its keys.
CHUNK_BYTES = 300_000
#: A head payload up to this many compressed bytes is kept in the head itself.
INLINE_PAYLOAD = 64 * 1024
#: How many leading characters of an id the by_id index is partitioned on.
ID_HEAD = 2
#: zlib's level: parts are small (a wave of 100 servers, 34 KB of JSON, takes 2 ms).
LEVEL = 6

#: name -> (hash attribute, range attribute, projection)
INDEXES: dict[str, tuple[str, str, str]] = {
    "by_plan": ("plan_id", "start_time", "ALL"),
    "by_status": ("status", "start_time", "ALL"),
    "running": ("running", "start_time", "ALL"),
    "by_id": ("id_head", PK, "KEYS_ONLY"),
}
_TYPES = {
    PK: "S",
    SK: "S",
    "plan_id": "S",
    "status": "S",
    "running": "S",
    "start_time": "N",
    "id_head": "S",
}


@dataclass(frozen=True)
class Ref:
    """Where one blob is: the version it was saved under, in how many chunks, how big
    (so a save that replaces it knows what deleting it weighs in a transaction)."""

    version: str
    chunks: int
    size: int = CHUNK_BYTES

    @property
    def weight(self) -> int:
        """What deleting its chunk items weighs, keys included."""
        return self.size + 200 * self.chunks


@dataclass(frozen=True)
class Head:
    """What the store knows of an execution's last committed save: its revision and the
    parts its head names (the cache a writer keeps between its saves)."""

    revision: int
    waves: tuple[tuple[int, Ref], ...]
    state: tuple[tuple[str, Ref], ...]  # the engine state's parts, by name (none: no state)
    payload: Ref | None  # None: the payload sits in the head itself


def new_version(revision: int) -> str:
    return f"{revision:010d}-{secrets.token_hex(8)}"


def revision_of(sort_key: str) -> int | None:
    """The revision a chunk item was written at, None for the head and the lease."""
    pieces = sort_key.split("#")
    if len(pieces) < 3:
        return None
    try:
        return int(pieces[-2].split("-", 1)[0])
    except ValueError:
        return None


def chunk_keys(kind: str, ref: Ref, part: int | str | None = None) -> list[str]:
    """The sort keys of a blob's chunks: a WAVE (``part``: its number), a STATE part
    (``part``: its name) or the PAYLOAD."""
    if kind == "WAVE":
        return [f"WAVE#{part:05d}#{ref.version}#{i:03d}" for i in range(ref.chunks)]
    if kind == "STATE":
        return [f"STATE#{part}#{ref.version}#{i:03d}" for i in range(ref.chunks)]
    return [f"PAYLOAD#{ref.version}#{i:03d}" for i in range(ref.chunks)]


def _plain(value: object) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode(data: Any, level: int = LEVEL) -> bytes:
    """``data`` as compressed JSON (a ``Decimal`` as the int or float it equals)."""
    text = json.dumps(data, separators=(",", ":"), default=_plain)
    return zlib.compress(text.encode(), level)


def decode(blob: bytes) -> Any:
    """What :func:`encode` made; ValueError when it is not that (zlib.error is one)."""
    try:
        return json.loads(zlib.decompress(blob))
    except zlib.error as exc:
        raise ValueError(f"not a compressed JSON part: {exc}") from exc


def split(blob: bytes) -> list[bytes]:
    """``blob`` in chunks of at most :data:`CHUNK_BYTES` (at least one)."""
    return [blob[i : i + CHUNK_BYTES] for i in range(0, max(len(blob), 1), CHUNK_BYTES)]


def number(value: float | int | Decimal) -> str:
    """A DynamoDB number that reads back as the same float (``repr`` is exact)."""
    return repr(value) if isinstance(value, float) else str(value)


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB counts it against 400 KB: names plus values (strings in
    UTF-8, binaries raw, numbers about one byte per two digits plus one)."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        ((kind, raw),) = value.items()
        if kind == "S":
            total += len(str(raw).encode())
        elif kind == "B":
            total += len(raw)
        elif kind == "N":
            digits = str(raw).lstrip("-").replace(".", "").lstrip("0")
            total += (len(digits) + 1) // 2 + 1
        else:  # BOOL, NULL: the layout uses no other kind
            total += 1
    return total


def table_definition(table: str) -> dict[str, Any]:
    """CreateTable's arguments: on-demand billing, the keys and the four indexes."""
    used = {PK, SK} | {a for hash_, range_, _ in INDEXES.values() for a in (hash_, range_)}
    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": _TYPES[name]} for name in sorted(used)
        ],
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": hash_, "KeyType": "HASH"},
                    {"AttributeName": range_, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": projection},
            }
            for name, (hash_, range_, projection) in INDEXES.items()
        ],
    }


def _keys(schema: Sequence[Mapping[str, str]]) -> str:
    return ", ".join(f"{k.get('AttributeName')} {k.get('KeyType')}" for k in schema)


def schema_problems(table: Mapping[str, Any]) -> list[str]:
    """How DescribeTable's ``Table`` differs from what the store needs (empty: it fits).
    Extra indexes and attributes are no problem; billing mode is not checked."""
    wanted = table_definition(str(table.get("TableName", "")))
    types = {
        a.get("AttributeName"): a.get("AttributeType")
        for a in table.get("AttributeDefinitions") or ()
    }
    problems = []
    if _keys(table.get("KeySchema") or ()) != _keys(wanted["KeySchema"]):
        problems.append(
            f"its key is ({_keys(table.get('KeySchema') or ())}); drsorch needs "
            f"({_keys(wanted['KeySchema'])})"
        )
    indexes = {i.get("IndexName"): i for i in table.get("GlobalSecondaryIndexes") or ()}
    for want in wanted["GlobalSecondaryIndexes"]:
        name = want["IndexName"]
        have = indexes.get(name)
        if have is None:
            problems.append(f"it has no index {name} ({_keys(want['KeySchema'])})")
            continue
        if _keys(have.get("KeySchema") or ()) != _keys(want["KeySchema"]):
            problems.append(
                f"its index {name} is keyed ({_keys(have.get('KeySchema') or ())}); drsorch "
                f"needs ({_keys(want['KeySchema'])})"
            )
        projection = (have.get("Projection") or {}).get("ProjectionType")
        if projection != want["Projection"]["ProjectionType"]:
            problems.append(
                f"its index {name} projects {projection}; drsorch needs "
                f"{want['Projection']['ProjectionType']}"
            )
    for definition in wanted["AttributeDefinitions"]:
        name, kind = definition["AttributeName"], definition["AttributeType"]
        if name in types and types[name] != kind:
            problems.append(f"its attribute {name} is of type {types[name]}; drsorch needs {kind}")
    return problems


def manifest(
    summary: Mapping[str, Any],
    waves: Sequence[tuple[int, Ref]],
    state: Sequence[tuple[str, Ref]],
) -> dict[str, Any]:
    """A head's payload: the record's summary, and where its waves and state parts are."""
    return {
        "summary": dict(summary),
        "waves": [[n, ref.version, ref.chunks, ref.size] for n, ref in waves],
        "state": {name: [ref.version, ref.chunks, ref.size] for name, ref in state},
    }


def parse_manifest(
    payload: Mapping[str, Any],
) -> tuple[tuple[tuple[int, Ref], ...], tuple[tuple[str, Ref], ...]]:
    """The waves and state parts a head's payload names; ValueError when it is malformed."""
    try:
        waves = tuple((int(n), Ref(str(v), int(c), int(z))) for n, v, c, z in payload["waves"])
        state = tuple(
            (str(name), Ref(str(v), int(c), int(z))) for name, (v, c, z) in payload["state"].items()
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed manifest: {exc!r}") from exc
    if not isinstance(payload.get("summary"), dict):
        raise ValueError("the head's payload has no summary")
    return waves, state


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
