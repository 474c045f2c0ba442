"""The SQLite history store on real files: queries, updates, migrations, concurrency, damage."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest
from tests.utils.history import make_record, make_records
from tests.utils.stores import filled_store_bytes

from drsorch.clock import VirtualClock
from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import StoreError
from drsorch.history import ExecutionRecord
from drsorch.store import MemoryStore, SqliteStore
from drsorch.store.base import Damaged
from drsorch.store.sqlite import MIGRATIONS, SCHEMA_VERSION

pytestmark = pytest.mark.integration


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.db"


@pytest.fixture
def store(db: Path) -> SqliteStore:
    return SqliteStore(db)


def test_put_then_get_returns_the_same_record(store: SqliteStore) -> None:
    record = make_record(1, Status="FAILED")
    store.put(record)
    assert store.get(record.ExecutionId) == record
    assert store.get("00000000-0000-4000-8000-000000000000") is None


def test_put_replaces_the_record_in_place(store: SqliteStore) -> None:
    running = make_record(2, Status="RUNNING")
    store.put(running)
    final = running.finalize(ExecutionStatus.COMPLETED, running.StartTime + 60)
    store.put(final)
    assert store.get(running.ExecutionId) == final
    assert store.query(limit=10) == [final]
    assert store.query(status="RUNNING") == []


def test_a_write_after_an_interrupted_one_still_lands(store: SqliteStore, db: Path) -> None:
    """A second Ctrl-C can land right after a BEGIN, outside its try: the transaction it
    leaves open must neither block the engine's FAILED record nor be committed by it."""
    running = make_record(3, Status="RUNNING")
    store.put(running)
    store._conn.execute("BEGIN IMMEDIATE")  # what the interrupted write left behind
    store._conn.execute("DELETE FROM executions")  # half a write that must never commit
    final = running.finalize(ExecutionStatus.FAILED, running.StartTime + 60)
    store.put(final)
    with SqliteStore(db) as other:  # another connection sees the committed FAILED
        assert other.get(running.ExecutionId) == final


def test_query_newest_first_with_filters_and_limit(store: SqliteStore) -> None:
    records = make_records(60, seed=3, plans=3)
    for record in records:
        store.put(record)

    newest = sorted(records, key=lambda r: r.StartTime, reverse=True)
    assert store.query(limit=20) == newest[:20]
    assert store.query(limit=1000) == newest

    of_plan = [r for r in newest if r.PlanId == "plan-1"]
    assert store.query(plan_id="plan-1", limit=1000) == of_plan
    assert store.query(plan_id="plan-1", limit=5) == of_plan[:5]

    failed = [r for r in of_plan if r.Status == "FAILED"]
    assert failed, "the seed should give plan-1 some failures"
    assert store.query(plan_id="plan-1", status="FAILED", limit=1000) == failed
    assert store.query(plan_id="plan-1", status="failed", limit=1000) == failed
    assert store.query(plan_id="no-such-plan") == []


def test_the_default_limit_is_twenty(store: SqliteStore) -> None:
    for record in make_records(25, seed=4):
        store.put(record)
    assert len(store.query()) == 20


