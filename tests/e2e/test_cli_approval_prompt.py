"""The approval prompt on a real terminal (issue 11, item 1): ``drsorch run --speed`` with
its stdin on a pseudo-terminal, as a person at a terminal runs it.

A PauseBefore wave is asked about on the terminal while the engine goes on: the other
branch runs to its end before anybody answers; ``y`` approves it (the record says who);
a Ctrl-C (SIGINT) at the question still cancels gracefully; the terminal is left as it
was. Both runs go together (about 3 s of wall time).
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from drsorch.store import open_store

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[2]
DRSORCH = Path(sys.executable).parent / "drsorch"
#: The longest a run may take here (each takes 2-3 s).
DEADLINE = 30.0
SERVERS = ["s-0a1b2c3d4e5f60718", "s-0a1b2c3d4e5f60719", "s-0a1b2c3d4e5f6071a"]
PLAN: dict[str, Any] = {
    "PlanId": "pty-approval",
    "PlanName": "Approval at the terminal",
    "Defaults": {"HealthCheck": {"Enabled": False}},
    "Waves": [
        {"WaveNumber": 1, "WaveName": "Database", "ServerIds": SERVERS[:1]},
        {
            "WaveNumber": 2,
            "WaveName": "App tier",
            "ServerIds": SERVERS[1:2],
            "Dependencies": [1],
            "PauseBefore": True,
        },
        {"WaveNumber": 3, "WaveName": "Reports", "ServerIds": SERVERS[2:], "Dependencies": [1]},
    ],
}
QUESTION = b"approve wave 2 (App tier)? [y/N]"


class TerminalRun:
    """``drsorch run`` with stdin on a pseudo-terminal, stdout and stderr on pipes."""

    def __init__(self, tmp: Path, name: str) -> None:
        plan, scenario = tmp / f"{name}.yaml", tmp / "fast.yaml"
        plan.write_text(yaml.safe_dump({**PLAN, "PlanId": f"pty-{name}"}))
        scenario.write_text(yaml.safe_dump({"timing": {"launch": {"min": 20, "max": 30}}}))
        self.store = tmp / f"{name}.db"
        self.master, slave = pty.openpty()
        self.modes = termios.tcgetattr(self.master)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRSORCH_"))}
        env.update(NO_COLOR="1", TERM="dumb", COLUMNS="200")
        args = ["run", str(plan), "--sim", str(scenario), "--speed", "600", "--poll-seconds", "5"]
        self.proc = subprocess.Popen(
            [str(DRSORCH), *args, "--store", str(self.store)],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        os.close(slave)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.streams = {self.proc.stdout.fileno(): b"", self.proc.stderr.fileno(): b""}
        self.out_fd, self.err_fd = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        self.closed: set[int] = set()
        self.started = time.monotonic()

    @property
    def out(self) -> bytes:
        return self.streams[self.out_fd]

    @property
    def err(self) -> bytes:
        return self.streams[self.err_fd]

    def pump(self) -> bool:
        """Read what the run wrote (and the terminal echoed) for up to 0.05 s; False once
        both its output pipes have closed."""
        open_fds = [fd for fd in self.streams if fd not in self.closed]
        if not open_fds:
            return False
        ready, _, _ = select.select([*open_fds, self.master], [], [], 0.05)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal, once the run has let go of it
                chunk = b""
            if fd == self.master:
                continue  # the terminal's echo of what was typed
            if chunk:
                self.streams[fd] += chunk
            else:
                self.closed.add(fd)
        return True

    def wait_for(self, text: bytes) -> None:
        while text not in self.out:
            elapsed = time.monotonic() - self.started
            if elapsed > DEADLINE or not self.pump():
                pytest.fail(f"no {text!r} after {elapsed:.1f} s:\n{self.out!r}\n{self.err!r}")

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def finish(self) -> int:
        while self.pump():
            if time.monotonic() - self.started > DEADLINE:
                self.proc.kill()
                pytest.fail(f"the run did not end:\n{self.out!r}\n{self.err!r}")
        code = self.proc.wait(timeout=DEADLINE)
        assert b"Traceback" not in self.out + self.err, (self.out, self.err)
        # the terminal is left as it was found: same modes, nothing switched off
        assert termios.tcgetattr(self.master) == self.modes
        os.close(self.master)
        return code

    def record(self) -> Any:
        store = open_store(f"sqlite:///{self.store}")
        try:
            [record] = store.query()
        finally:
            store.close()
        return record


def test_approving_at_the_terminal_and_cancelling_at_the_question(tmp_path: Path) -> None:
    approving, cancelling = TerminalRun(tmp_path, "approve"), TerminalRun(tmp_path, "cancel")
    # the other branch runs to its end while the question waits, then "y"
    approving.wait_for(QUESTION)
    approving.type(b"n")  # typed and erased (line editing is the terminal's): no answer
    approving.type(termios.tcgetattr(approving.master)[6][termios.VERASE])
    approving.wait_for(b"wave 3 Reports: COMPLETED")
    assert b"wave 2 App tier: RUNNING" not in approving.out
    approving.type(b"y\n")
    # Ctrl-C at the question: the graceful cancel, as before
    cancelling.wait_for(QUESTION)
    cancelling.proc.send_signal(signal.SIGINT)

    assert approving.finish() == 0, approving.err
    record = approving.record()
    wave = {w.WaveNumber: w for w in record.WaveStatus}
    assert record.Status == "COMPLETED"
    assert wave[2].ApprovedBy is not None and wave[2].ApprovedTime is not None
    assert wave[3].EndTime is not None and wave[3].EndTime < wave[2].ApprovedTime
    assert f"wave 2: approved by {wave[2].ApprovedBy}".encode() in approving.out

    assert cancelling.finish() == 1, cancelling.err
    assert b"cancelling (Ctrl-C)" in cancelling.out
    record = cancelling.record()
    assert record.Status == "CANCELLED"
    assert {w.WaveNumber: w.Status for w in record.WaveStatus}[2] == "CANCELLED"
