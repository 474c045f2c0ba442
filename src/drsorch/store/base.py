"""The history-store port (design §2, §5): what the engine needs of a place to keep records.

Two small ports, injected through constructors like httpx's transports: :class:`HistoryStore`
keeps records (and the engine state beside them), :class:`LeaseStore` says which engine owns
an execution. Every adapter implements both.

A record is kept in parts (issue 9: a save costs what changed, and no part outgrows a
DynamoDB item): its summary (every field but ``WaveStatus``), one part per wave, and the
engine state, itself in parts (:func:`split_state`: the plan, the execution's own fields,
and one part per wave with its servers and launches). :meth:`HistoryStore.put_parts`
writes the summary and only the parts given; readers always get the whole record (and
:meth:`HistoryStore.get_state` the whole state) back, in the shape of design §5. Adapters:
:class:`~drsorch.store.sqlite.SqliteStore` (the embedded default),
:class:`~drsorch.store.memory.MemoryStore` (a fake for tests) and
:class:`~drsorch.store.dynamodb.DynamoStore` (one DynamoDB table). The
argument checks every adapter shares live here, so they all refuse the same input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import LeaseHeldError, LeaseLostError, RefusedError, StoreError
from drsorch.history import ExecutionRecord

__all__ = [
    "DEFAULT_LIMIT",
    "WHOLE_STATE",
    "Damaged",
    "HistoryStore",
    "Lease",
    "LeaseStore",
    "RecordParts",
    "RequestStore",
    "StateParts",
    "StoreConfigError",
    "assemble",
    "check_claim",
    "check_held",
    "check_query",
    "damage_reason",
    "join_state",
    "parts_of",
    "resolve_id",
    "shortest_unique_prefixes",
    "split_state",
]

DEFAULT_LIMIT = 20
#: The shortest id prefix a command accepts, and the shortest prefix ids are shown as.
MIN_PREFIX = 4
SHOWN_PREFIX = 8


class StoreConfigError(StoreError):
    """The store was named wrongly (a bad URL, an unsupported kind): bad input, not a fault."""


@dataclass(frozen=True)
class RecordParts:
    """One save of an execution record, in the parts a store keeps apart.

    ``summary`` is the record's JSON form without ``WaveStatus``; ``wave_numbers`` names
    every wave of the record, in its order; ``waves`` holds the JSON form of the waves to
    write, by number: all of them (``whole``) or only those that changed since this engine
    last saved. A whole save also drops waves the record no longer has."""

    execution_id: str
    plan_id: str
    status: str
    start_time: float
    summary: Mapping[str, Any]
    wave_numbers: Sequence[int]
    waves: Mapping[int, Mapping[str, Any]]

    @property
    def whole(self) -> bool:
        return len(self.waves) == len(self.wave_numbers)

    @property
    def positions(self) -> dict[int, int]:
        """Each wave's place in the record, by its number."""
        return {number: i for i, number in enumerate(self.wave_numbers)}


def parts_of(record: ExecutionRecord, changed: Iterable[int] | None = None) -> RecordParts:
    """``record`` in parts; only the waves numbered in ``changed`` (default: every wave)."""
    wanted = None if changed is None else set(changed)
    summary = record.model_dump(mode="json", exclude={"WaveStatus"})
    return RecordParts(
        execution_id=record.ExecutionId,
        plan_id=record.PlanId,
        status=record.Status.value,
        start_time=record.StartTime,
        summary=summary,
        wave_numbers=[wave.WaveNumber for wave in record.WaveStatus],
        waves={
            wave.WaveNumber: wave.to_dict()
            for wave in record.WaveStatus
            if wanted is None or wave.WaveNumber in wanted
        },
    )


def assemble(summary: Mapping[str, Any], waves: Iterable[Any]) -> dict[str, Any]:
    """The record's JSON form again, from its summary and its waves in order."""
    return {**summary, "WaveStatus": list(waves)}


#: The name of the one part a state that cannot be split is kept in (whole).
WHOLE_STATE = "state"


