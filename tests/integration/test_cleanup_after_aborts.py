"""``run --cleanup-after`` when the drill does not end on its own (issue 11, item 7).

- the engine breaks (exit 3): the drill's instances still run, so they are terminated
  anyway when the adapters still work, and stderr says so; when the clean-up fails too,
  stderr says how to do it later;
- a second Ctrl-C (stop at once): no clean-up is started; the exact ``drsorch cleanup``
  command is printed, and that command does it;
- a Ctrl-C during the clean-up stops it at once, with the same command.

In-process (CliRunner) on the simulator; "AWS" runs are simulated worlds recorded as AWS
runs (as ``drsorch.cli.run.real_aws`` would build them), so the printed command can be run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.utils.engine import FAST_TIMING

from drsorch.cli import main
from drsorch.cli.cleanup_after import cleanup_command, still_launching
from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.core.state import State
from drsorch.history import ExecutionRecord
from drsorch.sim import Scenario
from drsorch.stepping import Stepper
from drsorch.store import SqliteStore
from drsorch.wiring import World, simulated

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

EXAMPLE = Path(__file__).parents[2] / "examples" / "three-tier.yaml"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def stored(db: Path) -> ExecutionRecord:
    with SqliteStore(db) as store:
        [record] = store.query()
    return record


def launched(record: ExecutionRecord) -> list[str]:
    return [
        s.RecoveryInstanceId
        for w in record.WaveStatus
        for s in w.ServerResults
        if s.RecoveryInstanceId
    ]


def once_wave_1_completed(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """The engine raises ``error`` as soon as wave 1 has COMPLETED (its instances run)."""
    settle = Stepper.settle

    def breaking(self: Stepper, state: State, event: Any) -> Any:
        commands = settle(self, state, event)
        if state["waves"][0]["status"] == "COMPLETED":
            raise error
        return commands

    monkeypatch.setattr(Stepper, "settle", breaking)


def signalled(sent: str) -> Any:
    """A clean-up that receives the signal named ``sent`` as it starts: what the handler in
    place then does (the clean-up's own: stop at once, no graceful cancel first)."""
    import signal

    signum = getattr(signal, sent)

    def interrupted(*args: Any, **kw: Any) -> Any:
        handler = signal.getsignal(signum)
        assert callable(handler)
        handler(signum, None)
        raise AssertionError("not stopped")

    return interrupted


@pytest.fixture
def aws_world(monkeypatch: pytest.MonkeyPatch) -> list[World]:
    """``run --aws`` and ``cleanup --aws`` get one simulated world, recorded as an AWS run
    (its state kept, for ``drsorch cleanup``)."""
    worlds: list[World] = []

    def fake_real_aws(plan: Any, **kw: Any) -> World:
        if not worlds:
            world = simulated(
                plan,
                clock=VirtualClock(start=DEFAULT_EPOCH),
                scenario=Scenario(timing=FAST_TIMING),
            )
            world.options.environment, world.options.keep_state = "aws", True
            worlds.append(world)
        return worlds[0]

    monkeypatch.setattr("drsorch.cli.run.real_aws", fake_real_aws)
    monkeypatch.setattr("drsorch.cli.cleanup.real_aws", fake_real_aws)
    return worlds


def test_an_engine_break_still_cleans_the_drill_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    once_wave_1_completed(monkeypatch, RuntimeError("a bug"))
    db = tmp_path / "h.db"
    code, _, err = cli("run", str(EXAMPLE), "--cleanup-after", "--store", str(db))
    assert code == 3
    broke = err.index("error: the engine broke")
    anyway = err.index("--cleanup-after: the drill's recovery instances still run")
    assert broke < anyway
    record = stored(db)
    assert record.Status == "FAILED" and launched(record)
    assert record.Cleanup is not None and record.Cleanup.Status == "COMPLETED"
    # what the record names, and what wave 2's launch, cut short, launched meanwhile
    assert set(launched(record)) < set(record.Cleanup.Terminated)
    assert f"clean-up of {record.ExecutionId}: COMPLETED" in err


def test_an_engine_break_whose_clean_up_fails_says_how_to_do_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_world: list[World]
) -> None:
    once_wave_1_completed(monkeypatch, RuntimeError("a bug"))

    def unreachable(*args: Any, **kw: Any) -> Any:
        raise ConnectionError("DRS unreachable")

    monkeypatch.setattr("drsorch.cli.cleanup_after.clean_up", unreachable)
    db = tmp_path / "h.db"
    code, _, err = cli("run", str(EXAMPLE), "--aws", "--cleanup-after", "--store", str(db))
    assert code == 3
    record = stored(db)
    command = f"drsorch cleanup {record.ExecutionId} --aws --region us-east-1 --store {db}"
    assert "the clean-up failed too (ConnectionError: DRS unreachable)" in err
    assert f"until you run: {command}" in err
    assert record.Cleanup is None
    # wave 2's job was still launching: `drsorch cleanup` follows it
    [job] = still_launching(record)
    assert f"DRS job(s) {job} were still launching servers" in err
    assert "`drsorch cleanup` waits for them to end" in err


