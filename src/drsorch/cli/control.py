"""``drsorch approve`` and ``drsorch cancel``: asking a running execution, from any
terminal, through the history store (issue 11, item 1).

The request is left in the store (:class:`~drsorch.store.base.RequestStore`); the engine
driving the execution takes it at its next step (within a second against AWS or with
``--speed``) and records who approved or cancelled. Nothing here talks to AWS. A request
the engine could never act on is refused here, exit 2: an execution that has ended, a wave
that does not wait for an approval, a store that cannot carry requests.
"""

from __future__ import annotations

import time

import click

from drsorch.abandoned import is_simulated
from drsorch.cli import main
from drsorch.cli.params import WholeRange
from drsorch.cli.render import exits_on_errors
from drsorch.cli.stepfunctions import wake_workflow
from drsorch.core.statuses import WaveStatus
from drsorch.errors import RefusedError
from drsorch.history import ExecutionRecord
from drsorch.ownership import holder_is_gone
from drsorch.plan.model import MAX_WAVE_NUMBER
from drsorch.store import open_store
from drsorch.store.base import HistoryStore, LeaseStore, RequestStore, resolve_id
from drsorch.text import printable
from drsorch.wiring import local_user

__all__ = ["approve_cmd", "cancel_cmd"]


def _running(store: HistoryStore, text: str) -> tuple[RequestStore, ExecutionRecord]:
    """The store as a request store, and the record of the running execution ``text``
    names (an id or a unique prefix)."""
    if not isinstance(store, RequestStore):
        raise RefusedError(
            f"this history store ({type(store).__name__}) cannot carry requests to a running "
            "execution yet; use a SQLite store, or Ctrl-C in the engine's terminal"
        )
    record = store.get(resolve_id(store, text))
    if record is None:  # (removed between the two reads)
        raise RefusedError(f"no execution {text} in the history store")
    if record.Status.terminal:
        raise RefusedError(
            f"execution {record.ExecutionId} already ended {record.Status.value}: nothing to ask"
        )
    return store, record


def _engine_note(store: HistoryStore, record: ExecutionRecord) -> str:
    """Who will act on the request: the live engine, or the next resume (which records a
    simulated execution whose engine is gone FAILED: nothing can continue it)."""
    execution_id = record.ExecutionId
    lease = store.lease_of(execution_id) if isinstance(store, LeaseStore) else None
    if lease is not None and lease.expires_at > time.time() and not holder_is_gone(lease.holder):
        return f"its engine ({lease.holder}) acts on it at its next step"
    if is_simulated(record):
        return (
            "no engine drives it now, and none can: it ran on the simulator, whose region "
            f"ended with its engine; `drsorch resume {execution_id}` records it FAILED"
        )
    return (
        "no engine drives it now (its lease expired): the request waits for "
        f"`drsorch resume {execution_id}`"
    )


@main.command("approve")
@click.argument("execution_id")
@click.option(
    "--wave",
    "wave",
    type=WholeRange(min=1, max=MAX_WAVE_NUMBER),
    required=True,
    help="The WaveNumber of the PAUSED wave.",
)
@click.option("--store", "store_url", help="History store URL (default: DRSORCH_STORE or SQLite).")
@exits_on_errors
def approve_cmd(execution_id: str, wave: int, store_url: str | None) -> None:
    """Approve a wave that waits in PAUSED (PauseBefore) of a running execution."""
    with open_store(store_url) as store:
        requests, record = _running(store, execution_id)
        waves = {w.WaveNumber: w for w in record.WaveStatus}
        if wave not in waves:
            known = ", ".join(str(n) for n in sorted(waves)) or "none"
            raise RefusedError(
                f"execution {record.ExecutionId} has no wave {wave} (its waves: {known})"
            )
        status = waves[wave].Status
        if status != WaveStatus.PAUSED:
            raise RefusedError(
                f"wave {wave} of execution {record.ExecutionId} is {status.value}, not waiting "
                "for an approval; approve it once it is PAUSED"
            )
        by = local_user()
        requests.add_request(record.ExecutionId, {"kind": "approve", "wave": wave, "by": by})
        note = _engine_note(store, record)
        woken = wake_workflow(store, record.ExecutionId)
        note = woken or note
    click.echo(printable(f"approval of wave {wave} sent for {record.ExecutionId}; {note}"))


@main.command("cancel")
@click.argument("execution_id")
@click.option("--store", "store_url", help="History store URL (default: DRSORCH_STORE or SQLite).")
@exits_on_errors
def cancel_cmd(execution_id: str, store_url: str | None) -> None:
    """Cancel a running execution gracefully: no new launches, started jobs recorded."""
    with open_store(store_url) as store:
        requests, record = _running(store, execution_id)
        requests.add_request(record.ExecutionId, {"kind": "cancel", "by": local_user()})
        note = _engine_note(store, record)
        woken = wake_workflow(store, record.ExecutionId)
        note = woken or note
    click.echo(printable(f"cancel sent for {record.ExecutionId}; {note}"))
