"""``drsorch run``: run a recovery plan, on the simulator unless ``--aws`` (invariant 4)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, ParamSpec, TypeVar

import click

from drsorch.abandoned import close_in_store, is_simulated
from drsorch.cli import main
from drsorch.cli.cleanup_after import CleanupAfter
from drsorch.cli.live import ProgressLog
from drsorch.cli.outputs import check_output_file, with_junit
from drsorch.cli.params import ENDPOINT_URL, POLL_SECONDS, SEED, SPEED
from drsorch.cli.prompt import ApprovalPrompt, TerminalInput
from drsorch.cli.render import (
    echo_json,
    exits_on_errors,
    make_console,
    record_json,
    render_record,
)
from drsorch.cli.signals import interrupt, restore, take_over
from drsorch.cli.streams import guard_std_streams
from drsorch.cli.verbose import VerboseLog
from drsorch.clock import RealClock, VirtualClock
from drsorch.core.statuses import ExecutionStatus
from drsorch.effects import Approver
from drsorch.errors import RefusedError
from drsorch.gates import Confirm, plan_as_run
from drsorch.history import ExecutionRecord
from drsorch.outcomes import EXIT_INTERNAL, exit_code_for_error, exit_code_for_status
from drsorch.plan import Plan, load_plan
from drsorch.resumption import check_same_target, plan_as_it_ran, resumable_state
from drsorch.runner import EngineError, Runner
from drsorch.store import HistoryStore, open_store
from drsorch.store.base import RequestStore, resolve_id
from drsorch.text import markup_safe, printable
from drsorch.wiring import World, local_user, real_aws, simulated

P = ParamSpec("P")
R = TypeVar("R")


def _terminal_confirm() -> Confirm | None:
    """Ask on the terminal, or None when stdin is not one (CI, a pipe): nobody to ask.

    Ctrl-C or end of input at the question is a no, so the gate refuses. Called for every
    run, a RECOVERY or not, so a closed stdin (None) must not break a drill."""
    if sys.stdin is None or not sys.stdin.isatty():
        return None

    def confirm(question: str) -> bool:
        try:
            return click.confirm(question, default=False, err=True)
        except click.Abort:
            return False

    return confirm


def _stdin_is_a_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _approver(
    approve_all: bool, *, virtual: bool, execution: str, say: Callable[[str], None]
) -> Approver:
    """Who approves a PauseBefore wave (issue 11, item 1).

    ``--approve-all`` approves each at once. In virtual time (a simulation without
    ``--speed``) nothing moves while a question waits, so a terminal is asked. In real
    time (``--aws``, ``--speed``) nothing blocks: the wave waits PAUSED while every other
    branch goes on, until ``drsorch approve ID --wave N`` (from any terminal, through the
    store; on a terminal, :func:`_approval_prompt` asks there too), ``drsorch cancel ID``
    or its ApprovalTimeoutSeconds."""
    who = local_user()

    def approve(wave: int) -> bool | str | None:
        if approve_all:
            return f"{who} (--approve-all)"
        if virtual and _stdin_is_a_terminal():
            try:
                yes = click.confirm(f"Wave {wave} waits for approval. Start it?", err=True)
            except click.Abort:
                yes = False
            return f"{who} (at the prompt)" if yes else False
        say(
            f"wave {wave} waits for an approval (PauseBefore): drsorch approve {execution} "
            f"--wave {wave} (or drsorch cancel {execution})"
        )
        return None

    return approve


def _approval_prompt(
    world: World, store: HistoryStore, approve_all: bool, say: Callable[[str], None]
) -> ApprovalPrompt | None:
    """In real time on a terminal, PAUSED waves are also asked about there, without ever
    blocking the engine (see :mod:`drsorch.cli.prompt`); None elsewhere: virtual time asks
    with a plain question (nothing moves while it waits), ``--approve-all`` asks nobody."""
    if approve_all or isinstance(world.clock, VirtualClock) or not _stdin_is_a_terminal():
        return None
    source = TerminalInput.of_stdin()
    if source is None or not isinstance(store, RequestStore):
        return None
    return ApprovalPrompt(source, store, world.options.execution_id, who=local_user(), say=say)


def _check_approvals_possible(plan: Plan, world: World, approve_all: bool) -> None:
    """Refuse at start a plan whose approvals nobody could give (issue 11, item 1): a
    simulation in virtual time, with no terminal and no --approve-all, would let 24 virtual
    hours pass in a blink and cancel the wave."""
    paused = [w.wave_number for w in plan.waves if w.pause_before]
    virtual = isinstance(world.clock, VirtualClock)
    if paused and not approve_all and virtual and not _stdin_is_a_terminal():
        raise RefusedError(
            f"wave(s) {', '.join(map(str, paused))} wait for an approval (PauseBefore) "
            "and nobody can give it: this simulation runs in virtual time with no "
            "terminal. Pass --approve-all, or --speed N to approve with `drsorch "
            "approve` from another terminal; nothing was run"
        )


def _check_stepfunctions_options(
    state_machine_arn: str | None, *, simulator: bool, local_only: bool
) -> None:
    """``--stepfunctions`` starts a workflow on AWS and returns: what only a local engine
    does (the simulator, --cleanup-after, --junit, --approve-all) cannot go with it."""
    if state_machine_arn is None:
        raise RefusedError("--idempotency-key goes with --stepfunctions STATE_MACHINE_ARN")
    if simulator:
        raise RefusedError(
            "--sim, --seed and --speed are for the simulator; a --stepfunctions execution "
            "runs on AWS"
        )
    if local_only:
        raise RefusedError(
            "--cleanup-after, --junit and --approve-all need the engine in this process; with "
            "--stepfunctions it runs in AWS: approve with `drsorch approve`, and clean up "
            "with `drsorch cleanup ID --aws` once it ends"
        )


def _driving_options(command: Callable[P, R]) -> Callable[P, R]:
    """The options ``run`` and ``resume`` share: AWS profile and region, approvals, the
    store, and how the outcome is shown."""
    for option in reversed(
        (
            click.option("--profile", help="AWS profile (with --aws)."),
            click.option(
                "--endpoint-url",
                type=ENDPOINT_URL,
                help="Send every AWS call (STS, DRS, EC2) to this endpoint, e.g. the "
                "simulator's `drsorch sim serve` (with --aws; AWS_ENDPOINT_URL works too).",
            ),
            click.option("--region", help="AWS region (with --aws)."),
            click.option("--approve-all", is_flag=True, help="Approve every PauseBefore wave."),
            click.option(
                "--store", "store_url", help="History store URL (default: DRSORCH_STORE or SQLite)."
            ),
            click.option(
                "--json", "as_json", is_flag=True, help="Print only the history record, as JSON."
            ),
            click.option("--quiet", "-q", is_flag=True, help="No live progress; the summary only."),
            click.option(
                "--verbose",
                "-v",
                is_flag=True,
                help="Also show, as they happen, retried AWS calls, throttling and Retry-After "
                "waits, lost answers and adopted jobs (on stderr with --json or --quiet).",
            ),
        )
    ):
        command = option(command)
    return command


@main.command("run")
@click.argument("plan_path", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--aws", "use_aws", is_flag=True, help="Run against real AWS (default: simulator).")
@click.option("--sim", "scenario", type=click.Path(dir_okay=False), help="Simulator scenario.")
@click.option(
    "--seed",
    type=SEED,
    default=None,
    help="Simulator seed (default: the scenario's, else 0).",
)
@click.option(
    "--speed",
    type=SPEED,
    help="Replay the simulation at X times real time (default: virtual time, instant).",
)
@click.option("--recovery", is_flag=True, help="Allow a real RECOVERY (not a drill).")
@click.option("--drill", is_flag=True, help="Run the plan as a DRILL whatever it says.")
@click.option("--yes", "-y", is_flag=True, help="Confirm a RECOVERY without asking.")
@click.option(
    "--poll-seconds",
    type=POLL_SECONDS,
    help="Seconds between DescribeJobs polls of the execution's jobs (default 30). "
    "Shorter suits a rehearsal against a sped-up `drsorch sim serve`.",
)
@click.option(
    "--cleanup-after",
    is_flag=True,
    help="When the drill ends (COMPLETED, FAILED or CANCELLED), terminate its recovery "
    "instances and record it (a DRILL only).",
)
@click.option(
    "--junit",
    "junit_path",
    metavar="FILE",
    help="When the execution ends, also write it as JUnit XML (a suite per wave, a test "
    "case per server) for a CI system. Checked before anything runs.",
)
@click.option(
    "--stepfunctions",
    "state_machine_arn",
    metavar="STATE_MACHINE_ARN",
    help="Start the execution on drsorch's deployed state machine (AWS Step Functions) "
    "and return at once; needs the stack's store (--store dynamodb://...).",
)
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="With --stepfunctions: starting again with the same key and plan returns the same "
    "execution and launches nothing; the same key with another plan is refused.",
)
@_driving_options
@exits_on_errors
def run_cmd(
    plan_path: str,
    use_aws: bool,
    profile: str | None,
    endpoint_url: str | None,
    region: str | None,
    scenario: str | None,
    seed: int | None,
    speed: float | None,
    recovery: bool,
    drill: bool,
    yes: bool,
    poll_seconds: float | None,
    cleanup_after: bool,
    junit_path: str | None,
    state_machine_arn: str | None,
    idempotency_key: str | None,
    approve_all: bool,
    store_url: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Run a recovery plan as a drill (or, confirmed, a recovery) and record it."""
    if state_machine_arn is not None or idempotency_key is not None:
        _check_stepfunctions_options(
            state_machine_arn,
            simulator=scenario is not None or speed is not None or seed is not None,
            local_only=cleanup_after or junit_path is not None or approve_all,
        )
        use_aws = True  # the workflow runs on AWS; --profile/--region/--endpoint-url apply
    if use_aws and (scenario is not None or speed is not None or seed is not None):
        raise RefusedError(
            "--sim, --seed and --speed are for the simulator; leave them out with --aws"
        )
    if not use_aws and (profile is not None or region is not None or endpoint_url is not None):
        raise RefusedError("--profile, --region and --endpoint-url need --aws")
    junit_file = None if junit_path is None else check_output_file(junit_path, "--junit")
    loaded = load_plan(plan_path)
    if cleanup_after and (recovery or (loaded.execution_type != "DRILL" and not drill)):
        raise RefusedError(
            "--cleanup-after terminates a drill's recovery instances; a RECOVERY's are the "
            "workload: leave --cleanup-after out (or rehearse with --drill); nothing was launched"
        )
    plan = plan_as_run(
        loaded,
        recovery=recovery,
        drill=drill,
        yes=yes,
        confirm=_terminal_confirm(),
    )
    if state_machine_arn is not None:
        from drsorch.cli.stepfunctions import start_on_stepfunctions

        start_on_stepfunctions(
            plan,
            state_machine_arn=state_machine_arn,
            key=idempotency_key,
            store_url=store_url,
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
            as_json=as_json,
        )
        return
    store = open_store(store_url)
    chatter = VerboseLog() if verbose else None
    world: World
    try:
        if use_aws:
            world = real_aws(
                plan,
                profile=profile,
                region=region,
                clock=RealClock(),
                endpoint_url=endpoint_url,
                on_retry=chatter.retried if chatter else None,
                on_lost_answer=chatter.lost_answer if chatter else None,
            )
        else:
            world = simulated(
                plan,
                scenario_path=scenario,
                seed=seed,
                speed=speed,
                on_retry=chatter.retried if chatter else None,
                on_lost_answer=chatter.lost_answer if chatter else None,
            )
        _check_approvals_possible(plan, world, approve_all)
    except BaseException:  # a bad scenario, credentials, region...: nothing ran
        store.close()
        raise
    world.options.job_poll_seconds = poll_seconds
    where = "AWS" if use_aws else "the simulator"
    headline = (
        f"[bold]{plan.execution_type}[/bold] of plan {markup_safe(plan.plan_id)} on {where}: "
        f"execution {markup_safe(world.options.execution_id)}"
    )

    aftercare = (
        CleanupAfter(
            world,
            store,
            profile=profile,
            endpoint_url=endpoint_url,
            store_url=store_url,
            external_id=plan.target is not None and plan.target.external_id is not None,
        )
        if cleanup_after
        else None
    )

    def start(runner: Runner) -> ExecutionRecord:
        record = runner.run(plan, world.options)
        if aftercare is None:
            return record
        # The region (simulated or not) still lives: terminate the drill's instances now,
        # saying so in the live view, -v's lines on stderr, or to nobody.
        return aftercare.after_end(record, runner.log)

    _drive(
        world,
        store,
        headline,
        start if junit_file is None else with_junit(start, junit_file),
        as_json=as_json,
        quiet=quiet,
        approve_all=approve_all,
        verbose=chatter,
        after_break=aftercare.after_break if aftercare else None,
        after_stop=aftercare.after_stop if aftercare else None,
    )


