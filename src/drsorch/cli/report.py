"""``drsorch report``: the recovery report of one execution (issue 12).

Thin: it finds the execution (an id or a unique prefix, as ``show``), builds the report
with :mod:`drsorch.report`, and prints it (text, or ``--json``) and writes the files asked
for (``--html``, ``--junit``). Output paths are checked before anything is read. Exit 0
when the report was made, whatever the execution's outcome (the report says it); 2 for an
unknown or ambiguous id, a path that cannot be written, or a record with no waves.
"""

from __future__ import annotations

import click

from drsorch.cli import main
from drsorch.cli.outputs import check_output_file, write_output_file
from drsorch.cli.render import (
    echo_json,
    exits_on_errors,
    format_time,
    make_console,
    with_iso_times,
)
from drsorch.cli.render_report import render_report
from drsorch.clock import RealClock
from drsorch.errors import RefusedError
from drsorch.report import build_report, junit_xml, knows_dependencies, links_in_state
from drsorch.store import ENV_VAR, open_store
from drsorch.store.base import resolve_id
from drsorch.text import printable

_STORE_HELP = (
    f"Where the history is: sqlite:///path.db or a file path (default: ${ENV_VAR}, "
    "else a SQLite file in your data directory)."
)


@main.command("report")
@click.argument("execution_id")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, nothing else.")
@click.option(
    "--html",
    "html_path",
    metavar="FILE",
    help="Also write the report as one self-contained HTML page, with a timeline.",
)
@click.option(
    "--junit",
    "junit_path",
    metavar="FILE",
    help="Also write it as JUnit XML: a suite per wave, a test case per server.",
)
@click.option("--store", "store_url", metavar="URL", help=_STORE_HELP)
@exits_on_errors
def report_cmd(
    execution_id: str,
    as_json: bool,
    html_path: str | None,
    junit_path: str | None,
    store_url: str | None,
) -> None:
    """Report one execution's recovery time: per wave and server, its phases and their
    durations, the total against the plan's RtoTargetSeconds, the critical path of waves,
    errors and skipped work.

    EXECUTION_ID may be a unique prefix of the id (at least 4 characters), as `history`
    shows it."""
    html_file = None if html_path is None else check_output_file(html_path, "--html")
    junit_file = None if junit_path is None else check_output_file(junit_path, "--junit")
    store = open_store(store_url, read_only=True)
    try:
        found = resolve_id(store, execution_id)
        record = store.get(found)
        # Records older than DependsOn: the engine state saved beside them may say it.
        saved = None
        if record is not None and not knows_dependencies(record):
            saved = store.get_state(found)
    finally:
        store.close()
    if record is None:
        raise RefusedError(f"no execution {execution_id} in the history store")
    if not record.WaveStatus:
        raise RefusedError(
            f"execution {record.ExecutionId} ({record.Status.value}) has no waves in its "
            f"record, so there is nothing to report per wave; `drsorch show {found}` "
            "lists its errors"
        )
    report = build_report(record, now=RealClock().now(), links=links_in_state(saved))
    if report.running:
        click.echo(
            printable(
                f"note: execution {record.ExecutionId} is still {record.Status.value}; this "
                f"report shows what was recorded up to {format_time(report.as_of)}"
            ),
            err=True,
        )
    if html_file is not None:
        from drsorch.report.page import report_html  # matplotlib: only when asked for

        write_output_file(html_file, report_html(report).encode("utf-8"), "--html")
        click.echo(printable(f"wrote the HTML report to {html_file}"), err=True)
    if junit_file is not None:
        write_output_file(junit_file, junit_xml(report), "--junit")
        click.echo(printable(f"wrote the JUnit report to {junit_file}"), err=True)
    if as_json:
        echo_json(with_iso_times(report.to_dict()))  # epochs with ISO-8601 UTC, as --json does
    else:
        render_report(report, make_console())
