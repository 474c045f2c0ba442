"""The history-store port (design §2, §5): what the engine needs of a place to keep records.

Four methods, injected through constructors like httpx's transports. Adapters:
:class:`~drsorch.store.sqlite.SqliteStore` (the embedded default) and
:class:`~drsorch.store.memory.MemoryStore` (a fake for tests); DynamoDB comes later. The
argument checks every adapter shares live here, so they all refuse the same input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import StoreError
from drsorch.history import ExecutionRecord

__all__ = ["DEFAULT_LIMIT", "HistoryStore", "StoreConfigError", "check_query"]

DEFAULT_LIMIT = 20


class StoreConfigError(StoreError):
    """The store was named wrongly (a bad URL, an unsupported kind): bad input, not a fault."""


@runtime_checkable
class HistoryStore(Protocol):
    """Where execution records live."""

    def put(self, record: ExecutionRecord, state: Mapping[str, Any] | None = None) -> None:
        """Create the record, or replace the whole stored record with the same ExecutionId.

        ``state`` is the engine's JSON state of that execution, kept beside the record so a
        crashed run can be resumed; None leaves a state saved earlier as it is."""
        ...

    def get_state(self, execution_id: str) -> dict[str, Any] | None:
        """The engine state last saved with the record, or None."""
        ...

    def get(self, execution_id: str) -> ExecutionRecord | None:
        """The record, or None when there is none with that id."""
        ...

    def query(
        self, *, plan_id: str | None = None, status: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[ExecutionRecord]:
        """At most ``limit`` records, newest StartTime first, optionally of one plan/status."""
        ...

    def close(self) -> None:
        """Release the store's resources; calling it twice is harmless."""
        ...


def check_query(status: str | None, limit: int) -> ExecutionStatus | None:
    """Validate query arguments; ``status`` is matched case-insensitively.

    Raises ValueError for a limit below 1 or a status that is not an ExecutionStatus.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    if status is None:
        return None
    try:
        return ExecutionStatus(status.upper())
    except ValueError:
        allowed = ", ".join(s.value for s in ExecutionStatus)
        raise ValueError(f"unknown status {status!r}; expected one of {allowed}") from None
