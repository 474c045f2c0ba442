"""``run --cleanup-after`` however the drill ends (issue 11, item 7).

A drill's recovery instances keep running, and billing, until someone terminates them.
:class:`CleanupAfter` decides what ``drsorch run`` does about them at each way a run can
end:

- the drill ended (COMPLETED, FAILED or CANCELLED): they are terminated and the record
  says so (:meth:`CleanupAfter.after_end`);
- the engine broke (exit 3): they are still running, so they are terminated anyway, if
  the adapters still work, and said so on stderr (:meth:`CleanupAfter.after_break`);
- stopped at once (a second Ctrl-C or SIGTERM, or one during the clean-up): the person
  wants out now, so no clean-up is started; the exact ``drsorch cleanup`` command that
  does it later is printed instead (:meth:`CleanupAfter.after_stop`).

During a clean-up, the first Ctrl-C stops it at once: the run is over, there is nothing
to cancel gracefully. A simulated region ends with its process: its instances need no
command afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import click

from drsorch.cleanup import clean_up
from drsorch.cli.cleanup import cleanup_command, echo_cleanup
from drsorch.cli.signals import stop_at_once
from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import DrsorchError
from drsorch.history import ExecutionRecord
from drsorch.store.base import HistoryStore
from drsorch.text import printable
from drsorch.wiring import World

__all__ = ["CleanupAfter", "cleanup_command", "still_launching", "stop_at_once"]


#: How the record names a server whose LAUNCH job was still running when the engine
#: stopped (drsorch.core.timekeeping.abort): the instance it may yet launch is in no record.
_STILL_LAUNCHING = "execution ended while launching"


def still_launching(record: ExecutionRecord) -> list[str]:
    """The DRS jobs that were still launching servers of ``record`` when its engine
    stopped: what they launch is named by no record, so no clean-up can find it."""
    jobs = {
        result.JobId
        for wave in record.WaveStatus
        for result in wave.ServerResults
        if result.JobId
        and not result.RecoveryInstanceId
        and (result.Error or "").startswith(_STILL_LAUNCHING)
    }
    return sorted(jobs)


def _err(text: str) -> None:
    click.echo(printable(text), err=True)


@dataclass
class CleanupAfter:
    """What ``run --cleanup-after`` does with the drill's recovery instances, whatever the
    end. ``external_id``: the plan names a Target.ExternalId, which ``drsorch cleanup``
    must be given again (it is never saved)."""

    world: World
    store: HistoryStore
    profile: str | None = None
    endpoint_url: str | None = None
    store_url: str | None = None
    external_id: bool = False

    @property
    def simulated(self) -> bool:
        return self.world.options.environment == "simulator"

    @property
    def command(self) -> str:
        """How to terminate them later (an AWS drill)."""
        options = self.world.options
        command = cleanup_command(
            options.execution_id,
            region=options.region,
            profile=self.profile,
            endpoint_url=self.endpoint_url,
            store_url=self.store_url,
        )
        if self.external_id:
            command += "  (with the plan's Target.ExternalId: --external-id or DRSORCH_EXTERNAL_ID)"
        return command

    def _later(self, recorded: bool = True) -> str:
        """What to do about the instances left running."""
        if self.simulated:
            return "the simulated instances ended with the simulator: nothing is left running"
        if not recorded:
            return (
                "the execution has no final record, so `drsorch cleanup` cannot do it: "
                "terminate the drill's recovery instances in the DRS console"
            )
        return f"its recovery instances keep running (and billing) until you run: {self.command}"

    def after_end(self, record: ExecutionRecord, log: Callable[[str], None]) -> ExecutionRecord:
        """The drill ended: terminate its instances; the record with its Cleanup. A
        failure leaves the drill's own record (and exit code) as it is, said on stderr;
        Ctrl-C stops the clean-up at once (KeyboardInterrupt: see :meth:`after_stop`)."""
        if record.ExecutionType != "DRILL":
            return record
        try:
            with stop_at_once():
                return clean_up(record, self.world.drs, self.world.clock, store=self.store, log=log)
        except DrsorchError as exc:  # the drill's own outcome stands
            again = "" if self.simulated else f"; try again: {self.command}"
            _err(f"warning: the clean-up failed: {exc}{again}")
            return record

    def after_break(self, record: ExecutionRecord | None) -> None:
        """The engine broke (exit 3): the drill's instances still run, so terminate them
        anyway, if the adapters still work, and say what became of it."""
        if record is None or record.ExecutionType != "DRILL":
            return
        if not record.WaveStatus:  # a bare record: which instances ran is not known
            _err(f"--cleanup-after: not done: the record names no instance; {self._later(False)}")
            return
        _err("--cleanup-after: the drill's recovery instances still run: terminating them anyway")
        try:
            with stop_at_once():
                cleaned = clean_up(
                    record, self.world.drs, self.world.clock, store=self.store, log=_err
                )
        except KeyboardInterrupt:
            _err(f"--cleanup-after: stopped at once; {self._later()}")
            return
        except Exception as exc:  # the engine broke: its adapters or its store may be why
            why = f"{type(exc).__name__}: {exc}"
            _err(f"--cleanup-after: the clean-up failed too ({why}); {self._later()}")
        else:
            echo_cleanup(cleaned)
        finally:
            self._in_flight(record)

    def after_stop(self, saved: ExecutionStatus | None) -> None:
        """Stopped at once (a second Ctrl-C): no clean-up is started; say how to do it."""
        recorded = saved is not None and saved.terminal
        _err(f"--cleanup-after: not done (stopped at once); {self._later(recorded)}")
        try:
            record = self.store.get(self.world.options.execution_id) if recorded else None
        except Exception:  # the store broke: what was said above stands
            record = None
        if record is not None:
            self._in_flight(record)

    def _in_flight(self, record: ExecutionRecord) -> None:
        """Say which launches were left running (an AWS drill: a simulated region ends
        with its process): the clean-up follows them to their end (drsorch.cleanup)."""
        jobs = still_launching(record)
        if jobs and not self.simulated:
            _err(
                f"--cleanup-after: DRS job(s) {', '.join(jobs)} were still launching servers "
                "when drsorch stopped: `drsorch cleanup` waits for them to end and "
                "terminates what they launched too"
            )
