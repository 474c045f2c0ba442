"""The approval prompt of a real-time run on a terminal (issue 11, item 1): a convenience
that never blocks polling.

In real time (``--aws``, or the simulator with ``--speed``) a PauseBefore wave waits in
PAUSED while every other branch goes on; it is approved through the history store, by
``drsorch approve`` from any terminal. When the run's own stdin is a terminal,
:class:`ApprovalPrompt` also asks there, ``approve wave 2 (App tier)? [y/N]``, and goes
on asking nothing of anybody: the runner calls it at every step and sleep slice (see
``Runner.operator``), and it only reads what has already been typed
(:class:`TerminalInput`: ``select`` with no timeout, then one ``read`` of what is there).

- ``y`` leaves an approval in the store exactly as ``drsorch approve`` does (``by`` the
  local user), so the engine takes it in the same pass and records ApprovedBy and
  ApprovedTime on its normal path;
- ``n``, an empty line or the end of input leave the wave waiting: it can still be
  approved from another terminal, or it is CANCELLED after its ApprovalTimeoutSeconds;
- a wave that stops waiting (approved elsewhere, timed out, cancelled) is no longer asked
  about, and what was typed for it is dropped, so a late ``y`` approves nothing else.

The terminal is never put in another mode: its line discipline edits the line, Ctrl-C
still sends SIGINT (graceful cancel, then stop at once), and Ctrl-D ends the input. What
was typed before a question appeared is discarded, never taken as its answer. A run in
the background of its shell does not read its terminal (that would stop it, SIGTTIN).
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from collections.abc import Callable
from typing import Protocol

from drsorch.core.state import State
from drsorch.core.statuses import WaveStatus
from drsorch.store.base import RequestStore

__all__ = ["ApprovalPrompt", "LineSource", "TerminalInput"]

#: Answers that approve, and answers that leave the wave waiting; any other asks again.
_YES = frozenset({"y", "yes"})
_NO = frozenset({"", "n", "no"})
#: At most this many reads per poll: a flood of input never holds the engine up.
_READS_PER_POLL = 16


class LineSource(Protocol):
    """Where answers are typed; never blocks."""

    def lines(self) -> list[str] | None:
        """The lines completed since the last call (maybe none); None once the input has
        ended (end of file, a terminal hung up)."""
        ...

    def discard(self) -> None:
        """Drop whatever was typed and not yet taken."""
        ...


class TerminalInput:
    """Lines from a file descriptor (the run's stdin: a terminal, or a pipe in tests),
    read only when ``select`` says they are there, so a read never waits."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._pending = b""
        self._ended = False

    @classmethod
    def of_stdin(cls) -> TerminalInput | None:
        """The process's stdin, or None where it cannot be polled (not POSIX, no stdin)."""
        if os.name != "posix" or sys.stdin is None:
            return None
        try:
            return cls(sys.stdin.fileno())
        except (AttributeError, OSError, ValueError):  # replaced or closed stdin
            return None

    def _foreground(self) -> bool:
        """False when this process is in the background of the terminal: reading it would
        stop the whole engine (SIGTTIN) until someone typed ``fg``."""
        try:
            return os.tcgetpgrp(self.fd) == os.getpgrp()
        except OSError:  # not our controlling terminal, or a pipe: a read stops nothing
            return True

    def _read_available(self) -> None:
        for _ in range(_READS_PER_POLL):
            if self._ended:
                return
            try:
                ready, _, _ = select.select([self.fd], [], [], 0)
            except (OSError, ValueError):  # closed, or not pollable
                self._ended = True
                return
            if not ready:
                return
            try:
                chunk = os.read(self.fd, 4096)
            except BlockingIOError:
                return
            except OSError:  # EIO: the terminal hung up
                chunk = b""
            if not chunk:
                self._ended = True
                return
            self._pending += chunk

    def lines(self) -> list[str] | None:
        if not self._ended and self._foreground():
            self._read_available()
        *complete, self._pending = self._pending.split(b"\n")
        if self._ended and self._pending:  # a last line with no newline (Ctrl-D mid-line)
            complete.append(self._pending)
            self._pending = b""
        if self._ended and not complete:
            return None
        return [line.decode(errors="replace") for line in complete]

    def discard(self) -> None:
        self._pending = b""
        if self._ended or not self._foreground():
            return
        if os.isatty(self.fd):  # what the terminal holds, a half-typed line too
            with contextlib.suppress(Exception):  # termios: POSIX only; a terminal gone
                import termios

                termios.tcflush(self.fd, termios.TCIFLUSH)
        self._read_available()  # a pipe: what was written so far
        self._pending = b""


class ApprovalPrompt:
    """Asks about each PAUSED wave in turn, one question at a time; called with the
    execution's state at every step and sleep slice, it returns at once."""

    def __init__(
        self,
        source: LineSource,
        requests: RequestStore,
        execution_id: str,
        *,
        who: str,
        say: Callable[[str], None],
    ) -> None:
        self.source, self.requests, self.execution_id = source, requests, execution_id
        self.who, self.say = who, say
        #: The wave whose question is on screen (None: no question).
        self.asking: int | None = None
        #: Waves asked about already: each is asked once (a no is not asked again).
        self.asked: set[int] = set()
        #: No more questions: the input ended, or the prompt broke.
        self.closed = False

    def __call__(self, state: State) -> None:
        if self.closed:
            return
        try:
            self._step(state)
        except Exception as exc:  # a prompt must never break the engine
            self.closed = True
            self.say(
                f"the approval prompt stopped ({type(exc).__name__}: {exc}); approve "
                f"from any terminal: drsorch approve {self.execution_id} --wave N"
            )

    def close(self) -> None:
        """The run is over: a question still on screen is withdrawn and what was typed for
        it is dropped (it would otherwise reach the shell as a command)."""
        if not self.closed and self.asking is not None:
            with contextlib.suppress(Exception):
                self.source.discard()
        self.closed = True

    def _approve_command(self, wave: int) -> str:
        return f"drsorch approve {self.execution_id} --wave {wave}"

    def _step(self, state: State) -> None:
        waiting = {
            w["number"]: w["name"]
            for w in state["waves"]
            if w["status"] == WaveStatus.PAUSED and not w["approved"]
        }
        if self.asking is not None and self.asking not in waiting:
            wave = next(w for w in state["waves"] if w["number"] == self.asking)
            now = "approved" if wave["approved"] else WaveStatus(wave["status"]).value
            self.say(f"wave {self.asking} no longer waits for an approval ({now}): not asking")
            self.asking = None
            self.source.discard()
        if self.asking is None:
            fresh = sorted(n for n in waiting if n not in self.asked)
            if fresh:
                self._ask(fresh[0], waiting[fresh[0]])
            return  # an answer counts only once its question is on screen
        lines = self.source.lines()
        if lines is None:
            self.closed = True
            self.say(
                f"no more answers from this terminal (end of input): wave {self.asking} "
                f"still waits; approve it with {self._approve_command(self.asking)}"
            )
            return
        for line in lines:
            if self._answer(self.asking, waiting[self.asking], line.strip().lower()):
                self.asking = None
                return

    def _ask(self, wave: int, name: str) -> None:
        self.asking = wave
        self.asked.add(wave)
        self.source.discard()  # typed before the question: not its answer
        self.say(f"approve wave {wave} ({name})? [y/N]  (the run goes on while you answer)")

    def _answer(self, wave: int, name: str, answer: str) -> bool:
        """Act on one line; True when it answered the question."""
        if answer in _YES:
            request = {"kind": "approve", "wave": wave, "by": self.who}
            self.requests.add_request(self.execution_id, request)
            self.say(f"wave {wave} ({name}): approved here, by {self.who}")
            return True
        if answer in _NO:
            self.say(
                f"wave {wave} ({name}) still waits for an approval: "
                f"{self._approve_command(wave)} from any terminal, or it is CANCELLED "
                "after its ApprovalTimeoutSeconds"
            )
            return True
        self.say(f"answer y or n: approve wave {wave} ({name})? [y/N]")
        return False
