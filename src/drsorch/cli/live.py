"""The live view of ``drsorch run`` and ``resume`` for a person: one line per change,
stamped with the execution's clock (virtual time in a simulation) in local time, the zone
named on the first line, so it reads like a log
on a terminal and in CI alike. Plans with many servers show wave changes only. It only
shows the state the runner reports; it decides nothing.

Lines are built as rich :class:`~rich.text.Text` from ``(text, style)`` pieces, never as
markup: a ``[tag]`` in a wave name is shown as it is, and every piece passes
:func:`~drsorch.text.printable`, so no control character from a name, an AWS error message
or the runner's log reaches the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from drsorch.cli.render import STATUS_STYLES, local_time, zone_name
from drsorch.clock import Clock
from drsorch.core.state import State
from drsorch.core.state_types import ServerState, WaveState
from drsorch.text import printable

_ENDED = frozenset({"COMPLETED", "FAILED", "SKIPPED", "CANCELLED"})

#: Above this many servers, only wave-level changes are shown.
SERVER_LINES_LIMIT = 50

#: A piece of a line: text (escaped when printed) and its rich style ("" for none).
Piece = tuple[object, str]


class ProgressLog:
    """An :class:`~drsorch.runner.Observer` printing what changed since the last update."""

    def __init__(self, console: Console, clock: Clock) -> None:
        self.console = console
        self.clock = clock
        self._waves: dict[int, str] = {}
        self._servers: dict[str, str] = {}
        self._notices = 0
        self._errors = 0
        self._zone_said = False

    def _line(self, *pieces: Piece) -> None:
        """Print one line: the clock's time, then ``pieces``, each made printable."""
        now = self.clock.now()
        stamp = local_time(now).strftime("%H:%M:%S")
        if not self._zone_said:  # the first line says which zone the times are in
            self._zone_said = True
            stamp = f"{stamp} {zone_name(now)}"
        line = Text.assemble(
            (stamp, "dim"), " ", *((printable(text), style) for text, style in pieces)
        )
        self.console.print(line, highlight=False)

    def log(self, text: str) -> None:
        """A free-form line (the runner's log) in the same format."""
        self._line((text, "dim"))

    def _server_lines(self, w: WaveState, state: State) -> None:
        for sid in w["order"]:
            self._server_line(sid, state["servers"][sid])

    def _server_line(self, sid: str, s: ServerState) -> None:
        if self._servers.get(sid, "PENDING") == s["status"]:
            return
        self._servers[sid] = s["status"]
        extra = ""
        if s["status"] == "COMPLETED" and s["ec2_instance_id"]:
            extra = f" ({s['ec2_instance_id']})"
        elif s["error"] and s["status"] in ("FAILED", "SKIPPED", "CANCELLED"):
            extra = f": {s['error']}"
        self._line((f"  {sid} ", ""), self._status(s["status"]), (extra, ""))

    @staticmethod
    def _status(status: str) -> Piece:
        return (status, STATUS_STYLES.get(status, ""))

    def update(self, state: State) -> None:
        detail = len(state["servers"]) <= SERVER_LINES_LIMIT
        for w in state["waves"]:
            ended = w["status"] in _ENDED
            if ended and detail:
                self._server_lines(w, state)
            if self._waves.get(w["number"], "PENDING") != w["status"]:
                self._waves[w["number"]] = w["status"]
                self._line((f"wave {w['number']} {w['name']}: ", ""), self._status(w["status"]))
            if not ended and detail:
                self._server_lines(w, state)
        for note in state["notices"][self._notices :]:
            self._line(("note:", "yellow"), (f" {note}", ""))
        self._notices = len(state["notices"])
        if not detail:
            for err in state["errors"][self._errors :]:
                self._line(("error:", "red"), (f" {err['Message']}", ""))
        self._errors = len(state["errors"])
