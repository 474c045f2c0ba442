"""An in-memory history store: the fake adapter that tests of the runner inject.

It behaves like the SQLite store (same ordering, same copies-not-references semantics, the
record kept in the same parts: a summary and one JSON text per wave) so a test written
against it holds for the real one.
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
    RecordParts,
    StateParts,
    assemble,
    check_claim,
    check_held,
    check_query,
    join_state,
    parts_of,
)

__all__ = ["MemoryStore"]


class MemoryStore:
    """Records kept in dicts, as the JSON text of their parts, so later edits of a put record
    do not leak: ``_summaries`` (with the columns queries use), ``_waves`` by number."""

    def __init__(self) -> None:
        #: execution id -> (plan id, status, start time, the summary's JSON text)
        self._summaries: dict[str, tuple[str, str, float, str]] = {}
        self._waves: dict[str, dict[int, tuple[int, str]]] = {}
        self._states: dict[str, dict[str, str]] = {}  # execution id -> part name -> JSON
        self._leases: dict[str, Lease] = {}
        self._requests: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def put(
        self,
        record: ExecutionRecord,
        state: Mapping[str, Any] | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        self.put_parts(parts_of(record), state, lease=lease)

    def put_parts(
        self,
        parts: RecordParts,
        state: Mapping[str, Any] | StateParts | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        execution_id = parts.execution_id
        position = parts.positions
        waves = {n: (position[n], json.dumps(wave)) for n, wave in parts.waves.items()}
        summary = json.dumps(parts.summary)
        state_parts = StateParts.given(state)
        texts = (
            {}
            if state_parts is None
            else {name: json.dumps(body) for name, body in state_parts.parts.items()}
        )
        with self._lock:
            if lease is not None:
                check_held(execution_id, self._leases.get(execution_id), lease)
                self._leases[execution_id] = lease
            self._summaries[execution_id] = (parts.plan_id, parts.status, parts.start_time, summary)
            if parts.whole:
                self._waves[execution_id] = waves
            else:
                self._waves.setdefault(execution_id, {}).update(waves)
            if state_parts is not None and state_parts.whole:
                self._states[execution_id] = texts
            elif state_parts is not None:
                self._states.setdefault(execution_id, {}).update(texts)

    def _read(self, execution_id: str) -> ExecutionRecord:
        """The whole record, from its parts (the caller holds the lock)."""
        summary = self._summaries[execution_id][3]
        waves = sorted(self._waves.get(execution_id, {}).values())
        data = assemble(json.loads(summary), (json.loads(text) for _, text in waves))
        return ExecutionRecord.from_dict(data)

    def get_state(self, execution_id: str) -> dict[str, Any] | None:
        with self._lock:
            texts = dict(self._states.get(execution_id, {}))
        if not texts:
            return None
        return join_state({name: json.loads(text) for name, text in texts.items()})

    def get(self, execution_id: str) -> ExecutionRecord | None:
        with self._lock:
            return self._read(execution_id) if execution_id in self._summaries else None

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
                (start, execution_id)
                for execution_id, (plan, status_, start, _) in self._summaries.items()
                if (plan_id is None or plan == plan_id)
                and (wanted is None or status_ == wanted.value)
            ]
            found.sort(reverse=True)
            return [self._read(execution_id) for _, execution_id in found[:limit]]

    def find_ids(self, prefix: str, limit: int = DEFAULT_LIMIT) -> list[str]:
        check_query(None, limit)
        with self._lock:
            found = sorted(i for i in self._summaries if i.startswith(prefix))
        return found[:limit]

    def add_request(self, execution_id: str, request: Mapping[str, Any]) -> None:
        text = json.dumps(request)
        with self._lock:
            self._requests.setdefault(execution_id, []).append(text)

    def take_requests(self, execution_id: str) -> list[dict[str, Any]]:
        with self._lock:
            texts = self._requests.pop(execution_id, [])
        return [json.loads(text) for text in texts]

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