def test_a_stop_at_once_prints_the_cleanup_command_and_that_command_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_world: list[World]
) -> None:
    once_wave_1_completed(monkeypatch, KeyboardInterrupt())
    db = tmp_path / "h.db"
    code, _, err = cli("run", str(EXAMPLE), "--aws", "--cleanup-after", "--store", str(db))
    assert code == 1
    record = stored(db)
    assert record.Status == "FAILED" and record.Cleanup is None
    [world] = aws_world
    assert world.sim is not None
    assert not [c for c in world.sim.recorder.calls if c.operation == "TerminateRecoveryInstances"]
    command = f"drsorch cleanup {record.ExecutionId} --aws --region us-east-1 --store {db}"
    stopped = err.index(f"stopped; execution {record.ExecutionId} recorded as FAILED")
    hint = err.index("--cleanup-after: not done (stopped at once)")
    assert stopped < hint and f"until you run: {command}" in err
    assert f"DRS job(s) {', '.join(still_launching(record))} were still launching" in err
    # the command, as printed, does it
    monkeypatch.undo()
    monkeypatch.setattr("drsorch.cli.cleanup.real_aws", lambda plan, **kw: world)
    code, _, err = cli(*command.split()[1:])
    assert code == 0, err
    cleaned = stored(db)
    assert cleaned.Cleanup is not None
    # what the record names, and what the jobs still launching at the stop launched
    assert set(launched(record)) < set(cleaned.Cleanup.Terminated)


def test_a_stop_at_once_of_a_simulated_drill_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    once_wave_1_completed(monkeypatch, KeyboardInterrupt())
    db = tmp_path / "h.db"
    code, _, err = cli("run", str(EXAMPLE), "--cleanup-after", "--store", str(db))
    assert code == 1
    assert "not done (stopped at once); the simulated instances ended with the simulator" in err
    assert "drsorch cleanup" not in err and "DRS console" not in err
    assert stored(db).Cleanup is None


@pytest.mark.parametrize("sent", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_ctrl_c_during_the_clean_up_stops_it_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_world: list[World], sent: str
) -> None:
    """Ctrl-C, SIGTERM or SIGHUP (the terminal went away) during the clean-up."""
    import signal

    monkeypatch.setattr("drsorch.cli.cleanup_after.clean_up", signalled(sent))
    db = tmp_path / "h.db"
    code, _, err = cli(
        "run", str(EXAMPLE), "--aws", "--cleanup-after", "--json", "--store", str(db)
    )
    assert code == 0  # the drill COMPLETED: its own exit code
    record = stored(db)
    assert record.Status == "COMPLETED" and record.Cleanup is None
    assert f"stopped; execution {record.ExecutionId} recorded as COMPLETED" in err
    assert f"until you run: drsorch cleanup {record.ExecutionId} --aws" in err
    assert "cancelling" not in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_the_cleanup_command_quotes_what_it_was_given() -> None:
    assert (
        cleanup_command("e1", region="eu-west-1") == "drsorch cleanup e1 --aws --region eu-west-1"
    )
    assert cleanup_command(
        "e1",
        region="eu-west-1",
        profile="dr team",
        endpoint_url="http://127.0.0.1:4566",
        store_url="sqlite:////tmp/my history.db",
    ) == (
        "drsorch cleanup e1 --aws --profile 'dr team' --region eu-west-1 "
        "--endpoint-url http://127.0.0.1:4566 --store 'sqlite:////tmp/my history.db'"
    )


@pytest.mark.parametrize("sent", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_during_drsorch_cleanup_stops_it_saying_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_world: list[World], sent: str
) -> None:
    """``drsorch cleanup`` interrupted (Ctrl-C, SIGTERM, or the terminal gone): one line
    saying nothing was recorded and the command to run again; exit 1 (instances may still
    run), never click's "Aborted!" or a silent death."""
    import signal

    db = tmp_path / "h.db"
    code, _, _ = cli("run", str(EXAMPLE), "--aws", "--store", str(db))
    assert code == 0
    record = stored(db)
    monkeypatch.setattr("drsorch.cli.cleanup.clean_up", signalled(sent))
    code, out, err = cli("cleanup", record.ExecutionId, "--aws", "--store", str(db))
    assert code == 1 and out == ""
    command = f"drsorch cleanup {record.ExecutionId} --aws --region us-east-1 --store {db}"
    assert err == (
        f"stopped: the clean-up of {record.ExecutionId} did not finish and was not recorded; "
        f"TERMINATE jobs it started go on. Once they end, run: {command}\n"
    )
    assert stored(db).Cleanup is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
