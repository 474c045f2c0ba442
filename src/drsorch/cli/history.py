"""``drsorch history`` and ``drsorch show``: reading the execution history (design §5, §6).

Both open the store named by ``--store``, else ``$DRSORCH_STORE``, else the default SQLite
file, and close it before they return. ``--json`` prints records as stored (design §5),
each epoch field with its ISO-8601 UTC sibling (``StartTimeIso``...), and nothing else on
stdout; messages go to stderr.
"""

from __future__ import annotations

import click

from drsorch.cli import main
from drsorch.cli.params import MAX_HISTORY_LIMIT, WholeRange
from drsorch.cli.render import (
    echo_json,
    exits_on_errors,
    make_console,
    record_json,
    render_history,
    render_record,
)
from drsorch.cli.render_report import render_stats
from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import RefusedError
from drsorch.outcomes import EXIT_BAD_INPUT
from drsorch.report.stats import plan_stats
from drsorch.store import DEFAULT_LIMIT, ENV_VAR, open_store
from drsorch.store.base import Damaged, resolve_id, shortest_unique_prefixes
from drsorch.text import printable

_STORE_HELP = (
    f"Where the history is: sqlite:///path.db or a file path (default: ${ENV_VAR}, "
    "else a SQLite file in your data directory)."
)


_STATUSES = ", ".join(s.value for s in ExecutionStatus)


def _check_status(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return ExecutionStatus(value.upper()).value
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a status; use one of {_STATUSES}") from None


@main.command("history")
@click.option("--plan", "plan_id", metavar="ID", help="Only executions of this plan.")
@click.option(
    "--status",
    metavar="STATUS",
    callback=lambda _ctx, _param, value: _check_status(value),
    help=f"Only executions with this status: {_STATUSES}.",
)
@click.option(
    "--limit",
    type=WholeRange(min=1, max=MAX_HISTORY_LIMIT),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="At most this many executions, newest first.",
)
@click.option("--store", "store_url", metavar="URL", help=_STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of records.")
@click.option(
    "--stats",
    is_flag=True,
    help="With --plan: the recovery time of its COMPLETED executions (min, median, last, "
    "and whether it is getting faster or slower) instead of the list.",
)
@exits_on_errors
def history(
    plan_id: str | None,
    status: str | None,
    limit: int,
    store_url: str | None,
    as_json: bool,
    stats: bool,
) -> None:
    """List recent executions, newest first (--stats: a plan's recovery times)."""
    if stats and plan_id is None:
        raise RefusedError("--stats needs --plan ID: the recovery times of one plan")
    if stats and status is not None:
        raise RefusedError(
            "--stats measures COMPLETED executions and counts the rest: leave --status out"
        )
    damaged: list[Damaged] = []
    store = open_store(store_url, read_only=True)
    try:
        records = store.query(
            plan_id=plan_id, status=status, limit=limit, on_damaged=damaged.append
        )
        # Ids as their shortest unique prefix in the whole store: what is shown can be
        # given back to `show` and `resume`.
        short = shortest_unique_prefixes([r.ExecutionId for r in records], store)
    finally:
        store.close()
    for bad in damaged:  # reported, and skipped: one damaged record never hides the rest
        click.echo(
            f"warning: execution {printable(bad.execution_id)} is unreadable and was left out: "
            f"{printable(bad.reason)}",
            err=True,
        )
    if stats and plan_id is not None:
        summary = plan_stats(plan_id, records)
        if as_json:
            echo_json(summary.to_dict())
        else:
            render_stats(summary, make_console())
        return
    if as_json:
        echo_json([record_json(record) for record in records])
    else:
        render_history(records, make_console(), short_ids=short)


@main.command("show")
@click.argument("execution_id")
@click.option("--store", "store_url", metavar="URL", help=_STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON, nothing else.")
@exits_on_errors
def show(execution_id: str, store_url: str | None, as_json: bool) -> None:
    """Show one execution: its waves, servers, times and errors.

    EXECUTION_ID may be a unique prefix of the id (at least 4 characters), as `history`
    shows it."""
    store = open_store(store_url, read_only=True)
    try:
        record = store.get(resolve_id(store, execution_id))
    finally:
        store.close()
    if record is None:
        click.echo(f"error: no execution {printable(execution_id)} in the history store", err=True)
        raise SystemExit(EXIT_BAD_INPUT)
    if as_json:
        echo_json(record_json(record))
    else:
        render_record(record, make_console())
