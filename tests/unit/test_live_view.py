"""The live view of ``run``/``resume`` (issue 11, item 5): a heartbeat line per wave every
few minutes of the execution's clock while its servers launch or are health-checked, and
servers shown with their hostnames. Driven on a VirtualClock: no test waits."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console
from tests.utils.plans import make_plan

from drsorch.cli.live import HEARTBEAT_SECONDS, ProgressLog
from drsorch.clock import VirtualClock
from drsorch.core import advance, new_execution
from drsorch.core import messages as m
from drsorch.core.statuses import ServerStatus
from drsorch.plan import parse_plan

pytestmark = pytest.mark.unit

T0 = 1_764_070_000.0


def launched_state(servers: int = 3) -> dict[str, Any]:
    """One PARALLEL wave (then another), described with hostnames, its launch sent at T0."""
    plan = parse_plan(make_plan(5, waves=2, servers_per_wave=servers))
    state: Any = new_execution(
        plan,
        execution_id="0b5c4f57-8d0e-4c49-9a55-2b8f0f6f2f11",
        now=T0,
        initiated_by="tester",
        source_account_id="111122223333",
        target_account_id="111122223333",
        region="us-east-1",
    )
    advance(state, m.Start(), T0)
    ids = list(state["servers"])
    hostnames = {sid: f"app{i:02d}" for i, sid in enumerate(ids) if i != 1}
    advance(state, m.ServersDescribed(dict.fromkeys(ids, "CONTINUOUS"), hostnames), T0)
    assert state["waves"][0]["status"] == "RUNNING"
    return dict(state)


class Screen:
    """A ProgressLog on a virtual clock, and the lines it printed since last asked."""

    def __init__(self, **kwargs: Any) -> None:
        self.clock = VirtualClock(start=T0)
        self._out = io.StringIO()
        console = Console(file=self._out, width=10_000, color_system=None, highlight=False)
        self.view = ProgressLog(console, self.clock, **kwargs)
        self._seen = 0

    def at(self, seconds: float, state: dict[str, Any]) -> list[str]:
        self.clock.advance_to(T0 + seconds)
        self.view.update(state)  # type: ignore[arg-type]
        text = self._out.getvalue()
        new, self._seen = text[self._seen :], len(text)
        return new.splitlines()


def beats(lines: list[str]) -> list[str]:
    return [
        line.split(" ", 1)[1] for line in lines if "still launching" in line or "in health" in line
    ]


def test_a_heartbeat_every_few_minutes_of_the_clock_while_servers_launch() -> None:
    state = launched_state()
    screen = Screen()
    assert beats(screen.at(0, state)) == []
    assert beats(screen.at(HEARTBEAT_SECONDS - 1, state)) == []
    [line] = beats(screen.at(HEARTBEAT_SECONDS, state))
    wave = state["waves"][0]
    assert line == f"wave 1 {wave['name']}: 3 of 3 servers still launching (5 min)"
    assert beats(screen.at(HEARTBEAT_SECONDS + 30, state)) == []  # once per period
    first, second, third = wave["order"]
    state["servers"][first]["status"] = ServerStatus.HEALTH_CHECK
    state["servers"][second]["status"] = ServerStatus.COMPLETED
    [line] = beats(screen.at(2 * HEARTBEAT_SECONDS + 90, state))
    assert line.endswith(": 1 of 3 servers still launching, 1 in health checks (11 min)")
    state["servers"][third]["status"] = ServerStatus.LAUNCHED  # launched, instance not known
    [line] = beats(screen.at(3 * HEARTBEAT_SECONDS, state))
    assert line.endswith(": 2 of 3 servers in health checks (15 min)")
    for sid in (first, third):
        state["servers"][sid]["status"] = ServerStatus.COMPLETED
    assert beats(screen.at(4 * HEARTBEAT_SECONDS, state)) == []  # nothing left in flight


def test_a_poll_that_skips_periods_says_it_once_and_waves_beat_apart() -> None:
    state = launched_state(servers=1)
    screen = Screen()
    screen.at(0, state)
    [line] = beats(screen.at(3 * HEARTBEAT_SECONDS + 5, state))  # a sparse poll: one line
    assert line.endswith(": 1 of 1 server still launching (15 min)")
    # Waves that have not started (PENDING, WAITING, PAUSED) never beat.
    assert state["waves"][1]["status"] == "PENDING"
    assert all(line.startswith("wave 1 ") for line in beats(screen.at(7200, state)))


def test_servers_are_shown_with_their_hostnames() -> None:
    state = launched_state()
    lines = Screen().at(0, state)
    first, second, _ = state["waves"][0]["order"]
    assert any(f"  {first} (app00) LAUNCHING" in line for line in lines)
    assert any(line.endswith(f"  {second} LAUNCHING") for line in lines)  # DRS gave none


def test_without_progress_only_notes_and_the_log_are_said() -> None:
    """What -v prints on stderr with --json or --quiet: no waves, servers or heartbeats."""
    state = launched_state()
    state["notices"].append("job drsjob-x was not in the DescribeJobs answer; still waiting")
    screen = Screen(progress=False)
    [line] = screen.at(HEARTBEAT_SECONDS, state)
    assert "note: job drsjob-x was not in the DescribeJobs answer" in line
    screen.view.log("throttled: DescribeJobs")
    assert screen.at(HEARTBEAT_SECONDS, state)[0].endswith(" throttled: DescribeJobs")
