"""Only signals stop a run (issue 11, item 2), as a user meets it: the installed console
script in a subprocess, on the simulator, with a SQLite store in tmp_path.

- ``drsorch run plan.yaml | head -2``: the reader goes away after two lines; the drill goes
  on to its end, recorded COMPLETED, exit code from its outcome (0).
- stdout and stderr both closed from the start: the same.
- SIGTERM mid-run cancels gracefully like the first Ctrl-C (CANCELLED, exit 1); a second
  SIGTERM stops at once (FAILED, exit 1).

Runs are replayed at ``--speed`` with short launches (a drill of about 1,000 simulated
seconds), fast enough to last a few seconds, slow enough that the pipe is surely closed (or
the signal surely sent) while the engine is still working: each test says why. Every wait
has a timeout; nothing sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from drsorch.store import open_store

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "examples" / "three-tier.yaml"
DRSORCH = Path(sys.executable).parent / "drsorch"
TIMEOUT = 90
#: Short launches: the whole drill takes about 1,000 simulated seconds.
FAST_SCENARIO: dict[str, Any] = {"timing": {"launch": {"min": 60, "max": 90}}}
#: At 500x the drill takes about 2 s of wall time. The engine's own work (about a second
#: of CPU) runs the simulated clock ahead too: the plan's TimeoutSeconds (4 h) leaves it
#: nearly 30 s of wall time, so a starved machine still ends the drill COMPLETED.
SPEED = "500"


def _env(store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRSORCH_"))}
    env.update(
        NO_COLOR="1",
        TERM="dumb",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        DRSORCH_STORE=f"sqlite:///{store}",
    )
    return env


def _ignoring(*signals: signal.Signals) -> Any:
    """A ``preexec_fn`` that starts the child with ``signals`` ignored, as ``nohup`` does."""

    def ignore() -> None:
        for ignored in signals:
            signal.signal(ignored, signal.SIG_IGN)

    return ignore


def _start(
    tmp_path: Path, *extra: str, speed: str = SPEED, ignored: tuple[signal.Signals, ...] = ()
) -> subprocess.Popen[str]:
    scenario = tmp_path / "fast.yaml"
    scenario.write_text(yaml.safe_dump(FAST_SCENARIO))
    return subprocess.Popen(
        [str(DRSORCH), "run", str(PLAN), "--sim", str(scenario), "--speed", speed, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_env(tmp_path / "h.db"),
        cwd=REPO,
        preexec_fn=_ignoring(*ignored) if ignored else None,
    )


def _wait(proc: subprocess.Popen[str]) -> int:
    try:
        return proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"drsorch {proc.args} did not end in {TIMEOUT} s")


def _read_line(proc: subprocess.Popen[str], wanted: str = "") -> str:
    """The next line of stdout containing ``wanted`` (the process is killed on a timeout by
    pytest-timeout's limit only if the run hangs: every run here ends on its own)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if wanted in line:
            return line
    pytest.fail(f"stdout ended before a line with {wanted!r}")


def _records(store: Path) -> list[Any]:
    opened = open_store(f"sqlite:///{store}", read_only=True)
    try:
        return list(opened.query(limit=10))
    finally:
        opened.close()


def test_a_closed_stdout_does_not_stop_the_run(tmp_path: Path) -> None:
    """``drsorch run plan.yaml | head -2``.

    The second line comes at the start of the drill, about 2 s before its end; the record
    still RUNNING right after the close shows that the close came first (the summary is
    printed after the final record is saved: it goes to the closed pipe)."""
    proc = _start(tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    first = [_read_line(proc), _read_line(proc)]
    assert "DRILL of plan three-tier-app" in first[0]
    proc.stdout.close()  # head -2 is gone
    [running] = _records(tmp_path / "h.db")  # saved before the first progress line
    assert running.Status.value == "RUNNING", "the drill ended before the pipe was closed"
    code = _wait(proc)
    stderr = proc.stderr.read()
    proc.stderr.close()
    [record] = _records(tmp_path / "h.db")
    assert record.Status.value == "COMPLETED", (record.Errors, stderr)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "Broken pipe" not in stderr, stderr


def test_closed_stdout_and_stderr_do_not_stop_the_run(tmp_path: Path) -> None:
    """Closed as soon as the process exists, long before it can print anything (starting
    Python and importing drsorch take most of a second): all it prints goes to the closed
    pipes."""
    proc = _start(tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()
    code = _wait(proc)
    [record] = _records(tmp_path / "h.db")
    assert record.Status.value == "COMPLETED", record.Errors
    assert code == 0


def test_closed_stdout_with_json_still_ends_recorded(tmp_path: Path) -> None:
    """--json writes the record at the end only: a reader gone by then changes nothing."""
    proc = _start(tmp_path, "--json")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    code = _wait(proc)
    stderr = proc.stderr.read()
    proc.stderr.close()
    [record] = _records(tmp_path / "h.db")
    assert (record.Status.value, code) == ("COMPLETED", 0), stderr
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_sigterm_cancels_gracefully(tmp_path: Path, sent: signal.Signals) -> None:
    """At 100x the first server's launch and health check take nearly 3 s after its
    LAUNCHING line, the rest of the drill about 10 s: the signal lands while that launch
    is under way, and the graceful stop then waits for its job (about a second).

    SIGHUP (the terminal or the ssh session went away) is a SIGTERM: without it the
    process died at once, its record RUNNING for ever."""
    proc = _start(tmp_path, speed="100")
    assert proc.stdout is not None and proc.stderr is not None
    _read_line(proc, "LAUNCHING")  # the first launch is under way
    proc.send_signal(sent)
    rest, stderr = proc.communicate(timeout=TIMEOUT)
    [record] = _records(tmp_path / "h.db")
    assert record.Status.value == "CANCELLED", (record.Errors, stderr)
    assert any(sent.name in error.Message for error in record.Errors), record.Errors
    assert proc.returncode == 1
    assert f"cancelling ({sent.name})" in rest
    assert "Traceback" not in stderr, stderr


def test_nohup_keeps_sighup_ignored_and_the_run_goes_on(tmp_path: Path) -> None:
    """``nohup drsorch run ...``: SIGHUP was ignored when drsorch started, so a hangup
    leaves the run alone: it ends COMPLETED."""
    proc = _start(tmp_path, speed="100", ignored=(signal.SIGHUP,))
    assert proc.stdout is not None and proc.stderr is not None
    _read_line(proc, "LAUNCHING")
    proc.send_signal(signal.SIGHUP)
    rest, stderr = proc.communicate(timeout=TIMEOUT)
    [record] = _records(tmp_path / "h.db")
    assert (record.Status.value, proc.returncode) == ("COMPLETED", 0), (record.Errors, stderr)
    assert "cancelling" not in rest


def test_a_second_sigterm_stops_at_once_recorded_failed(tmp_path: Path) -> None:
    proc = _start(tmp_path, speed="5")
    assert proc.stdout is not None and proc.stderr is not None
    _read_line(proc, "LAUNCHING")
    proc.send_signal(signal.SIGTERM)
    _read_line(proc, "cancelling (SIGTERM)")  # the first one was handled
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    [record] = _records(tmp_path / "h.db")
    assert record.Status.value == "FAILED", (record.Errors, stderr)
    assert proc.returncode == 1
    assert "recorded as FAILED" in stderr
    assert "Traceback" not in stderr, stderr


needs_dev_full = pytest.mark.skipif(
    not os.path.exists("/dev/full"), reason="no /dev/full (a device always full) here"
)


def _with_stdout(tmp_path: Path, stdout: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """``drsorch ARGS`` to completion, its stdout on ``stdout`` (a file or descriptor)."""
    return subprocess.run(
        [str(DRSORCH), *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_env(tmp_path / "h.db"),
        cwd=REPO,
        timeout=TIMEOUT,
    )


def _to_dev_full(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``drsorch ARGS > /dev/full``: every write to stdout fails with ENOSPC."""
    with open("/dev/full", "w") as full:
        return _with_stdout(tmp_path, full, *args)


@needs_dev_full
def test_a_full_stdout_does_not_stop_the_run(tmp_path: Path) -> None:
    """``drsorch run plan.yaml > /dev/full`` (a full disk): said once on stderr, the rest
    of the output dropped, the drill run to its end and recorded."""
    scenario = tmp_path / "fast.yaml"
    scenario.write_text(yaml.safe_dump(FAST_SCENARIO))
    done = _to_dev_full(tmp_path, "run", str(PLAN), "--sim", str(scenario))
    [record] = _records(tmp_path / "h.db")
    assert (record.Status.value, done.returncode) == ("COMPLETED", 0), done.stderr
    assert done.stderr.count("standard output could not be written") == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


@needs_dev_full
@pytest.mark.parametrize(
    "args", [["validate", str(PLAN)], ["--help"], ["history"]], ids=["validate", "help", "history"]
)
def test_output_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str]
) -> None:
    done = _to_dev_full(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "error: the output could not be written: No space left on device\n"


def _with_reader_gone(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``drsorch ARGS | head -0``, deterministically: the pipe's read end is closed before
    the process starts, so its first write to stdout finds the reader gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return _with_stdout(tmp_path, write_end, *args)
    finally:
        os.close(write_end)


def test_a_reader_gone_keeps_each_command_s_own_exit_code(tmp_path: Path) -> None:
    """``validate``, ``show``, ``report`` and ``history`` whose reader left end with the
    exit code of what they did (0 for a valid plan or a record shown, 2 for an invalid
    plan), never click's exit 1 (here: FAILED), and with no traceback."""
    scenario = tmp_path / "fast.yaml"
    scenario.write_text(yaml.safe_dump(FAST_SCENARIO))
    ran = subprocess.run(
        [str(DRSORCH), "run", str(PLAN), "--sim", str(scenario), "--quiet"],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "h.db"),
        cwd=REPO,
        timeout=TIMEOUT,
    )
    assert ran.returncode == 0, ran.stderr
    [record] = _records(tmp_path / "h.db")
    bad = tmp_path / "bad.yaml"
    bad.write_text("PlanId: x\n")
    for args, expected in [
        (["validate", str(PLAN), str(PLAN), str(PLAN)], 0),
        (["validate", str(PLAN), str(bad)], 2),
        (["show", record.ExecutionId], 0),
        (["show", record.ExecutionId, "--json"], 0),
        (["report", record.ExecutionId], 0),
        (["history"], 0),
        (["--help"], 0),
    ]:
        done = _with_reader_gone(tmp_path, *args)
        assert done.returncode == expected, (args, done.stderr)
        assert "Traceback" not in done.stderr and "Broken pipe" not in done.stderr, done.stderr