def test_sqlite_and_memory_stores_agree(store: SqliteStore) -> None:
    memory = MemoryStore()
    for record in make_records(40, seed=5, plans=2):
        store.put(record)
        memory.put(record)
    for kwargs in ({}, {"plan_id": "plan-0"}, {"status": "COMPLETED", "limit": 3}):
        assert store.query(**kwargs) == memory.query(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": -3}, {"status": "DONE"}])
def test_bad_query_arguments_are_refused(store: SqliteStore, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        store.query(**kwargs)  # type: ignore[arg-type]


def test_records_survive_reopening_and_the_file_is_in_wal_mode(db: Path) -> None:
    record = make_record(6)
    with SqliteStore(db) as store:
        store.put(record)
    with SqliteStore(db) as again:
        assert again.get(record.ExecutionId) == record
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_parent_directories_are_created(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "a" / "b" / "history.db") as store:
        store.put(make_record(7))
    assert (tmp_path / "a" / "b" / "history.db").is_file()


# -- schema versions ----------------------------------------------------------------------


def test_a_new_file_is_migrated_from_version_zero(db: Path) -> None:
    sqlite3.connect(db).close()  # an empty database: user_version 0
    with SqliteStore(db) as store:
        assert store.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(db)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert {"executions_plan_start", "executions_status_start"} <= indexes


def _old_file(db: Path, version: int, records: list[tuple[str, str, str, float, str]]) -> None:
    """A file at schema ``version``, holding whole records as drsorch wrote them then."""
    conn = sqlite3.connect(db)
    for number in range(version):
        for statement in MIGRATIONS[number]:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    for row in records:
        conn.execute(
            "INSERT INTO executions (execution_id, plan_id, status, start_time, record)"
            " VALUES (?, ?, ?, ?, ?)",
            row,
        )
    conn.commit()
    conn.close()


def _whole_row(record: ExecutionRecord) -> tuple[str, str, str, float, str]:
    return (
        record.ExecutionId,
        record.PlanId,
        record.Status.value,
        record.StartTime,
        json.dumps(record.to_dict()),
    )


@pytest.mark.parametrize("version", [1, 4])
def test_an_older_file_is_upgraded_keeping_its_records(db: Path, version: int) -> None:
    records = make_records(6, seed=version)
    _old_file(db, version, [_whole_row(r) for r in records])
    with SqliteStore(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        for record in records:
            assert store.get(record.ExecutionId) == record
        assert sorted(store.query(limit=10), key=lambda r: r.ExecutionId) == sorted(
            records, key=lambda r: r.ExecutionId
        )
    conn = sqlite3.connect(db)  # split: each wave a row of its own, the summary without
    waves = conn.execute("SELECT count(*) FROM waves").fetchone()[0]
    whole = conn.execute("SELECT count(*) FROM executions WHERE record LIKE '%WaveStatus%'")
    assert (waves, whole.fetchone()[0]) == (sum(len(r.WaveStatus) for r in records), 0)
    conn.close()


def test_a_state_saved_whole_before_schema_6_is_read_as_it_was(db: Path) -> None:
    record = make_record(11)
    _old_file(db, 5, [])
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO executions (execution_id, plan_id, status, start_time, record,"
        " engine_state) VALUES (?, ?, ?, ?, ?, ?)",
        (*_whole_row(record), json.dumps({"revision": 3, "servers": {}})),
    )
    conn.commit()
    conn.close()
    with SqliteStore(db, read_only=True) as reader:  # not migrated: read from the column
        assert reader.get_state(record.ExecutionId) == {"revision": 3, "servers": {}}
    with SqliteStore(db) as store:  # migrated: the whole state is one part
        assert store.schema_version == SCHEMA_VERSION
        assert store.get_state(record.ExecutionId) == {"revision": 3, "servers": {}}
        assert store.get(record.ExecutionId) == record


def test_a_record_the_upgrade_cannot_split_still_reads_as_damaged(db: Path) -> None:
    good = make_record(9)
    bad = make_record(10)
    data = bad.to_dict()
    data["WaveStatus"] = [data["WaveStatus"][0], data["WaveStatus"][0]]  # a repeated wave
    _old_file(db, 4, [_whole_row(good), (*_whole_row(bad)[:4], json.dumps(data))])
    damaged: list[Damaged] = []
    with SqliteStore(db) as store:
        assert store.query(limit=10, on_damaged=damaged.append) == [good]
        with pytest.raises(StoreError, match="unreadable"):
            store.get(bad.ExecutionId)
    assert [d.execution_id for d in damaged] == [bad.ExecutionId]


def test_a_file_from_a_newer_drsorch_is_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this drsorch knows"):
        SqliteStore(db)


# -- damage -------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_gives_a_store_error(db: Path) -> None:
    db.write_bytes(b"this is not SQLite, just some text\n" * 200)
    with pytest.raises(StoreError, match="not a database"):
        SqliteStore(db)


def test_a_truncated_database_gives_a_store_error(db: Path) -> None:
    data = filled_store_bytes(db, records=50, seed=9)
    db.write_bytes(data[:100] + b"\xff" * (len(data) - 100))  # keep the header, ruin the pages
    for name in ("history.db-wal", "history.db-shm"):
        (db.parent / name).unlink(missing_ok=True)
    with pytest.raises(StoreError, match=str(db)):
        store = SqliteStore(db)
        store.query(limit=100)


def test_an_unreadable_stored_record_gives_a_store_error(store: SqliteStore, db: Path) -> None:
    record = make_record(10)
    store.put(record)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE executions SET record = '{\"PlanId\": 1}'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"record of {record.ExecutionId} is unreadable"):
        store.get(record.ExecutionId)


def test_a_directory_in_place_of_the_file_gives_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        SqliteStore(tmp_path)


def test_a_parent_that_is_a_file_gives_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(StoreError, match="cannot create the directory"):
        SqliteStore(tmp_path / "plain" / "history.db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_file_without_permission_gives_a_store_error(db: Path) -> None:
    SqliteStore(db).close()
    db.chmod(0)
    try:
        with pytest.raises(StoreError, match="permissions"):
            SqliteStore(db)
    finally:
        db.chmod(0o600)


def test_using_a_closed_store_gives_a_store_error(store: SqliteStore) -> None:
    store.close()
    store.close()  # harmless twice
    with pytest.raises(StoreError):
        store.query()


# -- several processes --------------------------------------------------------------------

WRITERS = 4
PER_WRITER = 25


def _writer(path: str, worker: int) -> None:
    with SqliteStore(path) as store:
        for i, record in enumerate(make_records(PER_WRITER, seed=1000 + worker)):
            store.put(record)
            if i % 5 == 0:  # readers interleave with the writers
                store.query(limit=5)
            # Update in place too: the same row is written again.
            store.put(record)


def test_several_processes_write_the_same_file(db: Path) -> None:
    SqliteStore(db).close()  # create and migrate once, so the writers race on data only
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db), w)) for w in range(WRITERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0] * WRITERS
    expected = {r.ExecutionId for w in range(WRITERS) for r in make_records(PER_WRITER, 1000 + w)}
    with SqliteStore(db) as store:
        damaged: list[Damaged] = []
        got = store.query(limit=10_000, on_damaged=damaged.append)
    assert damaged == []
    assert {r.ExecutionId for r in got} == expected


