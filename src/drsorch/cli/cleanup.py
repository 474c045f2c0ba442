"""``drsorch cleanup``: terminate a finished drill's recovery instances (issue 11.7).

The work is :func:`drsorch.cleanup.clean_up`'s; this module finds the execution (a unique
id prefix, as ``history`` shows it), builds an AWS world for it as ``resume`` does (the
plan saved with the execution says which role to assume) and prints what was done. A
simulated execution's region died with its process: there is nothing left to terminate,
so it is refused; ``run --cleanup-after`` cleans a simulated drill up in its own process.
"""

from __future__ import annotations

import shlex
import sys

import click

from drsorch.cleanup import DEFAULT_TIMEOUT, check_cleanable, clean_up
from drsorch.cli import main
from drsorch.cli.params import ENDPOINT_URL, FiniteFloatRange
from drsorch.cli.render import describe_cleanup, echo_json, exits_on_errors, record_json
from drsorch.cli.signals import stop_at_once
from drsorch.clock import RealClock
from drsorch.core.state import load_state
from drsorch.errors import RefusedError
from drsorch.history import ExecutionRecord
from drsorch.outcomes import EXIT_FAILED, EXIT_OK
from drsorch.plan import Plan
from drsorch.resumption import check_same_target, plan_as_it_ran
from drsorch.store import open_store
from drsorch.store.base import HistoryStore, resolve_id
from drsorch.text import printable
from drsorch.wiring import real_aws


def cleanup_exit_code(record: ExecutionRecord) -> int:
    """0 when every instance is gone, 1 when some are left running."""
    entry = record.Cleanup
    return EXIT_OK if entry is not None and entry.Status == "COMPLETED" else EXIT_FAILED


def echo_cleanup(record: ExecutionRecord) -> None:
    """The clean-up for a person, on stderr: one line, then each failure."""
    click.echo(printable(f"clean-up of {record.ExecutionId}: {describe_cleanup(record)}"), err=True)
    entry = record.Cleanup
    for failure in entry.Failures if entry is not None else []:
        click.echo(
            printable(f"  not terminated: {failure.RecoveryInstanceId}: {failure.Message}"),
            err=True,
        )


def _refuse_unless_aws(record: ExecutionRecord, use_aws: bool) -> None:
    env = record.Environment
    if env is not None and env.Kind == "simulator":
        raise RefusedError(
            f"execution {record.ExecutionId} ran on the simulator, whose region ended with "
            "that process: there is nothing left to terminate. To clean a simulated drill "
            "up, run it with `drsorch run --cleanup-after`"
        )
    if not use_aws:
        raise RefusedError(
            f"execution {record.ExecutionId} ran against AWS: pass --aws (with the --profile "
            "and --region it ran with) to terminate its recovery instances"
        )


def _load_plan(store: HistoryStore, execution_id: str, external_id: str | None) -> Plan:
    saved = store.get_state(execution_id)
    if saved is None:
        raise RefusedError(
            f"execution {execution_id} has no saved engine state, so drsorch does not know "
            "which account and role it ran with; terminate its recovery instances in the "
            "DRS console"
        )
    state = load_state(saved, execution_id=execution_id)
    return plan_as_it_ran(state, external_id=external_id)


def cleanup_command(
    execution_id: str,
    *,
    region: str,
    profile: str | None = None,
    endpoint_url: str | None = None,
    store_url: str | None = None,
) -> str:
    """The ``drsorch cleanup`` command line that terminates an AWS drill's instances, with
    the options the run was given (shell-quoted)."""
    words = ["drsorch", "cleanup", execution_id, "--aws"]
    if profile:
        words += ["--profile", profile]
    words += ["--region", region]
    if endpoint_url:
        words += ["--endpoint-url", endpoint_url]
    if store_url:
        words += ["--store", store_url]
    return shlex.join(words)


@main.command("cleanup")
@click.argument("execution_id")
@click.option("--aws", "use_aws", is_flag=True, help="The drill ran against real AWS.")
@click.option("--profile", help="AWS profile (with --aws).")
@click.option("--region", help="AWS region (with --aws).")
@click.option(
    "--endpoint-url",
    type=ENDPOINT_URL,
    help="Send every AWS call to this endpoint (with --aws; AWS_ENDPOINT_URL works too).",
)
@click.option(
    "--external-id",
    envvar="DRSORCH_EXTERNAL_ID",
    help="The plan's Target.ExternalId, which is never saved to disk (or DRSORCH_EXTERNAL_ID).",
)
@click.option(
    "--timeout",
    type=FiniteFloatRange(min=0, max=86_400),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to follow the TERMINATE jobs before giving up on them (at most a day).",
)
@click.option("--store", "store_url", help="History store URL (default: DRSORCH_STORE or SQLite).")
@click.option("--json", "as_json", is_flag=True, help="Print only the updated record, as JSON.")
@exits_on_errors
def cleanup_cmd(
    execution_id: str,
    use_aws: bool,
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    external_id: str | None,
    timeout: float,
    store_url: str | None,
    as_json: bool,
) -> None:
    """Terminate a finished drill's recovery instances and record it.

    Starts DRS TERMINATE jobs (TerminateRecoveryInstances) for every recovery instance the
    drill's record names, follows them to their end and saves what was terminated, when,
    and what failed in the record (`drsorch show` prints it). Refused for a RECOVERY.
    EXECUTION_ID may be a unique prefix, as `history` shows it. Exit 0 when every instance
    is gone, 1 when some are left, 2 when refused."""
    if not use_aws and (profile or region or endpoint_url):
        raise RefusedError("--profile, --region and --endpoint-url need --aws")
    store = open_store(store_url)
    try:
        execution_id = resolve_id(store, execution_id)
        record = store.get(execution_id)
        if record is None:
            raise RefusedError(f"no execution {execution_id} in the history store")
        check_cleanable(record)
        _refuse_unless_aws(record, use_aws)
        plan = _load_plan(store, execution_id, external_id)
        world = real_aws(
            plan,
            profile=profile,
            region=region,
            clock=RealClock(),
            endpoint_url=endpoint_url,
            execution_id=execution_id,
            assume_now=True,  # a wrong --external-id is refused, nothing recorded
        )
        check_same_target(
            execution_id,
            ran_in=(record.TargetAccountId, record.Region),
            credentials_for=(world.options.target_account_id, world.options.region),
        )
        log = None if as_json else (lambda text: click.echo(printable(text), err=True))
        try:
            with stop_at_once():  # Ctrl-C, SIGTERM, SIGHUP
                record = clean_up(
                    record, world.drs, world.clock, store=store, timeout=timeout, log=log
                )
        except KeyboardInterrupt:
            again = cleanup_command(
                execution_id,
                region=world.options.region,
                profile=profile,
                endpoint_url=endpoint_url,
                store_url=store_url,
            )
            click.echo(
                printable(
                    f"stopped: the clean-up of {execution_id} did not finish and was not "
                    "recorded; TERMINATE jobs it started go on. Once they end, run: "
                    f"{again}"
                ),
                err=True,
            )
            sys.exit(EXIT_FAILED)  # instances may still run
    finally:
        store.close()
    if as_json:
        echo_json(record_json(record))
    else:
        echo_cleanup(record)
    sys.exit(cleanup_exit_code(record))
