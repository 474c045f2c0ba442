"""Keeping one execution in the history store, under its lease (design §5, Req 5; issue 13:
the choice of what to save lives with the store's logic, on the injected clock).

:class:`Keeper` owns, for one engine:

- **the lease** (:mod:`drsorch.ownership`): claimed before the first save (a resume claims
  it before it reads the state), renewed by every save and whenever a third of its life
  has passed, released when the record is final. A lost lease raises
  :class:`~drsorch.errors.LeaseLostError` from the save or renewal that found it;
- **what to save, and when**: every record change at once by default (Req 5.2, runs
  against AWS); with ``save_every`` (simulations in virtual time), changes of servers only
  are coalesced to one save per ``save_every`` seconds of the clock, while wave and
  execution changes are saved at once; the state is always written ahead of a launch;
- **the record**: validated from the state and saved in parts: the summary and only the
  waves that changed (:meth:`~drsorch.store.base.HistoryStore.put_parts`); the engine
  state likewise, in the parts of :func:`~drsorch.store.base.split_state`. A save costs
  what changed (10 000 servers save often): the keeper keeps a copy of each wave's part
  of the state (the wave, its servers and launches) as last saved, and only a wave whose
  part differs from its copy has its record made again (:func:`~drsorch.core.state.
  wave_record`) and its parts written; the others reuse the model last saved. A keeper
  given a state just loaded from the store (:meth:`Keeper.load`, :meth:`Keeper.loaded`)
  starts from it, so a resumed engine's first save writes what moved, not everything;
  secrets never reach the store (:mod:`drsorch.redaction`);
- **the last word of a broken engine**: a FAILED record even when the state makes no
  valid record (the summary and its errors are kept).

Any driver (the local runner, a Lambda step) uses it as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pydantic import ValidationError

from drsorch.clock import Clock
from drsorch.core import to_record
from drsorch.core.state import STATE_VERSION, State, load_state, wave_record
from drsorch.core.statuses import ExecutionStatus, WaveStatus
from drsorch.errors import LeaseLostError, RefusedError
from drsorch.history import ErrorEntry, ExecutionRecord, WaveRecord
from drsorch.ownership import DEFAULT_LEASE_SECONDS, new_holder
from drsorch.redaction import for_disk, restore
from drsorch.store.base import (
    WHOLE_STATE,
    HistoryStore,
    Lease,
    LeaseStore,
    StateParts,
    parts_of,
    split_state,
)
from drsorch.text import printable

__all__ = ["Keeper"]


def _snapshot(part: Any) -> Any:
    """A copy of a saved state part that later changes of the state cannot reach: its dicts
    and lists are copied, its leaves (strings, numbers, None: all a JSON state holds besides)
    are shared, since nothing can change them. Shared leaves also make the next save's
    comparison cheap: an unchanged value is the same object, equal at once, and the copies
    of 10 000 servers take a third of the memory a JSON round trip's would."""
    if isinstance(part, dict):
        return {key: _snapshot(value) for key, value in part.items()}
    if isinstance(part, list):
        return [_snapshot(value) for value in part]
    return part


def _wave_part(number: int) -> str:
    """The name of wave ``number``'s part of the state (see :func:`split_state`)."""
    return f"wave:{number}"


def _own_servers(part: Any, order: list[str]) -> bool:
    """Whether the servers a wave's record shows (its ``order``) are all in its part of the
    state, so a change of any of them changes the part (else the wave is always made)."""
    return isinstance(part, dict) and part["servers"].keys() >= set(order)