def _drive(
    world: World,
    store: HistoryStore,
    headline: str,
    start: Callable[[Runner], ExecutionRecord],
    *,
    as_json: bool,
    quiet: bool,
    approve_all: bool,
    verbose: VerboseLog | None = None,
    after_break: Callable[[ExecutionRecord | None], None] | None = None,
    after_stop: Callable[[ExecutionStatus | None], None] | None = None,
    resuming: bool = False,
) -> None:
    """Run (or resume) with live progress and signal handling; print the record; exit.

    Only a signal stops a run (issue 11): a closed stdout or stderr (``| head -2``) drops
    the output that follows and the execution goes on to its end, recorded, its exit code
    from its outcome. The first Ctrl-C, SIGTERM or SIGHUP cancels gracefully (no new launches);
    a second one stops at once, recorded FAILED.

    With ``verbose`` (``-v``) its lines join the live view; without one (``--json``,
    ``--quiet``) they go to stderr, with the runner's log and the core's notes.

    ``after_break(record)`` is called once the engine broke has been said (with the record
    it finalized FAILED), ``after_stop(saved status)`` once a stop at once has been: what
    ``--cleanup-after`` does then (:mod:`drsorch.cli.cleanup_after`)."""
    guard_std_streams()
    console = make_console(stderr=as_json)
    live = None if (as_json or quiet) else ProgressLog(console, world.clock)
    talk = live
    if verbose is not None:
        if talk is None:  # stdout holds only the JSON (or the summary): -v says it on stderr
            talk = ProgressLog(make_console(stderr=True), world.clock, progress=False)
        verbose.attach(talk.log)
    # Without the live view (--json, --quiet) what must be said still reaches stderr: a
    # wave waiting for its approval, a notification that failed, a store that could not save.
    say = talk.log if talk else (lambda text: click.echo(printable(text), err=True))
    prompt = _approval_prompt(world, store, approve_all, say)
    runner = Runner(
        drs=world.drs,
        ec2=world.ec2,
        store=store,
        clock=world.clock,
        observer=talk,
        approve=_approver(
            approve_all,
            virtual=isinstance(world.clock, VirtualClock),
            execution=world.options.execution_id,
            say=say,
        ),
        log=talk.log if talk else None,
        warn=say,
        notify=world.notify,
        operator=prompt,
        lease_clock=RealClock(),  # a lease is wall time, whatever the engine's clock
    )

    #: The signals this run handles, and the handlers they had.
    previous: dict[signal.Signals, Any] = {}

    def cancel(signum: int, frame: FrameType | None) -> None:
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        runner.cancel(f"cancelled with {name}")
        take_over(interrupt, previous)  # a second one stops at once
        # The signal may land while the main thread writes to the same stream: a re-entrant
        # write raises RuntimeError. The cancel is asked for either way.
        with contextlib.suppress(RuntimeError, OSError):
            console.print(
                f"[yellow]cancelling ({name}): no new launches; started jobs are recorded. "
                "Ctrl-C again to stop at once.[/yellow]"
            )

    take_over(cancel, previous)  # the first one cancels (see drsorch.cli.signals)
    if live and resuming:
        runner.on_resuming = lambda: console.print(headline)
    elif live:
        console.print(headline)
    execution = world.options.execution_id
    try:
        record = start(runner)
    except EngineError as exc:
        saved = runner.keeper.saved_status
        recorded = (
            "the execution was recorded as FAILED"
            if saved is ExecutionStatus.FAILED
            else "the execution could not be recorded as FAILED: the store holds "
            f"{'no record' if saved is None else f'a {saved.value} record'} of it"
        )
        click.echo(printable(f"error: the engine broke: {exc}; {recorded} ({execution})"), err=True)
        if after_break is not None:
            after_break(exc.record)
        sys.exit(exit_code_for_error(exc))
    except KeyboardInterrupt:
        message, code = _stopped(execution, runner.keeper.saved_status)
        click.echo(message, err=True)
        if after_stop is not None:
            after_stop(runner.keeper.saved_status)
        sys.exit(code)
    finally:
        if prompt is not None:
            prompt.close()
        restore(previous)
        store.close()
    if as_json:
        echo_json(record_json(record))
    else:
        render_record(record, make_console())
    sys.exit(exit_code_for_status(record.Status))


