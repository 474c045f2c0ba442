"""``drsorch store init``: make a history store ready (design §5, §6; issue 9).

For ``dynamodb://TABLE?region=R`` it creates the table (on-demand billing, point-in-time
recovery on, its four indexes) and waits until it is ACTIVE; a table that is already there
with the right schema is said so (exit 0, point-in-time recovery turned on if it was off),
one with another schema is refused, naming the difference (exit 2). For a SQLite store it
creates the file, or upgrades its schema. Nothing is written when the store is ready.
"""

from __future__ import annotations

import os

import click

from drsorch.cli import main
from drsorch.cli.render import exits_on_errors
from drsorch.store import ENV_VAR, SqliteStore, open_store
from drsorch.text import printable


@main.group("store")
def store_group() -> None:
    """Manage the history store."""


@store_group.command("init")
@click.argument("url", required=False)
@exits_on_errors
def init(url: str | None) -> None:
    """Create the history store URL names (default: $DRSORCH_STORE, else the SQLite file
    in your data directory): dynamodb://TABLE?region=REGION, or sqlite:///path.db.

    A DynamoDB table is created with on-demand billing, point-in-time recovery and the
    indexes drsorch queries; running it again on a ready table changes nothing."""
    url = url or os.environ.get(ENV_VAR) or None
    if url is not None and url.strip().startswith("dynamodb:"):
        _init_dynamodb(url)
        return
    store = open_store(url)  # creates the file, or migrates it
    said = f"history store {store!r} is ready"
    try:
        if isinstance(store, SqliteStore):
            said = f"SQLite history store {store.path} is ready (schema {store.schema_version})"
    finally:
        store.close()
    click.echo(printable(said))


def _init_dynamodb(url: str) -> None:
    from drsorch.store.dynamodb import DynamoStore

    with DynamoStore(url, check=False) as store:
        outcome = store.init_table()
    if outcome.created:
        said = f"created DynamoDB table {store.table} (on-demand, point-in-time recovery on)"
    else:
        said = f"DynamoDB table {store.table} already exists with the right schema"
        if outcome.backups_turned_on:
            said += "; point-in-time recovery was off and is now on"
    for note in outcome.notes:
        said += f"; {note}"
    click.echo(printable(said))