@dataclass(frozen=True)
class StateParts:
    """One save of an engine state, in parts: ``names`` is every part the state has now,
    ``parts`` the JSON-ready parts to write (all of them, or those that changed)."""

    names: Sequence[str]
    parts: Mapping[str, Any]

    @property
    def whole(self) -> bool:
        return len(self.parts) == len(self.names)

    @classmethod
    def of(cls, state: Mapping[str, Any]) -> StateParts:
        """Every part of ``state``."""
        parts = split_state(state)
        return cls(list(parts), parts)

    @classmethod
    def given(cls, state: Mapping[str, Any] | StateParts | None) -> StateParts | None:
        """The ``state`` argument of :meth:`HistoryStore.put_parts` as parts: a whole state
        is split, parts stay as they are, None stays None."""
        return cls.of(state) if isinstance(state, Mapping) else state


def split_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The engine state in parts: ``plan`` (written once), ``core`` (the execution's own
    fields, with the order of waves and launches) and ``wave:N`` per wave (the wave, its
    servers, its launches), so a save writes what moved. A state whose servers or
    launches name a wave it does not have is kept whole, as :data:`WHOLE_STATE`."""
    try:
        waves = state["waves"]
        by_wave: dict[Any, dict[str, Any]] = {
            w["number"]: {"wave": w, "servers": {}, "launches": {}} for w in waves
        }
        for sid, server in state["servers"].items():
            by_wave[server["wave"]]["servers"][sid] = server
        for token, launch in state["launches"].items():
            by_wave[launch["wave"]]["launches"][token] = launch
    except (KeyError, TypeError, AttributeError):
        return {WHOLE_STATE: state}
    core = {k: v for k, v in state.items() if k not in ("plan", "waves", "servers", "launches")}
    core["parts"] = {"waves": list(by_wave), "launches": list(state["launches"])}
    parts: dict[str, Any] = {"core": core}
    if "plan" in state:
        parts["plan"] = state["plan"]
    parts.update((f"wave:{number}", part) for number, part in by_wave.items())
    return parts


def join_state(parts: Mapping[str, Any]) -> dict[str, Any]:
    """The state :func:`split_state` split. Raises KeyError or TypeError when a part is
    missing or is not what it should be (the caller says the saved state is damaged)."""
    if WHOLE_STATE in parts:
        return dict(parts[WHOLE_STATE])
    core = dict(parts["core"])
    layout = core.pop("parts")
    waves = [parts[f"wave:{number}"] for number in layout["waves"]]
    launches = {token: launch for w in waves for token, launch in w["launches"].items()}
    state = {
        **core,
        "waves": [w["wave"] for w in waves],
        "servers": {sid: server for w in waves for sid, server in w["servers"].items()},
        "launches": {token: launches[token] for token in layout["launches"]},
    }
    if "plan" in parts:
        state["plan"] = parts["plan"]
    return state


@runtime_checkable
class HistoryStore(Protocol):
    """Where execution records live."""

    def put_parts(
        self,
        parts: RecordParts,
        state: Mapping[str, Any] | StateParts | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        """Save the record's summary and the waves in ``parts`` (see :class:`RecordParts`),
        and ``state`` (a whole state, or :class:`StateParts` to write only some; a whole
        one drops the parts it no longer has), with ``lease`` as :meth:`put` takes it, all
        or nothing: one transaction where the store has them; otherwise the state and the
        waves first and the summary last, so a reader never sees a summary ahead of them."""
        ...

    def put(
        self,
        record: ExecutionRecord,
        state: Mapping[str, Any] | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        """Create the record, or replace the whole stored record with the same ExecutionId
        (:meth:`put_parts` with every wave).

        ``state`` is the engine's JSON state of that execution, kept beside the record so a
        crashed run can be resumed; None leaves a state saved earlier as it is. With a
        ``lease``, the write happens only if that holder still holds the execution's lease
        (and renews it to ``lease.expires_at``), in one transaction; otherwise nothing is
        written and :class:`~drsorch.errors.LeaseLostError` is raised."""
        ...

    def get_state(self, execution_id: str) -> dict[str, Any] | None:
        """The engine state last saved with the record, or None."""
        ...

    def get(self, execution_id: str) -> ExecutionRecord | None:
        """The record, or None when there is none with that id."""
        ...

    def query(
        self,
        *,
        plan_id: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        on_damaged: Callable[[Damaged], None] | None = None,
    ) -> list[ExecutionRecord]:
        """At most ``limit`` records, newest StartTime first, optionally of one plan/status.

        A record that cannot be read is skipped and handed to ``on_damaged`` (when given),
        so one damaged record never hides the others."""
        ...

    def find_ids(self, prefix: str, limit: int = DEFAULT_LIMIT) -> list[str]:
        """At most ``limit`` execution ids starting with ``prefix`` (exactly: case and
        the characters ``%`` and ``_`` included), in id order."""
        ...

    def close(self) -> None:
        """Release the store's resources; calling it twice is harmless."""
        ...