def _stopped(execution: str, saved: ExecutionStatus | None) -> tuple[str, int]:
    """What a run stopped at once says, and its exit code: only what the store really holds.
    A final record that could not be saved (the warning before it says why) is the
    engine's failure, exit 3."""
    if saved is not None and saved.terminal:
        return f"stopped; execution {execution} recorded as {saved.value}", (
            exit_code_for_status(saved)
        )
    held = "no record" if saved is None else f"a {saved.value} record"
    return (
        f"stopped; execution {execution} could not be recorded as FAILED: the store holds "
        f"{held} of it (the warning above says why)",
        EXIT_INTERNAL,
    )


def _close_simulated(store: HistoryStore, execution_id: str, *, force: bool, as_json: bool) -> None:
    """``resume`` of a simulated execution whose engine is gone: nothing can continue it
    (its region ended with its process), so it is recorded FAILED, said, and shown; exit
    1. One whose engine lives is refused (exit 2). See :mod:`drsorch.abandoned`."""
    closed = close_in_store(
        store, execution_id, now=RealClock().now(), force=force, by=local_user()
    )
    store.close()
    click.echo(
        printable(
            f"execution {execution_id} ran on the simulator and its engine is gone: it cannot "
            "be resumed (its region ended with that process); recorded it FAILED"
        ),
        err=True,
    )
    if as_json:
        echo_json(record_json(closed))
    else:
        render_record(closed, make_console())
    sys.exit(exit_code_for_status(closed.Status))


