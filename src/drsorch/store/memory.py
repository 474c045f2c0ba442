"""An in-memory history store: the fake adapter that tests of the runner inject.

It behaves like the SQLite store (same ordering, same copies-not-references semantics) so
a test written against it holds for the real one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from drsorch.history import ExecutionRecord
from drsorch.store.base import DEFAULT_LIMIT, check_query

__all__ = ["MemoryStore"]


class MemoryStore:
    """Records kept in a dict, as their JSON form, so later edits of a put record do not leak."""

    def __init__(self) -> None:
        self._records: dict[str, ExecutionRecord] = {}
        self._states: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, record: ExecutionRecord, state: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._records[record.ExecutionId] = record.model_copy(deep=True)
            if state is not None:
                self._states[record.ExecutionId] = json.dumps(state)

    def get_state(self, execution_id: str) -> dict[str, Any] | None:
        with self._lock:
            text = self._states.get(execution_id)
        return None if text is None else dict(json.loads(text))

    def get(self, execution_id: str) -> ExecutionRecord | None:
        with self._lock:
            record = self._records.get(execution_id)
            return record.model_copy(deep=True) if record else None

    def query(
        self, *, plan_id: str | None = None, status: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[ExecutionRecord]:
        wanted = check_query(status, limit)
        with self._lock:
            found = [
                r
                for r in self._records.values()
                if (plan_id is None or r.PlanId == plan_id)
                and (wanted is None or r.Status == wanted)
            ]
        found.sort(key=lambda r: (r.StartTime, r.ExecutionId), reverse=True)
        return [r.model_copy(deep=True) for r in found[:limit]]

    def close(self) -> None:
        pass
