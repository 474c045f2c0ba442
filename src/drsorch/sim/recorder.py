"""The request recorder of the simulated region (issue 3, point 7).

Every API call that reaches the simulator — in-process or over HTTP — is recorded with the
simulated time it arrived, its service and operation, its parameters as the simulator
decoded them, the account whose credentials signed it, and its outcome: ``ok``, ``error``
(an AWS error answer, such as a ValidationException or a quota refusal) or ``fault`` (a
scripted fault fired). Tests use it
to assert what the engine sent; benchmarks to count calls; :meth:`Recorder.digest` to
check that a replay with the same seed is identical.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

Outcome = Literal["ok", "error", "fault"]


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One API call as the simulator saw it."""

    time: float  # simulated time (epoch seconds) when the call arrived
    service: str  # "drs", "ec2" or "sts"
    operation: str  # e.g. "StartRecovery"
    params: dict[str, Any]  # decoded request parameters
    outcome: Outcome
    error_code: str | None = None  # e.g. "ThrottlingException", None when ok
    http_status: int | None = None  # None when the connection was dropped
    fault: str | None = None  # the fault kind that fired, if any
    processed: bool = True  # False when the call never reached the region's model
    account: str | None = None  # whose credentials signed it (None: not recognised)


class Recorder:
    """An append-only list of :class:`RecordedCall` (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self._lock = threading.Lock()

    def record(self, call: RecordedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def count(
        self,
        operation: str | None = None,
        *,
        service: str | None = None,
        outcome: Outcome | None = None,
        account: str | None = None,
    ) -> int:
        """How many calls match every given criterion."""
        return len(self.select(operation, service=service, outcome=outcome, account=account))

    def select(
        self,
        operation: str | None = None,
        *,
        service: str | None = None,
        outcome: Outcome | None = None,
        account: str | None = None,
    ) -> list[RecordedCall]:
        """The calls that match every given criterion, in arrival order."""
        with self._lock:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if (operation is None or c.operation == operation)
            and (service is None or c.service == service)
            and (outcome is None or c.outcome == outcome)
            and (account is None or c.account == account)
        ]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def digest(self) -> str:
        """A hash of every recorded call; equal digests mean identical call histories."""
        h = hashlib.sha256()
        with self._lock:
            for call in self.calls:
                h.update(json.dumps(asdict(call), sort_keys=True, default=str).encode())
        return h.hexdigest()
