"""Drives the pure core against the world: executes its commands through the AWS adapters,
feeds the answers back as events, sleeps on the injected clock, and keeps the history
record in the store current (design §2, Req 5).

The runner owns every side effect of an execution and nothing of its logic: what to launch,
when to poll, and what counts as healthy are the core's decisions. It guarantees invariant 5:
whatever happens — a failed API, Ctrl-C, a bug — the execution ends with a terminal record
that names what went wrong.

It also holds the execution's lease (design §5, :mod:`drsorch.ownership`): claimed before
the first save, renewed by every save and at least every third of its lifetime (also while
sleeping), checked again right before any StartRecovery goes out, and released when the
record is final. A runner that finds its lease taken raises
:class:`~drsorch.errors.LeaseLostError` and stops on the spot: it neither launches nor saves
anything more, since the execution is another engine's now.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from drsorch.aws.drs import JOB_LOOKBACK_SECONDS, TOKEN_TAG, DrsAdapter
from drsorch.aws.ec2 import Ec2Adapter
from drsorch.clock import Clock
from drsorch.core import advance, new_execution, to_record
from drsorch.core import messages as m
from drsorch.core.state import State
from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import (
    AccessDeniedError,
    AwsError,
    ConflictError,
    CredentialsError,
    DrsorchError,
    LeaseLostError,
    QuotaExceededError,
    RefusedError,
)
from drsorch.history import ErrorEntry, ExecutionRecord, WaveRecord
from drsorch.ownership import DEFAULT_LEASE_SECONDS, new_holder
from drsorch.plan import Plan
from drsorch.redaction import for_disk, restore
from drsorch.store.base import HistoryStore, Lease, LeaseStore
from drsorch.text import printable

#: Job-log events whose rawError explains a failed launch.
_FAILURE_EVENTS = (
    "LAUNCH_FAILED",
    "SNAPSHOT_FAIL",
    "CONVERSION_FAIL",
    "CLEANUP_FAIL",
    "USING_PREVIOUS_SNAPSHOT_FAILED",
    "SERVER_SKIPPED",
)
_FATAL = (AccessDeniedError, CredentialsError)


class Observer(Protocol):
    """Told about the execution as it goes (the CLI's live view, logs, tests)."""

    def update(self, state: State) -> None: ...


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
    #: Save the engine state beside the record, for ``drsorch resume``. Simulated runs
    #: cannot be resumed (their region dies with the process), so they skip it.
    keep_state: bool = True
    #: Seconds of the clock to sleep at a time, so a cancel is noticed (None: all at once).
    sleep_slice: float | None = None
    #: 0: every change of the record is saved at once (Req 5.2; the default, and what runs
    #: against AWS get). A simulation in virtual time sets 1.0: server-only changes are
    #: then saved at most once per wall second (wave and execution changes still at once),
    #: since an hour of simulated polls passes in milliseconds.
    save_every: float = 0.0
    #: Seconds the execution's lease lives without renewal (see drsorch.ownership).
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: On resume: take over an expired lease whose holder may still exist (``--force``).
    takeover: bool = False
    #: On resume: the plan's Target.ExternalId, which the saved state does not keep.
    external_id: str | None = None


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
        approve: Callable[[int], bool] | None = None,
        log: Callable[[str], None] | None = None,
        holder: str | None = None,
    ) -> None:
        self.drs, self.ec2, self.store, self.clock = drs, ec2, store, clock
        #: This engine's name in the execution's lease.
        self.holder = holder or new_holder()
        self._lease: Lease | None = None
        self._lease_seconds = DEFAULT_LEASE_SECONDS
        self._leases: LeaseStore | None = store if isinstance(store, LeaseStore) else None
        self.observer = observer
        self.approve = approve or (lambda wave: False)
        self.log = log or (lambda text: None)
        self.cancel_requested: str | None = None
        #: Every event fed to the core, its time, and the commands it gave: for replay.
        self.trace: list[tuple[float, m.Message, list[m.Message]]] = []
        self._saved_revision = -1
        self._saved_waves: list[str] = []
        self._saved_at = 0.0
        self._save_every = 0.0
        self._keep_state = True
        self._wave_models: dict[int, tuple[dict[str, Any], WaveRecord]] = {}

    # -- public ------------------------------------------------------------------------------
    def run(self, plan: Plan, options: RunOptions) -> ExecutionRecord:
        state = new_execution(
            plan,
            execution_id=options.execution_id,
            now=self.clock.now(),
            initiated_by=options.initiated_by,
            source_account_id=options.source_account_id,
            target_account_id=options.target_account_id,
            region=options.region,
        )
        state["environment"] = options.environment
        return self.drive(state, options)

    def resume(self, options: RunOptions) -> ExecutionRecord:
        """Take ``options.execution_id`` over and continue it from the state saved before its
        engine stopped. The lease is claimed before the state is read, so no other engine
        can save after this one has read. Raises LeaseHeldError when another engine holds
        it (see :mod:`drsorch.ownership`), RefusedError when nothing can be resumed."""
        execution_id = options.execution_id
        self._claim(execution_id, options, takeover=options.takeover)
        try:
            state = self.store.get_state(execution_id)
            if state is None:
                raise RefusedError(f"execution {execution_id} has no saved engine state to resume")
            restore(state, external_id=options.external_id)
        except BaseException:
            self._release(execution_id)
            raise
        return self.drive(state, options, first=m.Resume())

    def cancel(self, reason: str = "cancelled by the user") -> None:
        """Ask for a graceful stop; safe to call from a signal handler."""
        self.cancel_requested = reason

    def drive(
        self, state: State, options: RunOptions, first: m.Message | None = None
    ) -> ExecutionRecord:
        """Run ``state`` until it ends: a new one from Start, a reloaded one from Resume."""
        self.state = state
        self._save_every = options.save_every
        self._keep_state = options.keep_state
        if self._lease is None:  # a new execution (a resume claimed it before reading)
            self._claim(state["execution_id"], options, takeover=False)
        try:
            self._save(state, force=True)  # Req 5.1: the RUNNING record exists before a launch
            self._loop(state, first or m.Start(), options)
        except LeaseLostError:
            raise  # the execution is another engine's now: record nothing, launch nothing
        except Exception as exc:
            first_line = (str(exc).splitlines() or [""])[0]
            self._break(state, f"drsorch internal error: {type(exc).__name__}: {first_line}")
            raise EngineError(first_line, self._final_record(state)) from exc
        except BaseException as exc:  # Ctrl-C, SystemExit (e.g. a closed output pipe)
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__
            self._break(
                state,
                f"drsorch was stopped ({why}) before the execution could "
                "finish; DRS jobs already started keep running",
            )
            raise
        self._release(state["execution_id"])
        return self._record(state)

    # -- the loop ------------------------------------------------------------------------------
    def _step(self, state: State, event: m.Message) -> list[m.Message]:
        now = self.clock.now()
        cmds = advance(state, event, now)
        self.trace.append((now, event, cmds))
        return cmds

    def _loop(self, state: State, first: m.Message, options: RunOptions) -> None:
        cmds = self._step(state, first)
        while True:
            self._after_step(state)
            if any(isinstance(c, m.Finish) for c in cmds):
                return
            io = [c for c in cmds if not isinstance(c, m.WakeAt)]
            if self._keep_state and any(isinstance(c, m.StartRecovery) for c in io):
                # Write ahead: the saved state names every launch before it goes out, so
                # a resume after a crash looks for its job instead of launching again.
                self._save(state, force=True)
            self._renew_if_due()
            if io:
                cmds = [out for c in io for ev in self._execute(c) for out in self._step(state, ev)]
                continue
            wake = min((c.time for c in cmds if isinstance(c, m.WakeAt)), default=None)
            if self.cancel_requested and not state["cancel_requested"]:
                cmds = self._step(state, m.Cancel(self.cancel_requested))
                continue
            self._sleep_until(wake if wake is not None else self.clock.now(), options)
            cmds = self._step(state, m.Tick())

    def _sleep_until(self, wake: float, options: RunOptions) -> None:
        # Never sleep through a lease renewal: a long wait between waves is still owned.
        longest = self._lease_seconds / 3
        if options.sleep_slice is not None:
            longest = min(longest, options.sleep_slice)
        while (left := wake - self.clock.now()) > 0:
            if self.cancel_requested and not self.state["cancel_requested"]:
                return  # wake up to deliver the cancel; once delivered, sleep as usual
            self.clock.sleep(min(left, longest))
            self._renew_if_due()

    def _after_step(self, state: State) -> None:
        if self.observer is not None:
            self.observer.update(state)
        self._save(state)

    # -- persistence ---------------------------------------------------------------------------
    def _record(self, state: State) -> ExecutionRecord:
        """The validated record; waves unchanged since the last save reuse their model, so
        a save costs what changed, not the whole plan (10 000 servers save often)."""
        data = to_record(state)
        waves = []
        for raw in data["WaveStatus"]:
            cached = self._wave_models.get(raw["WaveNumber"])
            if cached is None or cached[0] != raw:
                cached = (raw, WaveRecord.model_validate(raw))
                self._wave_models[raw["WaveNumber"]] = cached
            waves.append(cached[1])
        data["WaveStatus"] = waves
        return ExecutionRecord.model_validate(data)

    def _save(self, state: State, force: bool = False) -> None:
        if state["revision"] == self._saved_revision and not force:
            return
        waves = [w["status"] for w in state["waves"]]
        wave_change = waves != self._saved_waves or ExecutionStatus(state["status"]).terminal
        due = time.monotonic() - self._saved_at >= self._save_every
        if not (force or wave_change or due):
            return
        lease = self._next_lease()
        saved = for_disk(state) if self._keep_state else None
        self.store.put(self._record(state), saved, lease=lease)
        self._lease = lease
        self._saved_revision, self._saved_waves = state["revision"], waves
        self._saved_at = time.monotonic()

    # -- the lease ---------------------------------------------------------------------------
    def _next_lease(self) -> Lease:
        return Lease(self.holder, self.clock.now() + self._lease_seconds)

    def _claim(self, execution_id: str, options: RunOptions, *, takeover: bool) -> None:
        self._lease_seconds = options.lease_seconds
        if self._leases is None:
            raise TypeError(f"{type(self.store).__name__} keeps no leases")
        lease = self._next_lease()
        self._leases.claim(execution_id, lease, self.clock.now(), takeover=takeover)
        self._lease = lease

    def _renew_if_due(self) -> None:
        """Renew the lease once a third of its life has passed; another holder: stop.

        Only an expired lease can be taken over, so while ours has life left no other
        engine can hold the execution: the store is asked only when renewing."""
        if self._lease is None or self._leases is None:
            return
        if self._lease.expires_at - self.clock.now() > self._lease_seconds * 2 / 3:
            return
        lease = self._next_lease()
        self._leases.renew(self.state["execution_id"], lease)
        self._lease = lease

    def _release(self, execution_id: str) -> None:
        if self._lease is not None and self._leases is not None:
            self._leases.release(execution_id, self.holder)
        self._lease = None

    def _break(self, state: State, message: str) -> None:
        """Finalize FAILED after the engine stopped abnormally; the record must not be lost."""
        if not ExecutionStatus(state["status"]).terminal:
            advance(state, m.ApiFailed("drsorch", message, fatal=True), self.clock.now())
        try:
            try:
                self._save(state, force=True)
            except ValidationError:
                # The state itself is what broke (it makes no valid record): keep what can
                # be kept, the execution's summary and its errors, so the FAILED stays.
                bare = self._bare_record(state, message)
                self.store.put(bare, None, lease=self._next_lease())
            self._release(state["execution_id"])
        except LeaseLostError:
            pass  # another engine drives it now: its record is not ours to finalize
        except Exception as exc:  # the store itself is what broke: say so, don't mask it
            self.log(f"could not save the final record: {exc}")

    def _final_record(self, state: State) -> ExecutionRecord | None:
        """The record of a broken engine: whole if it can be made, else bare, else None."""
        try:
            return self._record(state)
        except ValidationError:
            pass
        try:
            return self._bare_record(state)
        except ValidationError:
            return None

    @staticmethod
    def _bare_record(state: State, message: str | None = None) -> ExecutionRecord:
        """The record without its waves, with its valid errors and ``message``."""
        data = to_record(state)
        data["WaveStatus"] = []
        errors = []
        for error in data["Errors"]:
            try:
                errors.append(ErrorEntry.model_validate(error))
            except ValidationError:
                errors.append(ErrorEntry(Message=printable(error.get("Message") or "an error")))
        if message and all(e.Message != message for e in errors):
            errors.append(ErrorEntry(Message=message))
        data["Errors"] = errors
        return ExecutionRecord.model_validate(data)

    # -- commands --------------------------------------------------------------------------------
    def _execute(self, cmd: m.Message) -> list[m.Message]:
        handler = _COMMANDS[type(cmd)]
        return handler(self, cmd)

    def _describe_servers(self, cmd: m.DescribeServers) -> list[m.Message]:
        try:
            found = self.drs.describe_source_servers(cmd.server_ids)
        except AwsError as exc:
            return [m.ApiFailed("DescribeSourceServers", str(exc), fatal=True)]
        return [m.ServersDescribed({sid: s.replication_state for sid, s in found.items()})]

    def _start_recovery(self, cmd: m.StartRecovery) -> list[m.Message]:
        self._renew_if_due()  # a launch goes out only under a lease surely ours
        try:
            if cmd.adopt_existing:
                since = (cmd.since or self.clock.now()) - JOB_LOOKBACK_SECONDS
                found = self.drs.find_job_by_tags({TOKEN_TAG: cmd.token}, since)
                if found is not None:
                    self.log(f"wave {cmd.wave}: adopted job {found.job_id} sent before the restart")
                    return [m.LaunchStarted(cmd.token, found.job_id)]
            job = self.drs.start_recovery(cmd.server_ids, is_drill=cmd.is_drill, tags=cmd.tags)
        except (QuotaExceededError, ConflictError) as exc:
            return [m.LaunchFailed(cmd.token, str(exc), requeue=True)]
        except AwsError as exc:
            return [m.LaunchFailed(cmd.token, str(exc))]
        self.log(f"wave {cmd.wave}: job {job.job_id} launches {len(cmd.server_ids)} server(s)")
        return [m.LaunchStarted(cmd.token, job.job_id)]

    def _poll_jobs(self, cmd: m.PollJobs) -> list[m.Message]:
        try:
            jobs = self.drs.describe_jobs(cmd.job_ids)
            out: dict[str, dict[str, Any]] = {}
            for job_id, job in jobs.items():
                participants = {
                    p.server_id: {
                        "launch_status": p.launch_status,
                        "recovery_instance_id": p.recovery_instance_id,
                    }
                    for p in job.participants
                }
                failed = [
                    p.server_id
                    for p in job.participants
                    if p.launch_status in ("FAILED", "TERMINATED")
                ]
                reasons = self._failure_reasons(job_id, failed) if failed else {}
                out[job_id] = {
                    "status": job.status,
                    "participants": participants,
                    "reasons": reasons,
                }
        except AwsError as exc:
            return [m.ApiFailed("DescribeJobs", str(exc), fatal=isinstance(exc, _FATAL))]
        return [m.JobsPolled(out)]

    def _failure_reasons(self, job_id: str, servers: list[str]) -> dict[str, str]:
        """What the job log says about each failed server (best effort)."""
        try:
            items = self.drs.job_log(job_id)
        except AwsError as exc:
            self.log(f"could not read the log of job {job_id}: {exc}")
            return {}
        reasons: dict[str, str] = {}
        for item in items:
            if item.server_id in servers and item.event in _FAILURE_EVENTS:
                reasons[item.server_id] = f"{item.event}: {item.raw_error or 'no details'}"
        return reasons

    def _resolve(self, cmd: m.ResolveInstances) -> list[m.Message]:
        try:
            found = self.drs.describe_recovery_instances(cmd.recovery_instance_ids)
        except AwsError as exc:
            return [
                m.ApiFailed("DescribeRecoveryInstances", str(exc), fatal=isinstance(exc, _FATAL))
            ]
        return [
            m.InstancesResolved(
                {
                    rid: (found[rid].ec2_instance_id if rid in found else None)
                    for rid in cmd.recovery_instance_ids
                }
            )
        ]

    def _check_health(self, cmd: m.CheckHealth) -> list[m.Message]:
        try:
            seen = self.ec2.describe_instance_status(cmd.instance_ids)
        except AwsError as exc:
            return [m.ApiFailed("DescribeInstanceStatus", str(exc), fatal=isinstance(exc, _FATAL))]
        return [
            m.HealthPolled(
                {
                    iid: {
                        "state": h.state,
                        "instance_status": h.instance_status,
                        "system_status": h.system_status,
                    }
                    for iid, h in seen.items()
                }
            )
        ]

    def _await_approval(self, cmd: m.AwaitApproval) -> list[m.Message]:
        if self.approve(cmd.wave):
            return [m.Approve(cmd.wave)]
        return [m.Cancel(f"wave {cmd.wave} needs an approval (PauseBefore) and did not get one")]


_COMMANDS: dict[type[m.Message], Callable[[Runner, Any], list[m.Message]]] = {
    m.DescribeServers: Runner._describe_servers,
    m.StartRecovery: Runner._start_recovery,
    m.PollJobs: Runner._poll_jobs,
    m.ResolveInstances: Runner._resolve,
    m.CheckHealth: Runner._check_health,
    m.AwaitApproval: Runner._await_approval,
}
