"""The keeper's copy of a saved state part (``drsorch.keeping._snapshot``): equal to the part
and out of reach of any later change of it, for any JSON value, since the next save writes
exactly the parts that differ from their copy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drsorch.keeping import _snapshot

pytestmark = pytest.mark.timeout(60)

_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def _containers(value: Any) -> list[Any]:
    """Every dict and list inside ``value``, itself included."""
    found = []
    if isinstance(value, dict | list):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            found.extend(_containers(child))
    return found


@given(JSON)
def test_a_snapshot_is_equal_and_shares_no_container(part: Any) -> None:
    copy = _snapshot(part)
    assert copy == part
    assert json.dumps(copy, sort_keys=True) == json.dumps(part, sort_keys=True)
    originals = {id(c) for c in _containers(part)}
    assert not originals & {id(c) for c in _containers(copy)}


@given(JSON, st.data())
def test_a_change_of_the_part_after_the_snapshot_leaves_the_snapshot_as_it_was(
    part: Any, data: st.DataObject
) -> None:
    before = json.dumps(part, sort_keys=True)
    copy = _snapshot(part)
    containers = _containers(part)
    if not containers:
        return
    target = data.draw(st.sampled_from(containers))
    changed = object()  # no JSON value equals it
    if isinstance(target, dict):
        target["changed"] = changed
    else:
        target.append(changed)
    assert copy != part
    assert json.dumps(copy, sort_keys=True) == before