def _migrator(path: str) -> None:
    SqliteStore(path).close()


def test_several_processes_opening_a_new_file_migrate_it_once(db: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_migrator, args=(str(db),)) for _ in range(WRITERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0] * WRITERS
    with SqliteStore(db) as store:
        assert store.schema_version == SCHEMA_VERSION


def test_a_lock_outlasting_the_busy_timeout_is_retried_with_back_off(db: Path) -> None:
    clock = VirtualClock()
    store = SqliteStore(db, busy_timeout=0, clock=clock)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock ...
    clock.call_later(0.5, lambda: other.execute("COMMIT"))  # ... and lets go after 0.5 s
    record = make_record(11)
    store.put(record)
    assert clock.sleeps == [0.2, 0.4]  # locked, locked, then the third try got through
    assert store.get(record.ExecutionId) == record
    other.close()
    store.close()


def test_a_lock_that_never_ends_gives_a_store_error(db: Path) -> None:
    clock = VirtualClock()
    store = SqliteStore(db, busy_timeout=0, clock=clock)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError, match="locked"):
        store.put(make_record(12))
    assert clock.sleeps == [0.2, 0.4, 0.8]
    other.execute("ROLLBACK")
    other.close()
    store.close()


def test_engine_state_is_kept_beside_the_record(db: Path) -> None:
    """A crashed execution can be resumed: the engine's JSON state is saved with the record,
    and a save without a state keeps the one saved before."""
    record = make_record(9)
    with SqliteStore(db) as store:
        assert store.get_state(record.ExecutionId) is None
        store.put(record, {"revision": 3, "waves": [{"number": 1}]})
        store.put(record)
        assert store.get_state(record.ExecutionId) == {"revision": 3, "waves": [{"number": 1}]}
    with SqliteStore(db) as again:
        assert again.get_state(record.ExecutionId) == {"revision": 3, "waves": [{"number": 1}]}
