"""Positions of fields (issue 11.6): for any plan, written as YAML or as JSON (indented or
on one line), every field path of the document has a line and column, and the text there is
that field's key (a mapping entry) or its value (a list entry)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.utils.plans import hostile_plans

from drsorch.plan.loader import Loc, _json_positions, _parse_yaml, _yaml_positions

pytestmark = [pytest.mark.property, pytest.mark.timeout(60)]


def _paths(value: Any, path: Loc = ()) -> list[tuple[Loc, Any]]:
    out: list[tuple[Loc, Any]] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for part, child in items:
        out.append(((*path, part), child))
        out += _paths(child, (*path, part))
    return out


def _offset(text: str, line: int, column: int) -> int:
    return sum(len(s) for s in text.splitlines(keepends=True)[: line - 1]) + column - 1


@settings(max_examples=40)
@given(hostile_plans(max_waves=3, max_servers_per_wave=3), st.sampled_from([None, 2]))
def test_every_field_of_a_json_plan_has_its_place(p: Any, indent: int | None) -> None:
    try:
        text = json.dumps(p.data, indent=indent)
    except (ValueError, TypeError):
        return  # a value JSON cannot carry
    positions = _json_positions(text)
    for path, value in _paths(json.loads(text)):
        line, column = positions[path]
        at = text[_offset(text, line, column) :]
        part = path[-1]
        expected = json.dumps(part) if isinstance(part, str) else json.dumps(value)[:1]
        assert at.startswith(expected), (path, at[:40])


@settings(max_examples=40)
@given(hostile_plans(max_waves=3, max_servers_per_wave=3))
def test_every_field_of_a_yaml_plan_has_its_place(p: Any) -> None:
    try:
        text = yaml.safe_dump(p.data, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError, TypeError):
        return
    try:
        data, root = _parse_yaml("p.yaml", text)
    except Exception:  # refused on reading (a huge number, say): nothing to place
        return
    positions = _yaml_positions(root)
    for path, _ in _paths(data):
        assert path in positions, path
        line, column = positions[path]
        assert 1 <= line <= text.count("\n") + 1 and column >= 1
        if isinstance(path[-1], str) and path[-1].isidentifier():
            at = text[_offset(text, line, column) :]
            assert at.startswith(path[-1]) or at.startswith(("'", '"')), (path, at[:40])