def resolve_id(store: HistoryStore, text: str) -> str:
    """The one execution id ``text`` is, or is a unique prefix of (ids are lower case;
    ``text`` is matched case-insensitively, at least :data:`MIN_PREFIX` characters).

    Raises :class:`~drsorch.errors.RefusedError` when no execution, or more than one,
    starts with it."""
    wanted = text.strip().lower()
    if not wanted:
        raise RefusedError("no execution id given")
    if len(wanted) < MIN_PREFIX:
        raise RefusedError(
            f"no execution {text}: give at least {MIN_PREFIX} characters of an execution id"
        )
    shown = 5
    # Ids only: the record itself is read (and parsed) once, by the command that wants it.
    found = store.find_ids(wanted, limit=shown + 1)
    if wanted in found:  # a whole id, even if it were a prefix of another
        return wanted
    if not found:
        raise RefusedError(f"no execution {text} in the history store")
    if len(found) > 1:
        more = ", ..." if len(found) > shown else ""
        count = f"{shown}+" if len(found) > shown else str(len(found))
        raise RefusedError(
            f"ambiguous: {count} executions start with {text}: "
            f"{', '.join(found[:shown])}{more}; give more characters"
        )
    return found[0]


def _shared_length(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def shortest_unique_prefixes(
    ids: list[str], store: HistoryStore | None = None, *, minimum: int = SHOWN_PREFIX
) -> dict[str, str]:
    """Each id's shortest prefix (at least ``minimum`` characters) that no other id shares:
    among ``ids``, and in ``store`` when given (so a prefix shown can be typed back).

    Among ``ids`` it is one character past the longest prefix an id shares with its
    neighbours in sorted order (n log n, not n squared: `history --limit` may list
    thousands); the store is then asked only whether anything else starts with it."""
    ordered = sorted(set(ids))
    result: dict[str, str] = {}
    for i, execution_id in enumerate(ordered):
        neighbours = ordered[max(i - 1, 0) : i] + ordered[i + 1 : i + 2]
        shared = max((_shared_length(execution_id, n) for n in neighbours), default=0)
        length = min(max(minimum, shared + 1), len(execution_id))
        while store is not None and length < len(execution_id):
            prefix = execution_id[:length]
            if all(other == execution_id for other in store.find_ids(prefix, limit=2)):
                break
            length += 1
        result[execution_id] = execution_id[:length]
    return result


@dataclass(frozen=True)
class Damaged:
    """A stored record that could not be read: which one, and why."""

    execution_id: str
    reason: str


#: The longest reason :func:`damage_reason` gives.
_REASON_CAP = 300


def damage_reason(exc: BaseException) -> str:
    """Why a stored record cannot be read, in one short line: where and what its first
    problem is, and how many more there are (pydantic's whole report runs to kilobytes,
    with a web address per problem); for other errors, their first line."""
    if isinstance(exc, ValidationError):
        problems = exc.errors(include_url=False)
        if problems:
            first = problems[0]
            where = ".".join(str(part) for part in first["loc"]) or "the record"
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return f"{where}: {first['msg']}{more}"[:_REASON_CAP]
    return (str(exc).splitlines() or [type(exc).__name__])[0][:_REASON_CAP]


@dataclass(frozen=True)
class Lease:
    """One engine's claim on one execution: who holds it, and until when (epoch seconds on
    the engine's clock). A holder that stops renewing loses it at ``expires_at``."""

    holder: str
    expires_at: float

    def describe(self) -> str:
        return f"{self.holder} (lease until {self.ends()})"

    def ends(self) -> str:
        """When the lease ends, for people: ``2026-12-03 02:39:00 UTC``."""
        try:
            return datetime.fromtimestamp(self.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        except (ValueError, OverflowError, OSError):  # a time no calendar holds: say it raw
            return f"{self.expires_at:g} s after the epoch"


@runtime_checkable
class RequestStore(Protocol):
    """What an operator asks of a running execution from anywhere (issue 11: ``drsorch
    approve``, ``drsorch cancel``), kept until the engine driving it takes it."""

    def add_request(self, execution_id: str, request: Mapping[str, Any]) -> None:
        """Leave ``request`` (JSON-ready: ``{"kind": "approve", "wave": 2, "by": ...}``) for
        the engine of ``execution_id``."""
        ...

    def take_requests(self, execution_id: str) -> list[dict[str, Any]]:
        """The requests left for ``execution_id``, oldest first, removed as they are taken
        (each is taken once)."""
        ...


@runtime_checkable
class LeaseStore(Protocol):
    """Which engine owns an execution (design §5: two engines never drive one execution)."""

    def claim(self, execution_id: str, lease: Lease, now: float, *, takeover: bool = False) -> None:
        """Take the execution's lease, or renew it when ``lease.holder`` already holds it.

        Free (never held, or released): taken. Held by another holder: refused with
        :class:`~drsorch.errors.LeaseHeldError`, unless its lease expired (``now`` at or
        past its ``expires_at``) and ``takeover`` is set. A live lease is never taken."""
        ...

    def renew(self, execution_id: str, lease: Lease) -> None:
        """Extend a lease ``lease.holder`` holds to ``lease.expires_at``; raise
        :class:`~drsorch.errors.LeaseLostError` when it holds it no more (taken over, or
        released by the engine that took it over)."""
        ...

    def release(self, execution_id: str, holder: str) -> None:
        """Give the lease up, if ``holder`` still holds it (else nothing happens)."""
        ...

    def lease_of(self, execution_id: str) -> Lease | None:
        """The execution's current lease (live or expired), or None when nobody holds it."""
        ...


def check_claim(
    execution_id: str, current: Lease | None, lease: Lease, now: float, takeover: bool
) -> None:
    """The rule every adapter's :meth:`LeaseStore.claim` applies, inside its transaction."""
    if current is None or current.holder == lease.holder:
        return
    expired = now >= current.expires_at
    if expired and takeover:
        return
    if expired:
        message = (
            f"execution {execution_id} was driven by {current.describe()}, which has expired; "
            "if that engine is gone, take the execution over with --force"
        )
    else:
        message = (
            f"execution {execution_id} is being driven by {current.describe()}; wait for it "
            "to end (a live lease is never taken over, not even with --force)"
        )
    raise LeaseHeldError(
        message, holder=current.holder, expires_at=current.expires_at, expired=expired
    )


def check_held(execution_id: str, current: Lease | None, lease: Lease) -> None:
    """The rule of a conditional save: ``lease.holder`` must still hold the lease."""
    if current is None or current.holder != lease.holder:
        now_held = "nobody" if current is None else current.holder
        raise LeaseLostError(
            f"execution {execution_id} is no longer driven by this engine ({lease.holder}); "
            f"its lease is now held by {now_held}. This engine stopped without launching or "
            "saving anything more"
        )


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
