"""ISO-8601 UTC in ``--json`` (issue 11, item 5), for any record: the ``...Iso`` siblings only
add to the record the stores keep, and each says its epoch field's time, to the second."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from tests.utils.history import execution_records

from drsorch.cli.render import record_json
from drsorch.history import ExecutionRecord

pytestmark = pytest.mark.property


@settings(max_examples=40, deadline=None)
@given(record=execution_records())
def test_iso_siblings_add_only_and_say_the_same_time(record: ExecutionRecord) -> None:
    """For any record: dropping the ``...Iso`` keys gives back exactly what the store keeps,
    and each one is its epoch field's second, in UTC."""
    shown = json.loads(json.dumps(record_json(record)))

    def check(node: Any) -> Any:
        if isinstance(node, list):
            return [check(item) for item in node]
        if not isinstance(node, dict):
            return node
        for key, value in node.items():
            if key.endswith("Iso"):
                epoch = node[key.removesuffix("Iso")]
                expected = None if epoch is None else datetime.fromtimestamp(int(epoch), tz=UTC)
                got = None if value is None else datetime.fromisoformat(value)
                assert got == expected, key
        return {k: check(v) for k, v in node.items() if not k.endswith("Iso")}

    assert check(shown) == record.to_dict()
