"""An in-memory history store: the fake adapter that tests of the runner inject.

It behaves like the SQLite store (same ordering, same copies-not-references semantics) so
a test written against it holds for the real one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from drsorch.history import ExecutionRecord
from drsorch.store.base import (
    DEFAULT_LIMIT,
    Damaged,
    Lease,
    check_claim,
    check_held,
    check_query,
)

__all__ = ["MemoryStore"]


class MemoryStore:
    """Records kept in a dict, as their JSON form, so later edits of a put record do not leak."""

    def __init__(self) -> None:
        self._records: dict[str, ExecutionRecord] = {}
        self._states: dict[str, str] = {}
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def put(
        self,
        record: ExecutionRecord,
        state: Mapping[str, Any] | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        with self._lock:
            if lease is not None:
                check_held(record.ExecutionId, self._leases.get(record.ExecutionId), lease)
                self._leases[record.ExecutionId] = lease
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
        self,
        *,
        plan_id: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        on_damaged: Callable[[Damaged], None] | None = None,
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

    def find_ids(self, prefix: str, limit: int = DEFAULT_LIMIT) -> list[str]:
        check_query(None, limit)
        with self._lock:
            found = sorted(i for i in self._records if i.startswith(prefix))
        return found[:limit]

    def claim(self, execution_id: str, lease: Lease, now: float, *, takeover: bool = False) -> None:
        with self._lock:
            check_claim(execution_id, self._leases.get(execution_id), lease, now, takeover)
            self._leases[execution_id] = lease

    def renew(self, execution_id: str, lease: Lease) -> None:
        with self._lock:
            check_held(execution_id, self._leases.get(execution_id), lease)
            self._leases[execution_id] = lease

    def release(self, execution_id: str, holder: str) -> None:
        with self._lock:
            current = self._leases.get(execution_id)
            if current is not None and current.holder == holder:
                del self._leases[execution_id]

    def lease_of(self, execution_id: str) -> Lease | None:
        with self._lock:
            return self._leases.get(execution_id)

    def close(self) -> None:
        pass
