"""A store that degrades record by record, opens read-only for readers, keeps its file
private, refuses what is not a file, keeps no secrets, and holds leases (issue
"Hardening" 1 and 4)."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tests.utils.history import make_record, make_records
from tests.utils.stores import PAGE, filled_store_bytes

from drsorch.cli import EXIT_BAD_INPUT, EXIT_OK, main
from drsorch.errors import LeaseHeldError, LeaseLostError, RefusedError, StoreError
from drsorch.redaction import for_disk, needs, restore
from drsorch.store import MemoryStore, SqliteStore
from drsorch.store.base import Lease
from drsorch.store.sqlite import SCHEMA_VERSION

pytestmark = pytest.mark.integration


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def damage(db: Path, execution_id: str, text: str = '{"PlanId": 1}') -> None:
    conn = sqlite3.connect(db)
    conn.execute("UPDATE executions SET record = ? WHERE execution_id = ?", (text, execution_id))
    conn.commit()
    conn.close()


# -- record by record ----------------------------------------------------------------------


def test_one_damaged_record_does_not_hide_the_others(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    records = make_records(24, seed=4)
    with SqliteStore(db) as store:
        for record in records:
            store.put(record)
    bad = sorted(records, key=lambda r: r.StartTime)[-1].ExecutionId  # the newest one
    damage(db, bad)
    result = run("history", "--limit", "1000", "--store", str(db), "--json")
    assert result.exit_code == EXIT_OK, result.output
    import json

    listed = {r["ExecutionId"] for r in json.loads(result.stdout)}
    assert listed == {r.ExecutionId for r in records} - {bad}
    assert f"execution {bad} is unreadable" in result.stderr
    # One short line: the first problem and how many more, not pydantic's whole report.
    [warning] = result.stderr.splitlines()
    assert len(warning) < 400 and "pydantic.dev" not in warning and "\\x0a" not in warning
    assert "more)" in warning, warning
    shown = run("show", bad, "--store", str(db))
    assert shown.exit_code == EXIT_BAD_INPUT
    assert f"record of {bad} is unreadable" in shown.stderr
    assert "Traceback" not in shown.output


def test_a_query_reads_past_damaged_rows_to_fill_its_limit(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    records = sorted(make_records(10, seed=5), key=lambda r: r.StartTime, reverse=True)
    with SqliteStore(db) as store:
        for record in records:
            store.put(record)
    for record in records[:3]:
        damage(db, record.ExecutionId, "not json")
    seen: list[str] = []
    with SqliteStore(db, read_only=True) as store:
        found = store.query(limit=5, on_damaged=lambda d: seen.append(d.execution_id))
    assert [r.ExecutionId for r in found] == [r.ExecutionId for r in records[3:8]]
    assert seen == [r.ExecutionId for r in records[:3]]


# -- readers are read-only -------------------------------------------------------------------


def test_readers_never_create_migrate_or_write_the_store(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "history.db"
    assert run("history", "--store", str(missing)).exit_code == EXIT_OK
    assert run("show", "x", "--store", str(missing)).exit_code == EXIT_BAD_INPUT
    assert not missing.parent.exists()

    old = tmp_path / "old.db"
    with SqliteStore(old) as store:
        store.put(make_record(1))
    conn = sqlite3.connect(old)
    conn.execute("DROP TABLE leases")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    before = old.read_bytes()
    assert run("history", "--store", str(old)).exit_code == EXIT_OK
    assert run("show", make_record(1).ExecutionId, "--store", str(old)).exit_code == EXIT_OK
    assert old.read_bytes() == before  # not migrated, not touched
    with SqliteStore(old, read_only=True) as reader:
        assert reader.lease_of(make_record(1).ExecutionId) is None
        with pytest.raises(StoreError, match="read-only"):
            reader.put(make_record(2))


# -- the file ----------------------------------------------------------------------------------


def test_the_store_file_and_its_new_directories_are_private(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "history.db"
    old_umask = os.umask(0o022)
    try:
        with SqliteStore(db) as store:
            store.put(make_record(1))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "history.db"
    os.mkfifo(fifo)
    for read_only in (False, True):
        done: list[BaseException] = []

        def open_it(read_only: bool = read_only, done: list[BaseException] = done) -> None:
            try:
                SqliteStore(fifo, read_only=read_only)
            except BaseException as exc:
                done.append(exc)

        worker = threading.Thread(target=open_it, daemon=True)
        worker.start()
        worker.join(5)
        assert not worker.is_alive(), "opening a FIFO blocked"
        assert isinstance(done[0], StoreError) and "not a regular file" in str(done[0])
    with pytest.raises(StoreError, match="not a regular file"):
        SqliteStore("/dev/null")


def test_a_damaged_file_is_reported_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    data = filled_store_bytes(db, records=60, seed=2)
    for number in range(1, len(data) // PAGE):  # ruin every b-tree page header but the first
        data[number * PAGE : number * PAGE + 8] = b"\xee" * 8
    db.write_bytes(bytes(data))
    result = run("history", "--store", str(db))
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert str(db) in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


# -- secrets --------------------------------------------------------------------------------


def test_the_external_id_never_reaches_the_saved_state() -> None:
    state = {"execution_id": "e", "plan": {"PlanId": "p", "Target": {"ExternalId": "s3cret"}}}
    saved = for_disk(state)
    assert "s3cret" not in repr(saved) and needs(saved) == ["Target.ExternalId"]
    assert state["plan"]["Target"]["ExternalId"] == "s3cret"  # the live state keeps it
    with pytest.raises(RefusedError, match="--external-id"):
        restore(dict(saved), external_id=None)
    back = restore(dict(saved), external_id="s3cret")
    assert back["plan"]["Target"]["ExternalId"] == "s3cret" and needs(back) == []
    plain = {"plan": {"PlanId": "p"}}
    assert for_disk(plain) is plain


# -- leases: the same contract in every store --------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        yield MemoryStore()
    else:
        with SqliteStore(tmp_path / "history.db") as sqlite:
            yield sqlite


def test_lease_contract(store: Any) -> None:
    record = make_record(3)
    eid = record.ExecutionId
    store.claim(eid, Lease("A", 200.0), now=100.0)
    assert store.lease_of(eid) == Lease("A", 200.0)
    store.claim(eid, Lease("A", 250.0), now=150.0)  # renewing by claiming again
    with pytest.raises(LeaseHeldError) as live:
        store.claim(eid, Lease("B", 400.0), now=249.0, takeover=True)
    assert live.value.holder == "A" and not live.value.expired
    with pytest.raises(LeaseHeldError) as expired:
        store.claim(eid, Lease("B", 400.0), now=250.0)
    assert expired.value.expired and "--force" in str(expired.value)
    store.put(record, {"s": 1}, lease=Lease("A", 300.0))  # A still holds it: saved, renewed
    assert store.lease_of(eid) == Lease("A", 300.0)
    store.claim(eid, Lease("B", 500.0), now=301.0, takeover=True)
    with pytest.raises(LeaseLostError, match="held by B"):
        store.put(
            record.model_copy(update={"PlanName": "stale"}), {"s": 2}, lease=Lease("A", 600.0)
        )
    with pytest.raises(LeaseLostError):
        store.renew(eid, Lease("A", 600.0))
    assert store.get(eid) == record and store.get_state(eid) == {"s": 1}  # A wrote nothing
    store.release(eid, "A")  # not A's: nothing happens
    assert store.lease_of(eid) == Lease("B", 500.0)
    store.release(eid, "B")
    assert store.lease_of(eid) is None
    with pytest.raises(LeaseLostError, match="held by nobody"):
        store.renew(eid, Lease("B", 700.0))  # released: a renewal does not take it back


def test_a_new_file_has_the_lease_table(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "h.db") as store:
        assert store.schema_version == SCHEMA_VERSION >= 4


# -- bad input at the edges ----------------------------------------------------------------------


def test_a_store_that_is_a_directory_is_bad_input(tmp_path: Path) -> None:
    plan = Path(__file__).parents[2] / "examples" / "three-tier.yaml"
    for args in (["run", str(plan)], ["history"], ["show", "x"]):
        result = run(*args, "--store", str(tmp_path), "--quiet" if args[0] == "run" else "--json")
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert "is a directory" in result.stderr and "Traceback" not in result.output


def test_the_simulator_endpoint_refuses_a_bad_content_length() -> None:
    import http.client

    from drsorch.clock import VirtualClock
    from drsorch.sim.region import SimRegion
    from drsorch.sim.server import SimServer

    with SimServer(SimRegion(clock=VirtualClock())).start() as server:
        for length, status in (("abc", 400), ("-5", 400), (str(10**12), 413)):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.putrequest("POST", "/DescribeJobs")
            conn.putheader("Content-Length", length)
            conn.endheaders()
            assert conn.getresponse().status == status
            conn.close()


def test_an_external_id_that_is_no_external_id_is_one_line_naming_the_option() -> None:
    from tests.utils.plans import make_plan

    from drsorch.resumption import plan_as_it_ran

    raw = make_plan(1, waves=1, servers_per_wave=1)
    raw["Target"] = {
        "AccountId": "222222222222",
        "Region": "us-east-1",
        "RoleArn": "arn:aws:iam::222222222222:role/DrsOrchestratorRole",
        "ExternalId": "dr-2026",
    }
    saved = for_disk({"plan": raw})
    with pytest.raises(RefusedError) as refused:
        plan_as_it_ran(saved, external_id="x")  # one character: no valid ExternalId
    assert str(refused.value).startswith("--external-id: 'x' is not a valid ExternalId")
    assert "\n" not in str(refused.value)
    assert plan_as_it_ran(saved, external_id="dr-2026").target is not None
