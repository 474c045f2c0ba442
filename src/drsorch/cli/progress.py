"""Live progress of ``drsorch run`` for a person: one line per change, stamped with the
execution's clock (virtual time in a simulation), so it reads like a log on a terminal and
in CI alike. Plans with many servers show wave changes only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from drsorch.cli.render import STATUS_STYLES
from drsorch.clock import Clock

_ENDED = frozenset({"COMPLETED", "FAILED", "SKIPPED", "CANCELLED"})

#: Above this many servers, only wave-level changes are shown.
SERVER_LINES_LIMIT = 50


class ProgressLog:
    """An :class:`~drsorch.runner.Observer` printing what changed since the last update."""

    def __init__(self, console: Console, clock: Clock) -> None:
        self.console = console
        self.clock = clock
        self._waves: dict[int, str] = {}
        self._servers: dict[str, str] = {}
        self._notices = 0
        self._errors = 0

    def _line(self, text: str) -> None:
        stamp = datetime.fromtimestamp(self.clock.now(), UTC).strftime("%H:%M:%S")
        self.console.print(f"[dim]{stamp}[/dim] {text}", highlight=False)

    def log(self, text: str) -> None:
        """A free-form line (the runner's log) in the same format."""
        self._line(f"[dim]{text}[/dim]")

    def _server_lines(self, w: dict[str, Any], state: dict[str, Any]) -> None:
        for sid in w["order"]:
            self._server_line(sid, state["servers"][sid])

    def _server_line(self, sid: str, s: dict[str, Any]) -> None:
        if self._servers.get(sid, "PENDING") == s["status"]:
            return
        self._servers[sid] = s["status"]
        extra = ""
        if s["status"] == "COMPLETED" and s["ec2_instance_id"]:
            extra = f" ({s['ec2_instance_id']})"
        elif s["error"] and s["status"] in ("FAILED", "SKIPPED", "CANCELLED"):
            extra = f": {s['error']}"
        self._line(f"  {sid} {self._status(s['status'])}{extra}")

    @staticmethod
    def _status(status: str) -> str:
        style = STATUS_STYLES.get(status, "")
        return f"[{style}]{status}[/{style}]" if style else status

    def update(self, state: dict[str, Any]) -> None:
        detail = len(state["servers"]) <= SERVER_LINES_LIMIT
        for w in state["waves"]:
            ended = w["status"] in _ENDED
            if ended and detail:
                self._server_lines(w, state)
            if self._waves.get(w["number"], "PENDING") != w["status"]:
                self._waves[w["number"]] = w["status"]
                self._line(f"wave {w['number']} {w['name']}: {self._status(w['status'])}")
            if not ended and detail:
                self._server_lines(w, state)
        for note in state["notices"][self._notices :]:
            self._line(f"[yellow]note:[/yellow] {note}")
        self._notices = len(state["notices"])
        if not detail:
            for err in state["errors"][self._errors :]:
                self._line(f"[red]error:[/red] {err['Message']}")
        self._errors = len(state["errors"])
