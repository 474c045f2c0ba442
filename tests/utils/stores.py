"""SQLite store files for tests that damage them: filled, checkpointed, and read whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from drsorch.store import SqliteStore
from tests.utils.history import make_records

#: SQLite's page size in the files drsorch creates.
PAGE = 4096


def filled_store_bytes(db: Path, *, records: int, seed: int) -> bytearray:
    """Fill a new store at ``db`` with ``records`` generated records, move its WAL into the
    main file, and return the file's bytes (for a test to ruin and write back)."""
    with SqliteStore(db) as store:
        for record in make_records(records, seed=seed):
            store.put(record)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return bytearray(db.read_bytes())