@main.command("resume")
@click.argument("execution_id")
@click.option("--aws", "use_aws", is_flag=True, help="The execution ran against real AWS.")
@click.option(
    "--force",
    is_flag=True,
    help="Take over an execution whose engine's lease expired but may still be alive "
    "(another host, a suspended process). A live lease is never taken over.",
)
@click.option(
    "--external-id",
    envvar="DRSORCH_EXTERNAL_ID",
    help="The plan's Target.ExternalId, which is never saved to disk (or DRSORCH_EXTERNAL_ID).",
)
@_driving_options
@exits_on_errors
def resume_cmd(
    execution_id: str,
    use_aws: bool,
    force: bool,
    external_id: str | None,
    profile: str | None,
    endpoint_url: str | None,
    region: str | None,
    approve_all: bool,
    store_url: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Continue an execution whose engine stopped (a crash, a killed process).

    Launches that may have gone out before the stop are first looked for by their job
    tag and adopted, so nothing is launched twice. An execution another engine still
    drives (its lease is live) is refused. A simulated execution whose engine is gone
    cannot be continued (its region ended with it): it is recorded FAILED."""
    if not use_aws and (profile or region or endpoint_url):
        raise RefusedError("--profile, --region and --endpoint-url need --aws")
    store = open_store(store_url)
    try:
        execution_id = resolve_id(store, execution_id)  # a unique prefix, as history shows
        record = store.get(execution_id)
        if record is not None and is_simulated(record) and not record.Status.terminal:
            _close_simulated(store, execution_id, force=force, as_json=as_json)
    except BaseException:
        store.close()
        raise
    state, takeover = resumable_state(
        store,
        execution_id,
        use_aws=use_aws,
        now=RealClock().now(),
        force=force,
        external_id=external_id,
    )
    plan = plan_as_it_ran(state, external_id=external_id)
    chatter = VerboseLog() if verbose else None
    world = real_aws(
        plan,
        profile=profile,
        region=region,
        clock=RealClock(),
        endpoint_url=endpoint_url,
        execution_id=execution_id,
        on_retry=chatter.retried if chatter else None,
        on_lost_answer=chatter.lost_answer if chatter else None,
        assume_now=True,  # a wrong --external-id is refused, the execution left resumable
    )
    check_same_target(
        execution_id,
        ran_in=(state["target_account_id"], state["region"]),
        credentials_for=(world.options.target_account_id, world.options.region),
    )
    world.options.takeover = takeover
    world.options.external_id = external_id
    headline = (
        f"resuming [bold]{markup_safe(state['execution_type'])}[/bold] of plan "
        f"{markup_safe(state['plan_id'])} on AWS: "
        f"execution {execution_id}"
    )
    _drive(
        world,
        store,
        headline,
        lambda runner: runner.resume(world.options),
        resuming=True,
        as_json=as_json,
        quiet=quiet,
        approve_all=approve_all,
        verbose=chatter,
    )
