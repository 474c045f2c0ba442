"""One step of an execution, for any driver: feed an event to the pure core, carry out the
commands it gives through :class:`~drsorch.effects.Effects`, feed their answers back, and
save through the :class:`~drsorch.keeping.Keeper`, until nothing is left but to wait
(``WakeAt``) or the execution is finished (``Finish``).

What a driver adds is only how it waits: the local runner sleeps on its clock and delivers
Ctrl-C; a Step Functions Lambda returns the wake time to a Wait state.
"""

from __future__ import annotations

from typing import Protocol

from drsorch.clock import Clock
from drsorch.core import advance
from drsorch.core import messages as m
from drsorch.core.state import State
from drsorch.effects import Effects
from drsorch.keeping import Keeper

__all__ = ["Observer", "Stepper", "earliest_wake", "finished"]


class Observer(Protocol):
    """Told about the execution as it goes (the CLI's live view, logs, tests)."""

    def update(self, state: State) -> None: ...


def finished(commands: list[m.Command]) -> bool:
    return any(isinstance(c, m.Finish) for c in commands)


def earliest_wake(commands: list[m.Command]) -> float | None:
    """When the core asked to be woken (the earliest, so no wave starts late)."""
    return min((c.time for c in commands if isinstance(c, m.WakeAt)), default=None)


class Stepper:
    """Drives the core through effects and saves, one settled step at a time."""

    def __init__(
        self, effects: Effects, keeper: Keeper, clock: Clock, observer: Observer | None = None
    ) -> None:
        self.effects, self.keeper, self.clock = effects, keeper, clock
        self.observer = observer
        #: Keep the trace (tests replay it). Off by default: it holds every poll's answer,
        #: some 170 MiB by the end of a 10 000-server plan.
        self.keep_trace = False
        #: Every event fed to the core, its time, and the commands it gave: for replay
        #: (empty unless ``keep_trace``).
        self.trace: list[tuple[float, m.Event, list[m.Command]]] = []

    def step(self, state: State, event: m.Event) -> list[m.Command]:
        """One call of the core, traced when ``keep_trace``."""
        now = self.clock.now()
        commands = advance(state, event, now)
        if self.keep_trace:
            self.trace.append((now, event, commands))
        return commands

    def settle(self, state: State, event: m.Event) -> list[m.Command]:
        """Feed ``event`` and every answer after it; return the commands left when only
        waiting (``WakeAt``) or the end (``Finish``) remains."""
        commands = self.step(state, event)
        while True:
            self._after_step(state)
            if finished(commands):
                return commands
            io = [c for c in commands if not isinstance(c, m.WakeAt)]
            if any(isinstance(c, m.StartRecovery) for c in io):
                self.keeper.save_ahead_of_launch(state)
            self.keeper.renew_if_due(state["execution_id"])
            if not io:
                return commands
            answered = False
            following: list[m.Command] = []
            for command in io:
                for answer in self.effects.execute(command):
                    answered = True
                    following += self.step(state, answer)
            if not answered:  # (an approval left to come from elsewhere): wait as planned
                return [c for c in commands if isinstance(c, m.WakeAt)]
            commands = following

    def _after_step(self, state: State) -> None:
        if self.observer is not None:
            self.observer.update(state)
        self.keeper.save(state)
