"""The live view of ``drsorch run`` and ``resume`` for a person: one line per change,
stamped with the execution's clock (virtual time in a simulation) in local time, the zone
named on the first line, so it reads like a log
on a terminal and in CI alike. Servers are named by id and, once the preflight described
them, by hostname. Plans with many servers show wave changes only. While servers of a wave
are still launching or in health checks, a heartbeat line says so every
:data:`HEARTBEAT_SECONDS` of the execution's clock, so a 15-minute launch is not silence.
It only shows the state the runner reports; it decides nothing.

Lines are built as rich :class:`~rich.text.Text` from ``(text, style)`` pieces, never as
markup: a ``[tag]`` in a wave name is shown as it is, and every piece passes
:func:`~drsorch.text.printable`, so no control character from a name, an AWS error message
or the runner's log reaches the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from drsorch.cli.render import STATUS_STYLES, local_time, server_label, zone_name
from drsorch.clock import Clock
from drsorch.core.state import State
from drsorch.core.state_types import ServerState, WaveState
from drsorch.text import printable

_ENDED = frozenset({"COMPLETED", "FAILED", "SKIPPED", "CANCELLED"})
#: Server statuses a heartbeat counts: launching, and launched but not yet healthy.
_LAUNCHING = frozenset({"LAUNCHING"})
_CHECKING = frozenset({"LAUNCHED", "HEALTH_CHECK"})

#: Above this many servers, only wave-level changes are shown.
SERVER_LINES_LIMIT = 50

#: A wave with servers still launching or in health checks says so this often (seconds of
#: the execution's clock: virtual time in a simulation).
HEARTBEAT_SECONDS = 300

#: A piece of a line: text (escaped when printed) and its rich style ("" for none).
Piece = tuple[object, str]


class ProgressLog:
    """An :class:`~drsorch.runner.Observer` printing what changed since the last update.

    ``progress=False`` leaves the waves, servers and heartbeats out and keeps the notes and
    the log: what ``-v`` shows on stderr with ``--json`` or ``--quiet``."""

    def __init__(self, console: Console, clock: Clock, *, progress: bool = True) -> None:
        self.console = console
        self.clock = clock
        self.progress = progress
        self._waves: dict[int, str] = {}
        self._servers: dict[str, str] = {}
        self._beats: dict[int, int] = {}  # wave number -> heartbeats said (by elapsed time)
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
        name = server_label(sid, s.get("hostname"))
        self._line((f"  {name} ", ""), self._status(s["status"]), (extra, ""))

    @staticmethod
    def _status(status: str) -> Piece:
        return (status, STATUS_STYLES.get(status, ""))

    def _heartbeat(self, w: WaveState, state: State) -> None:
        """Every HEARTBEAT_SECONDS since the wave started, while any of its servers is
        launching or in health checks: one line saying how many, and for how long."""
        if w["status"] != "RUNNING" or w["start_time"] is None:
            return
        start = w["start_time"]
        elapsed = self.clock.now() - start
        beats = int(elapsed // HEARTBEAT_SECONDS)
        if beats <= self._beats.get(w["number"], 0):
            return
        statuses = [state["servers"][sid]["status"] for sid in w["order"]]
        launching = sum(1 for status in statuses if status in _LAUNCHING)
        checking = sum(1 for status in statuses if status in _CHECKING)
        if not launching and not checking:
            return
        self._beats[w["number"]] = beats
        total = len(statuses)
        noun = "server" if total == 1 else "servers"
        if launching:
            what = f"{launching} of {total} {noun} still launching"
            what += f", {checking} in health checks" if checking else ""
        else:
            what = f"{checking} of {total} {noun} in health checks"
        self._line((f"wave {w['number']} {w['name']}: {what} ({int(elapsed // 60)} min)", ""))

    def update(self, state: State) -> None:
        if self.progress:
            self._progress(state)
        for note in state["notices"][self._notices :]:
            self._line(("note:", "yellow"), (f" {note}", ""))
        self._notices = len(state["notices"])
        if self.progress and len(state["servers"]) > SERVER_LINES_LIMIT:
            for err in state["errors"][self._errors :]:
                self._line(("error:", "red"), (f" {err['Message']}", ""))
        self._errors = len(state["errors"])

    def _progress(self, state: State) -> None:
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
            self._heartbeat(w, state)