class Keeper:
    """One engine's hold on one execution's record, state and lease in ``store``."""

    def __init__(
        self,
        store: HistoryStore,
        clock: Clock,
        *,
        holder: str | None = None,
        keep_state: bool = True,
        save_every: float = 0.0,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        lease_clock: Clock | None = None,
    ) -> None:
        self.store, self.clock = store, clock
        #: The clock leases are dated by: the wall's, where the engine's is simulated (a
        #: lease says how long a process may be silent; a sped-up or virtual clock would
        #: put its end hours ahead). By default the engine's clock (tests move it).
        self.lease_clock = lease_clock or clock
        #: This engine's name in the execution's lease.
        self.holder = holder or new_holder()
        #: Save the engine state beside the record, so the execution can be resumed.
        self.keep_state = keep_state
        self.save_every = save_every
        self.lease_seconds = lease_seconds
        self._leases: LeaseStore | None = store if isinstance(store, LeaseStore) else None
        self._lease: Lease | None = None
        self._saved_revision = -1
        self._saved_waves: list[WaveStatus] = []
        self._saved_at = -math.inf
        #: The status of the record last saved by this keeper (None before the first save):
        #: what a driver may tell the user was recorded, and nothing more.
        self.saved_status: ExecutionStatus | None = None
        #: The wave models of the record last saved (a save writes the others only).
        self._saved_models: dict[int, WaveRecord] = {}
        #: A copy of each part of the engine state last saved (a save writes the others);
        #: without ``keep_state``, of the waves' parts only (what their records come from).
        self._saved_state: dict[str, Any] = {}
        #: The revision last saved with the engine state (written ahead of launches).
        self._state_revision = -1
        #: The copies in ``_saved_state`` are what the store holds (the last save wrote the
        #: state, or it was just loaded): else a save with the state writes all of it.
        self._state_written = False

    # -- the lease ---------------------------------------------------------------------------

    def claim(self, execution_id: str, *, takeover: bool = False) -> None:
        """Take (or renew) the execution's lease; LeaseHeldError when another engine has it."""
        if self._leases is None:
            raise TypeError(f"{type(self.store).__name__} keeps no leases")
        lease = self._next_lease()
        self._leases.claim(execution_id, lease, self.lease_clock.now(), takeover=takeover)
        self._lease = lease

    @property
    def holding(self) -> bool:
        return self._lease is not None

    def renew_if_due(self, execution_id: str) -> None:
        """Renew the lease once a third of its life has passed; LeaseLostError if taken.

        Only an expired lease can be taken over, so while ours has life left no other
        engine can hold the execution: the store is asked only when renewing."""
        if self._lease is None or self._leases is None:
            return
        if self._lease.expires_at - self.lease_clock.now() > self.lease_seconds * 2 / 3:
            return
        lease = self._next_lease()
        self._leases.renew(execution_id, lease)
        self._lease = lease

    def release(self, execution_id: str) -> None:
        if self._lease is not None and self._leases is not None:
            self._leases.release(execution_id, self.holder)
        self._lease = None

    def _next_lease(self) -> Lease:
        return Lease(self.holder, self.lease_clock.now() + self.lease_seconds)

    # -- loading -----------------------------------------------------------------------------

    def load(self, execution_id: str, *, external_id: str | None = None) -> State:
        """The saved state of an execution this keeper has claimed, validated (and migrated)
        by :func:`~drsorch.core.state.load_state`, secrets put back. RefusedError when there
        is none, StoreDamagedError when it is damaged; the lease is released when it cannot
        be loaded."""
        try:
            saved = self.store.get_state(execution_id)
            if saved is None:
                raise RefusedError(f"execution {execution_id} has no saved engine state to resume")
            current = saved.get("version") == STATE_VERSION  # else migrated: saved whole
            state = restore(load_state(saved, execution_id=execution_id), external_id=external_id)
        except BaseException:
            self.release(execution_id)
            raise
        if current:
            self.loaded(state, record=self._stored_record(execution_id))
        return state

    def loaded(self, state: State, *, record: ExecutionRecord | None = None) -> None:
        """Start from ``state`` as the store holds it (just loaded, unchanged since), so
        the first save writes only the parts that moved from it, not all of them (a resume,
        or a driver that loads the state at every step). ``record``: the stored record;
        its waves equal to those ``state`` makes are not written again (without it, every
        wave of the record is written at the first save).

        :meth:`load` calls it. Only for a state saved by this drsorch's layout (a state
        migrated by :func:`~drsorch.core.state.load_state` must be saved whole: older ones
        may be stored as one part)."""
        parts = split_state(for_disk(state))
        if WHOLE_STATE in parts:
            return
        self._saved_state = _snapshot(parts)
        self._state_written = True
        self._state_revision = self._saved_revision = state["revision"]
        self._saved_waves = [w["status"] for w in state["waves"]]
        self._saved_at = self.clock.now()
        self._saved_models = {}
        if record is None:
            return
        stored = {w.WaveNumber: w for w in record.WaveStatus}
        for w in state["waves"]:
            try:
                model = WaveRecord.model_validate(wave_record(state, w))
            except ValidationError:
                continue  # the save will say what is wrong with it
            if stored.get(w["number"]) == model:
                self._saved_models[w["number"]] = model

    def _stored_record(self, execution_id: str) -> ExecutionRecord | None:
        """The stored record, or None when it cannot be read (every wave is then written)."""
        try:
            return self.store.get(execution_id)
        except Exception:
            return None

    # -- saving ------------------------------------------------------------------------------

    def save(self, state: State, *, force: bool = False) -> None:
        """Save what changed, when it is due (see the module docstring); ``force`` now."""
        if state["revision"] == self._saved_revision and not force:
            return
        waves = [w["status"] for w in state["waves"]]
        wave_change = waves != self._saved_waves or ExecutionStatus(state["status"]).terminal
        due = self.clock.now() - self._saved_at >= self.save_every
        if not (force or wave_change or due):
            return
        lease = self._next_lease()
        current, moved = self._moved_parts(state)
        record = self._record(state, current, moved)
        # Only the waves whose record changed since the last save are written: a wave
        # unchanged keeps the model last saved, so identity says what moved.
        changed = [
            w.WaveNumber for w in record.WaveStatus if self._saved_models.get(w.WaveNumber) is not w
        ]
        saved = StateParts(list(current), moved) if self.keep_state else None
        self.store.put_parts(parts_of(record, changed), saved, lease=lease)
        self._lease = lease
        self._saved_models = {w.WaveNumber: w for w in record.WaveStatus}
        kept = {name: self._saved_state[name] for name in current if name not in moved}
        kept.update((name, _snapshot(body)) for name, body in moved.items())
        self._saved_state = {name: body for name, body in kept.items() if name in current}
        self.saved_status = record.Status
        self._saved_revision, self._saved_waves = state["revision"], waves
        self._state_written = saved is not None
        if saved is not None:
            self._state_revision = state["revision"]
        self._saved_at = self.clock.now()

    def _moved_parts(self, state: State) -> tuple[dict[str, Any], dict[str, Any]]:
        """The parts of ``state`` (the waves' only, without ``keep_state``) and those of
        them that differ from the copy last saved."""
        current = split_state(for_disk(state))
        if not self.keep_state:
            current = {name: part for name, part in current.items() if name.startswith("wave:")}
        elif not self._state_written:  # the copies are not what the store holds: all of it
            return current, current
        moved = {
            name: part for name, part in current.items() if self._saved_state.get(name) != part
        }
        return current, moved

    def save_ahead_of_launch(self, state: State) -> None:
        """Write ahead: the saved state names every launch before it goes out, so a resume
        after a crash looks for its job instead of launching again. Nothing to write when
        the state was saved at this revision already (a launch is sent with a new revision:
        the core moves it when it marks the launch sent)."""
        if self.keep_state and self._state_revision != state["revision"]:
            self.save(state, force=True)

    def record(self, state: State) -> ExecutionRecord:
        """The validated record; waves unchanged since the last save reuse their model, so
        it costs what changed, not the whole plan."""
        parts = split_state(for_disk(state))
        moved = {name for name, part in parts.items() if self._saved_state.get(name) != part}
        return self._record(state, parts, moved)

    def _record(
        self, state: State, parts: Mapping[str, Any], moved: Collection[str]
    ) -> ExecutionRecord:
        """The record of ``state``, whose parts are ``parts`` (``moved``: those that differ
        from the copy last saved): the model last saved of each wave whose part did not
        move, the others made again (keeping the model last saved when the new one is equal
        to it, so that wave is not written)."""
        waves = []
        for w in state["waves"]:
            number = w["number"]
            name = _wave_part(number)
            saved = self._saved_models.get(number)
            part = parts.get(name)
            if (
                saved is not None
                and part is not None
                and name not in moved
                and _own_servers(part, w["order"])
            ):
                waves.append(saved)
                continue
            model = WaveRecord.model_validate(wave_record(state, w))
            waves.append(saved if saved == model else model)
        return ExecutionRecord.model_validate(to_record(state, waves))

    # -- a broken engine ---------------------------------------------------------------------

    def save_broken(self, state: State, message: str, log: Callable[[str], None]) -> None:
        """Save the FAILED record of an engine that stopped abnormally (the lease is kept
        until :meth:`release`); the record must not be lost. ``state`` is already
        finalized by the core."""
        try:
            try:
                self.save(state, force=True)
            except ValidationError:
                # The state itself is what broke (it makes no valid record): keep what can
                # be kept, the execution's summary and its errors, so the FAILED stays.
                bare = self.bare_record(state, message)
                self.store.put(bare, None, lease=self._next_lease())
                self._saved_models = {}
                self._saved_state, self._state_written = {}, False
                self.saved_status = bare.Status
        except LeaseLostError:
            self._lease = None  # another engine drives it now: not ours to finalize
        except Exception as exc:  # the store itself is what broke: say so, don't mask it
            log(f"could not save the final record: {exc}")

    def final_record(self, state: State) -> ExecutionRecord | None:
        """The record of a broken engine: whole if it can be made, else bare, else None."""
        try:
            return self.record(state)
        except ValidationError:
            pass
        try:
            return self.bare_record(state)
        except ValidationError:
            return None

    @staticmethod
    def bare_record(state: State, message: str | None = None) -> ExecutionRecord:
        """The record without its waves, with its valid errors and ``message``."""
        data = to_record(state)
        data["WaveStatus"] = []
        errors = []
        for error in data["Errors"]:
            try:
                errors.append(ErrorEntry.model_validate(error))
            except ValidationError:
                errors.append(ErrorEntry(Message=printable(error.get("Message") or "an error")))
        if message and all(e.Message != message for e in errors):
            errors.append(ErrorEntry(Message=message))
        data["Errors"] = errors
        return ExecutionRecord.model_validate(data)
