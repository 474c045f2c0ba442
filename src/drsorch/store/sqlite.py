"""The embedded history store: one SQLite file (design §5, §6 — the default store).

One row per execution: the columns the queries filter and sort on (execution_id, plan_id,
status, start_time) beside the whole record as JSON text, so the record's shape can grow
without a migration. Several processes may write the same file at once (two ``drsorch run``
in parallel, ``drsorch history`` while a run writes): WAL journal mode lets readers go on
during a write, ``busy_timeout`` makes a writer wait for the lock, writes are short
``BEGIN IMMEDIATE`` transactions (so no reader-to-writer upgrade can deadlock), and a
"database is locked" that outlasts the timeout is retried a few times more.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` are applied in
order on open. A file written by a newer drsorch (a version past the list) is refused.
Every ``sqlite3`` error leaves here as a :class:`~drsorch.errors.StoreError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydantic import ValidationError

from drsorch.clock import Clock, RealClock
from drsorch.errors import StoreError
from drsorch.history import ExecutionRecord
from drsorch.store.base import DEFAULT_LIMIT, check_query

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SqliteStore"]

T = TypeVar("T")

#: Ordered schema migrations; migration i (0-based) takes the file from version i to i + 1.
MIGRATIONS: Sequence[Sequence[str]] = (
    # 1: the table, and the index behind "recent executions of a plan".
    (
        """CREATE TABLE executions (
            execution_id TEXT PRIMARY KEY,
            plan_id      TEXT NOT NULL,
            status       TEXT NOT NULL,
            start_time   REAL NOT NULL,
            record       TEXT NOT NULL
        )""",
        "CREATE INDEX executions_plan_start ON executions (plan_id, start_time)",
    ),
    # 2: `drsorch history` with no --plan, and with --status, without a full scan.
    (
        "CREATE INDEX executions_start ON executions (start_time)",
        "CREATE INDEX executions_status_start ON executions (status, start_time)",
    ),
    # 3: the engine's JSON state beside the record, for resuming a crashed execution.
    ("ALTER TABLE executions ADD COLUMN engine_state TEXT",),
)
SCHEMA_VERSION = len(MIGRATIONS)

#: Seconds a writer waits for another process's lock before SQLite reports it busy.
DEFAULT_BUSY_TIMEOUT = 10.0
#: Extra attempts, with back-off, after a "database is locked" that outlasted the timeout.
LOCK_RETRIES = 3
_LOCK_BACKOFF = 0.2


def _is_lock_error(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _describe(exc: sqlite3.Error) -> str:
    """A one-line reason a person can act on."""
    text = str(exc)
    if "not a database" in text or (isinstance(exc, sqlite3.DatabaseError) and "malformed" in text):
        return f"{text} (the file is corrupt or is not a drsorch history database)"
    if "unable to open" in text or "readonly" in text:
        return f"{text} (check the path and its permissions)"
    return text


class SqliteStore:
    """A :class:`~drsorch.store.base.HistoryStore` in one SQLite file (``":memory:"`` works)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Clock | None = None,
    ) -> None:
        self.path = str(path) if str(path) == ":memory:" else str(Path(path).expanduser())
        self._clock = clock or RealClock()
        self._lock = threading.RLock()
        self._conn = self._connect(busy_timeout)
        try:
            self._run(self._setup)
        except BaseException:
            self._conn.close()
            raise

    # -- opening --------------------------------------------------------------------------

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        if self.path != ":memory:":
            target = Path(self.path)
            if target.is_dir():
                raise StoreError(f"history store {self.path} is a directory, not a file")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory of history store {self.path}: "
                    f"{exc.strerror or exc}"
                ) from exc
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, keeping writes short.
            return sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open history store {self.path}: {_describe(exc)}") from exc

    def _setup(self, conn: sqlite3.Connection) -> None:
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        version = self._user_version(conn)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"history store {self.path} has schema version {version}, newer than this "
                f"drsorch knows ({SCHEMA_VERSION}); upgrade drsorch to read it"
            )
        if version < SCHEMA_VERSION:
            self._migrate(conn)

    @staticmethod
    def _user_version(conn: sqlite3.Connection) -> int:
        row = conn.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            version = self._user_version(conn)
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    conn.execute(statement)
                # PRAGMA does not take parameters; the value is our own int.
                conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return self._run(self._user_version)

    # -- the port -------------------------------------------------------------------------

    def put(self, record: ExecutionRecord, state: Mapping[str, Any] | None = None) -> None:
        row = (
            record.ExecutionId,
            record.PlanId,
            record.Status.value,
            record.StartTime,
            json.dumps(record.to_dict(), separators=(",", ":")),
            None if state is None else json.dumps(state, separators=(",", ":")),
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO executions"
                    " (execution_id, plan_id, status, start_time, record, engine_state)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (execution_id) DO UPDATE SET"
                    " plan_id = excluded.plan_id, status = excluded.status,"
                    " start_time = excluded.start_time, record = excluded.record,"
                    " engine_state = COALESCE(excluded.engine_state, engine_state)",
                    row,
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        self._run(write)

    def get_state(self, execution_id: str) -> dict[str, Any] | None:
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT engine_state FROM executions WHERE execution_id = ?", (execution_id,)
            ).fetchall()
        )
        if not rows or rows[0][0] is None:
            return None
        try:
            state = json.loads(rows[0][0])
        except json.JSONDecodeError as exc:
            raise StoreError(f"the saved engine state of {execution_id} is damaged") from exc
        return state if isinstance(state, dict) else None

    def get(self, execution_id: str) -> ExecutionRecord | None:
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT execution_id, record FROM executions WHERE execution_id = ?",
                (execution_id,),
            ).fetchall()
        )
        return self._parse(rows[0]) if rows else None

    def query(
        self, *, plan_id: str | None = None, status: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[ExecutionRecord]:
        wanted = check_query(status, limit)
        clauses: list[str] = []
        args: list[object] = []
        if plan_id is not None:
            clauses.append("plan_id = ?")
            args.append(plan_id)
        if wanted is not None:
            clauses.append("status = ?")
            args.append(wanted.value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT execution_id, record FROM executions {where}"
            " ORDER BY start_time DESC, execution_id DESC LIMIT ?"
        )
        rows = self._run(lambda conn: conn.execute(sql, (*args, limit)).fetchall())
        return [self._parse(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    # -- plumbing -------------------------------------------------------------------------

    def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation``, retrying lock errors, translating every sqlite3 error."""
        attempt = 0
        while True:
            try:
                with self._lock:
                    return operation(self._conn)
            except sqlite3.Error as exc:
                if _is_lock_error(exc) and attempt < LOCK_RETRIES:
                    self._clock.sleep(_LOCK_BACKOFF * 2**attempt)
                    attempt += 1
                    continue
                raise StoreError(f"history store {self.path}: {_describe(exc)}") from exc

    def _parse(self, row: tuple[str, str]) -> ExecutionRecord:
        execution_id, text = row
        try:
            return ExecutionRecord.from_dict(json.loads(text))
        except (ValueError, ValidationError) as exc:
            reason = str(exc).splitlines()[0]
            raise StoreError(
                f"history store {self.path}: the record of {execution_id} is unreadable: {reason}"
            ) from exc
