"""The local driver: runs one execution to its end on this machine, sleeping on the
injected clock between steps, and delivering a cancel (Ctrl-C) as soon as it is asked for
(design §2, §8).

What a step does lives elsewhere, so that other drivers reuse it without copying a line:
:mod:`drsorch.stepping` feeds the core and carries out its commands
(:mod:`drsorch.effects`), :mod:`drsorch.keeping` saves the record and holds the lease. The
runner adds the loop, the sleeping (in slices, so the lease is renewed through long waits
between waves), and invariant 5: whatever happens (a failed API, Ctrl-C, a bug) the
execution ends with a terminal record that names what went wrong. A runner whose lease was
taken over raises :class:`~drsorch.errors.LeaseLostError` and stops on the spot: it
neither launches nor saves anything more, since the execution is another engine's now.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from drsorch.aws.drs import DrsAdapter
from drsorch.aws.ec2 import Ec2Adapter
from drsorch.clock import Clock
from drsorch.core import advance, new_execution
from drsorch.core import messages as m
from drsorch.core.state import State
from drsorch.core.state_types import EnvironmentDetails
from drsorch.core.statuses import ExecutionStatus
from drsorch.effects import Approver, Effects
from drsorch.errors import DrsorchError, LeaseLostError
from drsorch.history import ExecutionRecord
from drsorch.keeping import Keeper
from drsorch.notify import NotifyOutcome, NotifyResult
from drsorch.ownership import DEFAULT_LEASE_SECONDS
from drsorch.plan import Plan
from drsorch.stepping import Observer, Stepper, earliest_wake, finished
from drsorch.store.base import HistoryStore, RequestStore
from drsorch.text import printable

__all__ = ["EngineError", "Observer", "RunOptions", "Runner"]


class EngineError(DrsorchError):
    """The engine itself broke; the record was finalized FAILED before this was raised."""

    def __init__(self, message: str, record: ExecutionRecord | None) -> None:
        super().__init__(message)
        self.record = record


@dataclass
class RunOptions:
    """Who runs what, where: the context a history record needs."""

    initiated_by: str
    source_account_id: str
    target_account_id: str
    region: str
    execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: "simulator" or "aws": where the execution runs (a simulated one cannot be resumed).
    environment: str = "aws"
    #: aws: the ``--endpoint-url`` every AWS call is sent to (None: AWS's own endpoints).
    endpoint_url: str | None = None
    #: simulator: the seed the simulator runs with.
    seed: int | None = None
    #: simulator: the scenario file, as the operator named it (None: no scenario file).
    scenario: str | None = None
    #: Called by ``Runner.run`` just before it reads the execution's StartTime: a sped-up
    #: simulated clock stands still until then, so StartTime is the wall time at start.
    start_clock: Callable[[], None] | None = None
    #: Save the engine state beside the record, for ``drsorch resume``. Simulated runs
    #: cannot be resumed (their region dies with the process), so they skip it.
    keep_state: bool = True
    #: Seconds of the clock to sleep at a time, so a cancel is noticed (None: all at once).
    sleep_slice: float | None = None
    #: 0: every change of the record is saved at once (Req 5.2; the default, and what runs
    #: against AWS get). A simulation in virtual time sets 3600: server-only changes are
    #: then saved at most once per simulated hour (wave and execution changes still at
    #: once), since an hour of simulated polls passes in a fraction of a second.
    save_every: float = 0.0
    #: Seconds the execution's lease lives without renewal (see drsorch.ownership).
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: On resume: take over an expired lease whose holder may still exist (``--force``).
    takeover: bool = False
    #: On resume: the plan's Target.ExternalId, which the saved state does not keep.
    external_id: str | None = None
    #: A new execution: seconds between its DescribeJobs polls (None: the engine's 30). It
    #: is kept in the execution's state, so a resume polls as the run did.
    job_poll_seconds: float | None = None

    def environment_details(self) -> EnvironmentDetails:
        """Where the execution runs, for its state and record (the record's Environment)."""
        simulator = self.environment == "simulator"
        return {
            "kind": "simulator" if simulator else "aws",
            "endpoint": None if simulator else self.endpoint_url,
            "seed": self.seed if simulator else None,
            "scenario": self.scenario if simulator else None,
        }


class Runner:
    """Runs one execution of a plan to its end."""

    def __init__(
        self,
        *,
        drs: DrsAdapter,
        ec2: Ec2Adapter,
        store: HistoryStore,
        clock: Clock,
        observer: Observer | None = None,
        approve: Approver | None = None,
        log: Callable[[str], None] | None = None,
        holder: str | None = None,
        notify: Callable[[ExecutionRecord | None], NotifyResult | None] | None = None,
        warn: Callable[[str], None] | None = None,
        operator: Callable[[State], None] | None = None,
        keeper: Keeper | None = None,
        lease_clock: Clock | None = None,
    ) -> None:
        #: Called at every step and sleep slice, just before the store's requests are
        #: taken, with the execution's state: an operator's seat that must never block,
        #: such as the terminal's approval prompt of a real-time run (it leaves its answer
        #: in the store, so it is taken in the same pass). None: nothing to call.
        self.operator = operator
        #: Where what went wrong outside the record is said (a failed notification, a
        #: store that could not save); by default the log.
        self.warn = warn or log or (lambda text: None)
        #: Announces the end of the execution (see drsorch.notify); None: nobody is told.
        self.notify = notify
        self.drs, self.ec2, self.store, self.clock = drs, ec2, store, clock
        self.log = log or (lambda text: None)
        #: The store's side: a driver that claimed and loaded the execution itself hands
        #: over the keeper that did (``holder`` is then that keeper's).
        self.keeper = keeper or Keeper(store, clock, holder=holder, lease_clock=lease_clock)
        self.effects = Effects(
            drs=drs,
            ec2=ec2,
            clock=clock,
            approve=approve,
            log=self.log,
            before_launch=self._before_launch,
        )
        self.stepper = Stepper(self.effects, self.keeper, clock, observer)
        #: The store operators' requests are left in, if it keeps any (checked once: a
        #: protocol check walks the protocol's members, and requests are taken every step).
        self._requests = self.keeper.store if isinstance(self.keeper.store, RequestStore) else None
        self.cancel_requested: str | None = None
        #: Approvals taken from the store (``drsorch approve``), not yet fed to the core.
        self._approvals: list[m.Approve] = []
        #: The execution being driven (None until ``run`` or ``resume`` starts one).
        self.state: State | None = None
        #: Called once a resume holds the execution and has read its state, before it goes
        #: on (the command line's headline: a resume refused there says nothing on stdout).
        self.on_resuming: Callable[[], None] | None = None

    @property
    def holder(self) -> str:
        """This engine's name in the execution's lease."""
        return self.keeper.holder

    @property
    def trace(self) -> list[tuple[float, m.Event, list[m.Command]]]:
        """Every event fed to the core, its time, and the commands it gave: for replay
        (kept only when ``stepper.keep_trace`` is set, as the tests set it)."""
        return self.stepper.trace

    # -- public ------------------------------------------------------------------------------
    def run(self, plan: Plan, options: RunOptions) -> ExecutionRecord:
        """Start a new execution of ``plan`` now and run it to its end."""
        if options.start_clock is not None:
            options.start_clock()  # StartTime is now: a held simulated clock starts here
        state = new_execution(
            plan,
            execution_id=options.execution_id,
            now=self.clock.now(),
            initiated_by=options.initiated_by,
            source_account_id=options.source_account_id,
            target_account_id=options.target_account_id,
            region=options.region,
            environment=options.environment_details(),
            config=(
                None
                if options.job_poll_seconds is None
                else {"job_poll_seconds": options.job_poll_seconds}
            ),
        )
        state["environment"] = options.environment
        return self.drive(state, options)

    def resume(self, options: RunOptions) -> ExecutionRecord:
        """Take ``options.execution_id`` over and continue it from the state saved before its
        engine stopped. The lease is claimed before the state is read, so no other engine
        can save after this one has read. Raises LeaseHeldError when another engine holds
        it (see :mod:`drsorch.ownership`), RefusedError when nothing can be resumed."""
        self._configure(options)
        self.keeper.claim(options.execution_id, takeover=options.takeover)
        state = self.keeper.load(options.execution_id, external_id=options.external_id)
        if self.on_resuming is not None:
            self.on_resuming()  # the execution is ours: say so (a refused resume says nothing)
        return self.drive(state, options, first=m.Resume())

    def cancel(self, reason: str = "cancelled by the user") -> None:
        """Ask for a graceful stop; safe to call from a signal handler."""
        self.cancel_requested = reason

    def drive(
        self, state: State, options: RunOptions, first: m.Event | None = None
    ) -> ExecutionRecord:
        """Run ``state`` until it ends: a new one from Start, a reloaded one from Resume."""
        self.state = state
        self._configure(options)
        if not self.keeper.holding:  # a new execution (a resume claimed it before reading)
            self.keeper.claim(state["execution_id"])
        try:
            self.keeper.save(state, force=True)  # Req 5.1: the RUNNING record exists first
            self._loop(state, first or m.Start(), options)
        except LeaseLostError:
            raise  # the execution is another engine's now: record nothing, launch nothing
        except Exception as exc:
            first_line = (str(exc).splitlines() or [""])[0]
            self._break(state, f"drsorch internal error: {type(exc).__name__}: {first_line}")
            raise EngineError(first_line, self.keeper.final_record(state)) from exc
        except BaseException as exc:  # Ctrl-C, SystemExit (e.g. a closed output pipe)
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__
            self._break(
                state,
                f"drsorch was stopped ({why}) before the execution could "
                "finish; DRS jobs already started keep running",
            )
            raise
        self._announce(state)
        self.keeper.release(state["execution_id"])
        return self.keeper.record(state)

    # -- the loop ------------------------------------------------------------------------------
    def _configure(self, options: RunOptions) -> None:
        self.keeper.keep_state = options.keep_state
        self.keeper.save_every = options.save_every
        self.keeper.lease_seconds = options.lease_seconds

    def step_until_wait(self, state: State, first: m.Event, options: RunOptions) -> list[m.Command]:
        """Drive ``state`` (its lease already held) until the engine would sleep or the
        execution ends, without sleeping: a driver that waits elsewhere (a Step Functions
        Wait state) calls this once per step. Returns the commands left: ``WakeAt`` (when
        to call again) or ``Finish``. An error propagates as it is, the record as last
        saved: the driver retries the step (a resumed step adopts launches by token)."""
        self.state = state
        self._configure(options)
        commands = self._loop(state, first, options, sleep=False)
        self.keeper.save(state, force=True)
        if finished(commands):
            self._announce(state)
        return commands

    def _loop(
        self, state: State, first: m.Event, options: RunOptions, *, sleep: bool = True
    ) -> list[m.Command]:
        commands = self.stepper.settle(state, first)
        while not finished(commands):
            self._take_requests(state)
            if self.cancel_requested and not state["cancel_requested"]:
                commands = self.stepper.settle(state, m.Cancel(self.cancel_requested))
                continue
            if self._approvals:
                commands = self.stepper.settle(state, self._approvals.pop(0))
                continue
            wake = earliest_wake(commands)
            if not sleep and (wake is None or wake > self.clock.now()):
                return commands
            self._sleep_until(state, wake if wake is not None else self.clock.now(), options)
            commands = self.stepper.settle(state, m.Tick())
        return commands

    def _sleep_until(self, state: State, wake: float, options: RunOptions) -> None:
        # Never sleep through a lease renewal: a long wait between waves is still owned.
        longest = self.keeper.lease_seconds / 3
        if options.sleep_slice is not None:
            longest = min(longest, options.sleep_slice)
        while (left := wake - self.clock.now()) > 0:
            if self._approvals or (self.cancel_requested and not state["cancel_requested"]):
                return  # wake up to deliver it; once delivered, sleep as usual
            self.clock.sleep(min(left, longest))
            self.keeper.renew_if_due(state["execution_id"])
            self._take_requests(state)  # (the loop took them just before the first slice)

    def _take_requests(self, state: State) -> None:
        """What operators asked of this execution through the store (``drsorch approve``,
        ``drsorch cancel``, the terminal's prompt), queued to be delivered at the next step."""
        if self.operator is not None:
            self.operator(state)
        if self._requests is None:
            return
        for request in self._requests.take_requests(state["execution_id"]):
            by = printable(str(request.get("by") or "someone"))
            wave = request.get("wave")
            if request.get("kind") == "cancel":
                self.cancel(f"cancelled by {by} (drsorch cancel)")
                self.log(f"cancel asked by {by}")
            elif request.get("kind") == "approve" and type(wave) is int:
                self._approvals.append(m.Approve(wave, by=by))
                self.log(f"wave {wave}: approved by {by}")
            else:
                self.warn(f"ignored a request this drsorch does not know: {request!r:.200}")

    def _before_launch(self) -> None:
        """A launch goes out only under a lease surely ours."""
        if self.state is not None:
            self.keeper.renew_if_due(self.state["execution_id"])

    def _break(self, state: State, message: str) -> None:
        """Finalize FAILED after the engine stopped abnormally; the record must not be lost."""
        if not ExecutionStatus(state["status"]).terminal:
            advance(state, m.ApiFailed("drsorch", message, fatal=True), self.clock.now())
        self.keeper.save_broken(state, message, self.warn)
        if self.keeper.holding:
            self._announce(state)
            try:
                self.keeper.release(state["execution_id"])
            except Exception as exc:  # the store broke: the lease expires on its own
                self.warn(f"could not give the execution's lease up: {exc}")

    def _announce(self, state: State) -> None:
        """Tell the plan's SNS topic how the execution ended (Req 8), once, and note in the
        record what became of it; a failed notification changes nothing else."""
        if self.notify is None or "notification" in state:
            return
        try:
            result = self.notify(self.keeper.final_record(state))
        except Exception as exc:  # a bug of ours in the notice: the execution still ended
            self.warn(f"could not notify: {type(exc).__name__}: {exc}")
            return
        if result is None or result.outcome is NotifyOutcome.SKIPPED:
            return
        (self.log if result.ok else self.warn)(result.describe())
        state["notification"] = result.to_dict()
        try:
            self.keeper.save(state, force=True)
        except LeaseLostError:
            pass
        except Exception as exc:
            self.warn(f"could not record the notification: {exc}")
