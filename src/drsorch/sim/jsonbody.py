"""rest-json response bodies (DRS): ``json.dumps(payload, separators=(",", ":"))``, byte for
byte, with lists rendered once kept as text.

A job's ``participatingServers`` (100 servers in a wave) is polled thousands of times and
changes a few times per server: :mod:`drsorch.sim.drs_api` hands it out as an
:class:`Encoded` list that carries its own JSON text, and :func:`body_writer` writes that
text instead of encoding the list again. The writer follows the operation's output shape
only down to the lists that may be :class:`Encoded` (a set of shape names); every other
value is written by one call of the standard encoder, so the body is the text
``json.dumps`` writes: JSON text composes (an object is ``{`` key ``:`` value ``,`` ...
``}`` in the dict's order, a list ``[`` item ``,`` ... ``]``), and ``json.dumps``'s own
encoder writes each piece.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any

from botocore.model import Shape

from drsorch.sim.shapes import made_once

#: json.dumps(value, separators=(",", ":")) without building an encoder per call.
dumps: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":")).encode
#: How json.dumps writes a key (ensure_ascii, as by default).
_key: Callable[[str], str] = json.encoder.encode_basestring_ascii

Writer = Callable[[Any], str]


class Encoded(list[Any]):
    """A list that is never changed once made, with its JSON text (as :func:`dumps` writes
    it), so that answers showing it again do not encode it again."""

    __slots__ = ("json",)

    def __init__(self, items: Iterable[Any], texts: Iterable[str]) -> None:
        """``texts``: each item's :func:`dumps`, in order."""
        super().__init__(items)
        self.json = "[" + ",".join(texts) + "]"


def strings(value: dict[str, str]) -> str:
    """:func:`dumps` of a dict of strings, written directly (no encoder to set up)."""
    if all(type(k) is str and type(v) is str for k, v in value.items()):
        return "{" + ",".join([_key(k) + ":" + _key(v) for k, v in value.items()]) + "}"
    return dumps(value)


@functools.lru_cache(maxsize=256)
def body_writer(shape: Shape, encoded: frozenset[str]) -> Writer:
    """The writer of ``shape``'s values, where lists of the shapes named in ``encoded`` may
    be :class:`Encoded` (derived from the model once per shape object: operations' output
    shapes are kept by botocore's cached operation models)."""
    return _writer(shape, encoded, {})


def _reaches(shape: Shape, encoded: frozenset[str], seen: set[str]) -> bool:
    """Whether a value of ``shape`` may hold a list of a shape in ``encoded``."""
    if shape.name in encoded:
        return True
    if shape.name in seen:
        return False
    seen.add(shape.name)
    kind = shape.type_name
    if kind == "structure":
        return any(_reaches(m, encoded, seen) for m in shape.members.values())
    if kind == "list":
        return _reaches(shape.member, encoded, seen)
    if kind == "map":
        return _reaches(shape.value, encoded, seen)
    return False


def _writer(shape: Shape, encoded: frozenset[str], memo: dict[str, Writer]) -> Writer:
    if not _reaches(shape, encoded, set()):
        return dumps
    return made_once(shape, memo, lambda: _make_writer(shape, encoded, memo))


def _make_writer(shape: Shape, encoded: frozenset[str], memo: dict[str, Writer]) -> Writer:
    kind = shape.type_name
    writer: Writer
    if kind == "structure":
        members = {name: _writer(m, encoded, memo) for name, m in shape.members.items()}

        def structure(value: Any) -> str:
            if type(value) is not dict or any(type(k) is not str for k in value):
                return dumps(value)
            get = members.get
            parts = [_key(k) + ":" + get(k, dumps)(v) for k, v in value.items()]
            return "{" + ",".join(parts) + "}"

        writer = structure
    elif kind == "list":
        item = _writer(shape.member, encoded, memo)

        def items(value: Any) -> str:
            if type(value) is Encoded:
                return value.json
            if type(value) is not list:
                return dumps(value)
            return "[" + ",".join([item(v) for v in value]) + "]"

        writer = items
    elif kind == "map":
        entry = _writer(shape.value, encoded, memo)

        def entries(value: Any) -> str:
            if type(value) is not dict or any(type(k) is not str for k in value):
                return dumps(value)
            return "{" + ",".join([_key(k) + ":" + entry(v) for k, v in value.items()]) + "}"

        writer = entries
    else:  # pragma: no cover - only containers reach an encoded list
        writer = dumps
    return writer
