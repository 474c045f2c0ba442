"""The simulator's rest-json bodies (``drsorch.sim.jsonbody``): what :func:`body_writer`
writes is, byte for byte, ``json.dumps(payload, separators=(",", ":"))`` of the same payload
with its :class:`Encoded` lists as plain lists, for any payload (well-formed or not)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drsorch.sim.drs_api import ENCODED_SHAPES
from drsorch.sim.jsonbody import Encoded, body_writer, dumps, strings
from drsorch.sim.shapes import service_model

pytestmark = pytest.mark.timeout(60)

_TEXT = st.text(max_size=12)  # any code point: ensure_ascii escapes, surrogates included
_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT
_ANY = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


def _plain(value: Any) -> Any:
    """``value`` with every :class:`Encoded` list as the plain list it stands for."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@st.composite
def _participant(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {"sourceServerID": draw(_TEXT), "launchStatus": draw(_TEXT)}
    if draw(st.booleans()):
        entry["recoveryInstanceID"] = draw(_TEXT)
    if draw(st.booleans()):  # not what drs_api makes; the writer must still be exact
        entry[draw(_TEXT)] = draw(_ANY)
    return entry


@st.composite
def _servers(draw: st.DrawFn) -> Any:
    entries = draw(st.lists(_participant(), max_size=4))
    if draw(st.booleans()):
        return Encoded(entries, [dumps(e) for e in entries])
    return entries if draw(st.booleans()) else draw(_ANY)


@st.composite
def _job(draw: st.DrawFn) -> Any:
    job: dict[str, Any] = {"jobID": draw(_TEXT), "participatingServers": draw(_servers())}
    if draw(st.booleans()):
        job["tags"] = draw(st.dictionaries(_TEXT, _TEXT, max_size=3))
    if draw(st.booleans()):
        job[draw(_TEXT)] = draw(_ANY)
    return job if draw(st.integers(0, 9)) else draw(_ANY)


@st.composite
def _describe_jobs(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {"items": draw(st.lists(_job(), max_size=3))}
    if draw(st.booleans()):
        payload["nextToken"] = draw(_TEXT)
    return payload


@given(_describe_jobs())
def test_describe_jobs_bodies_are_what_json_dumps_writes(payload: dict[str, Any]) -> None:
    shape = service_model("drs").operation_model("DescribeJobs").output_shape
    assert body_writer(shape, ENCODED_SHAPES)(payload) == json.dumps(
        _plain(payload), separators=(",", ":")
    )


@given(_job())
def test_start_recovery_bodies_are_what_json_dumps_writes(job: Any) -> None:
    shape = service_model("drs").operation_model("StartRecovery").output_shape
    payload = {"job": job}
    assert body_writer(shape, ENCODED_SHAPES)(payload) == json.dumps(
        _plain(payload), separators=(",", ":")
    )


@given(st.dictionaries(_TEXT, _TEXT | _ANY, max_size=4))
def test_strings_is_dumps(value: dict[str, Any]) -> None:
    assert strings(value) == json.dumps(value, separators=(",", ":"))
