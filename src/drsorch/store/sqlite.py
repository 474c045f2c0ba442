"""The embedded history store: one SQLite file (design §5, §6 — the default store).

One row per execution: the columns the queries filter and sort on (execution_id, plan_id,
status, start_time) beside the record's summary as JSON text, and one row per wave with
that wave's record (schema 5, issue 9): a save rewrites the summary and only the waves that
changed, so saving a 10 000-server execution costs what moved, not the whole record. The
JSON keeps the record's shape free to grow without a migration; readers get the whole
record back, read in one snapshot.

Several processes may write the same file at once (two ``drsorch run`` in parallel,
``drsorch history`` while a run writes): WAL journal mode lets readers go on during a write,
``busy_timeout`` makes a writer wait for the lock, writes are short ``BEGIN IMMEDIATE``
transactions (so no reader-to-writer upgrade can deadlock), and a
"database is locked" that outlasts the timeout is retried a few times more: at most
``(LOCK_RETRIES + 1) * busy_timeout`` plus 1.4 s of back-off in all (about 21 s by default),
and ``on_wait`` is told once when the wait goes on past the first timeout. A lock that
never frees ends with a message naming the file and saying another process holds it.

Opening checks what it can before anything is recorded: a file that cannot be created or
written (a missing or read-only directory, a read-only file system, no permission), or a
store another process keeps locked, is refused with :class:`StoreConfigError` (bad input,
exit 2) naming the path and the reason; a writer's open takes the write lock once, so a
store that cannot record is known before a drill starts. SQLite never reads the path as a
URI filename: the file is always opened through an exact ``file:`` URI of the path.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` are applied in
order on open. A file written by a newer drsorch (a version past the list) is refused.
Every ``sqlite3`` error leaves here as a :class:`~drsorch.errors.StoreError`.

Leases (design §5) are rows of their own table, written in the same transactions as the
records, so a conditional save and a takeover can never interleave. A lease renewal alone is
committed without waiting for the disk (``synchronous=NORMAL``: a power cut can only make
it expire sooner, and WAL never corrupts); every record save waits for the disk. A reader
(``read_only=True``: ``history``, ``show``) opens the file read-only, never migrates it and
never creates it. The file holds engine state, so it is created private to its user (0600,
its directory 0700), and a damaged file is reported when it is opened (``quick_check``); a
damaged record is skipped by queries and named, so it never hides the rest.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import ValidationError

from drsorch.clock import Clock, RealClock
from drsorch.errors import StoreDamagedError, StoreError
from drsorch.history import ExecutionRecord
from drsorch.store.base import (
    DEFAULT_LIMIT,
    Damaged,
    Lease,
    RecordParts,
    StateParts,
    StoreConfigError,
    assemble,
    check_claim,
    check_held,
    check_query,
    damage_reason,
    join_state,
    parts_of,
)

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
    # 4: which engine drives an execution, until when (one owner per execution).
    (
        """CREATE TABLE leases (
            execution_id TEXT PRIMARY KEY,
            holder       TEXT NOT NULL,
            expires_at   REAL NOT NULL
        )""",
    ),
    # 5: a record in parts (issue 9): the row keeps the summary, each wave has a row. A
    # record that cannot be split (not JSON, waves without a whole number or repeated) is
    # left whole, and reads as damaged as it did.
    (
        """CREATE TABLE waves (
            execution_id TEXT NOT NULL,
            wave_number  INTEGER NOT NULL,
            position     INTEGER NOT NULL,
            record       TEXT NOT NULL,
            PRIMARY KEY (execution_id, wave_number)
        ) WITHOUT ROWID""",
        """CREATE TEMP TABLE splittable AS
            SELECT e.execution_id FROM executions AS e
            WHERE json_valid(e.record)
            AND json_type(e.record, '$.WaveStatus') = 'array'
            AND (SELECT count(DISTINCT json_extract(w.value, '$.WaveNumber'))
                 FROM json_each(e.record, '$.WaveStatus') AS w
                 WHERE json_type(w.value, '$.WaveNumber') = 'integer')
                = json_array_length(e.record, '$.WaveStatus')""",
        """INSERT INTO waves (execution_id, wave_number, position, record)
            SELECT e.execution_id, json_extract(w.value, '$.WaveNumber'), w.key, w.value
            FROM executions AS e, json_each(e.record, '$.WaveStatus') AS w
            WHERE e.execution_id IN (SELECT execution_id FROM splittable)""",
        """UPDATE executions SET record = json_remove(record, '$.WaveStatus')
            WHERE execution_id IN (SELECT execution_id FROM splittable)""",
        "DROP TABLE temp.splittable",
    ),
    # 6: the engine state in parts too (issue 9): one row per part; a state saved whole
    # before is one part, "state", and is read as it was.
    (
        """CREATE TABLE state_parts (
            execution_id TEXT NOT NULL,
            name         TEXT NOT NULL,
            body         TEXT NOT NULL,
            PRIMARY KEY (execution_id, name)
        ) WITHOUT ROWID""",
        """INSERT INTO state_parts (execution_id, name, body)
            SELECT execution_id, 'state', engine_state FROM executions
            WHERE engine_state IS NOT NULL""",
        "UPDATE executions SET engine_state = NULL",
    ),
    # 7: what operators ask of a running execution (drsorch approve / cancel), until its
    # engine takes it.
    (
        """CREATE TABLE requests (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            execution_id TEXT NOT NULL,
            body         TEXT NOT NULL
        )""",
        "CREATE INDEX requests_execution ON requests (execution_id, id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

#: Seconds a writer waits for another process's lock before SQLite reports it busy (one
#: try; ``DRSORCH_STORE_BUSY_TIMEOUT`` sets it for the CLI, see :func:`drsorch.store.open_store`).
DEFAULT_BUSY_TIMEOUT = 5.0
#: Extra attempts, with back-off, after a "database is locked" that outlasted the timeout.
LOCK_RETRIES = 3
_LOCK_BACKOFF = 0.2
#: ``on_wait`` is told of a lock wait only when at least this many seconds of it remain.
_SAY_WAIT_AFTER = 2.0
#: How many of the integrity check's problems a message names, and its longest length.
_PROBLEMS_SHOWN = 3
_PROBLEMS_CAP = 300
#: SQLite error codes (``sqlite_errorname``) of a file the environment keeps from being used.
_UNUSABLE = ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_FULL")


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def _is_lock_error(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _is_damage(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "not a database" in text or (
        isinstance(exc, sqlite3.DatabaseError) and "malformed" in text
    )


def _is_unusable(exc: sqlite3.Error) -> bool:
    """Whether SQLite could not open, create or write the file (not a bug of ours)."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    text = str(exc)
    return name.startswith(_UNUSABLE) or "unable to open" in text or "readonly" in text


def _describe(exc: sqlite3.Error) -> str:
    """A one-line reason a person can act on."""
    text = str(exc)
    if _is_damage(exc):
        return f"{text} (the file is corrupt or is not a drsorch history database)"
    if "unable to open" in text or "readonly" in text:
        return f"{text} (check the path and its permissions)"
    return text


def _os_reason(exc: OSError) -> str:
    """The OS's reason, with a hint when it is a permission."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        reason += " (check the path and its permissions)"
    return reason


def _problems(rows: Sequence[object]) -> str:
    """The integrity check's findings as one line: the first few, "; "-separated, capped."""
    lines = [line.strip() for row in rows for line in str(row).splitlines()]
    found = [
        line for line in lines if line and not re.fullmatch(r"\*\*\* in database .* \*\*\*", line)
    ]
    if not found:
        return "the integrity check failed"
    shown = "; ".join(found[:_PROBLEMS_SHOWN])
    if len(found) > _PROBLEMS_SHOWN:
        shown += "; and more"
    if len(shown) > _PROBLEMS_CAP:
        shown = shown[: _PROBLEMS_CAP - 3].rstrip() + "..."
    return shown


def _seconds(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


class SqliteStore:
    """A :class:`~drsorch.store.base.HistoryStore` in one SQLite file (``":memory:"`` works
    here, for tests; :func:`drsorch.store.open_store` refuses it, as it would lose records).

    ``busy_timeout``: seconds one try waits for another process's lock (see the module's
    text for the retries); ``on_wait``: told once, in a sentence, when a lock wait goes on
    past the first try."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Clock | None = None,
        read_only: bool = False,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.path = str(path) if str(path) == ":memory:" else str(Path(path).expanduser())
        self.read_only = read_only
        self._clock = clock or RealClock()
        self._lock = threading.RLock()
        self._durable = True  # PRAGMA synchronous is FULL (SQLite's default) until changed
        self._busy_timeout = max(0.0, busy_timeout)
        self._on_wait = on_wait
        self._opening = True  # a failure now is the environment's: nothing is recorded yet
        self._conn = self._connect(self._busy_timeout)
        self._version = SCHEMA_VERSION
        try:
            self._run(self._setup)
        except BaseException:
            self._conn.close()
            raise
        self._opening = False

    # -- opening --------------------------------------------------------------------------

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        target = ":memory:"
        uri = False
        if self.path != ":memory:":
            exists = self._check_file(Path(self.path))
            if self.read_only and not exists:
                pass  # nothing recorded yet: an empty store in memory, and no file made
            else:
                if not self.read_only:
                    if exists:
                        self._check_writable(Path(self.path))
                    else:
                        self._create_private(Path(self.path))
                # Always an exact URI of the path: SQLite (built with URI filenames on)
                # would otherwise read a path starting with "file:" as options.
                target = f"file:{quote(os.path.abspath(self.path))}"
                target += "?mode=ro" if self.read_only else "?mode=rw"
                uri = True
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, keeping writes short.
            return sqlite3.connect(
                target,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=uri,
            )
        except sqlite3.Error as exc:
            raise self._failure(exc, 0.0) from exc

    def _check_file(self, target: Path) -> bool:
        """Whether the store file exists; anything but a regular file is refused unopened
        (a FIFO would block, a device is nobody's history)."""
        try:
            mode = target.stat().st_mode
        except FileNotFoundError:
            return False
        except NotADirectoryError:
            raise StoreConfigError(
                f"cannot create the directory of history store {self.path}: a part of its "
                "path is a file"
            ) from None
        except OSError as exc:
            raise StoreConfigError(
                f"cannot open the history store {self.path}: {_os_reason(exc)}"
            ) from exc
        if stat.S_ISDIR(mode):
            raise StoreConfigError(f"history store {self.path} is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise StoreConfigError(f"history store {self.path} is not a regular file")
        return True

    def _check_writable(self, target: Path) -> None:
        """Refuse a store file this process cannot write (SQLite would open it read-only
        without a word, and fail at the first save)."""
        try:
            fd = os.open(target, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
            os.close(fd)
        except OSError as exc:
            raise StoreConfigError(
                f"cannot write the history store {self.path}: {_os_reason(exc)}"
            ) from exc

    def _create_private(self, target: Path) -> None:
        """Create the file (and its missing directories) readable by its user only: it keeps
        the engine state of executions against AWS."""
        for parent in reversed([p for p in target.parents if not p.exists()]):
            try:
                parent.mkdir(mode=0o700, exist_ok=True)  # another process may make it too
            except OSError as exc:
                raise StoreConfigError(
                    f"cannot create the history store {self.path}: cannot make its directory "
                    f"{parent}: {_os_reason(exc)}"
                ) from exc
        try:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        except FileExistsError:
            pass  # another process created it meanwhile: it is theirs to have made private
        except OSError as exc:
            raise StoreConfigError(
                f"cannot create the history store {self.path}: {_os_reason(exc)}"
            ) from exc

    def _why_unusable(self) -> str | None:
        """What keeps the file from being used, as the OS says it, if it says anything."""
        target = Path(self.path)
        try:
            fd = os.open(target, os.O_RDONLY if self.read_only else os.O_RDWR)
            os.close(fd)
        except OSError as exc:
            return _os_reason(exc)
        directory = target.parent
        if not os.access(directory, os.W_OK | os.X_OK):
            try:
                read_only_fs = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
            except OSError:
                read_only_fs = False
            reason = "Read-only file system" if read_only_fs else "Permission denied"
            return (
                f"its directory {directory} cannot be written ({reason}); SQLite keeps "
                f"{target.name}-wal and {target.name}-shm beside the file"
            )
        return None

    def _setup(self, conn: sqlite3.Connection) -> None:
        on_disk = self.path != ":memory:" and not (self.read_only and self._in_memory(conn))
        if on_disk and not self.read_only:
            conn.execute("PRAGMA journal_mode=WAL")
        version = self._user_version(conn)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"history store {self.path} has schema version {version}, newer than this "
                f"drsorch knows ({SCHEMA_VERSION}); upgrade drsorch to read it"
            )
        if on_disk:
            self._check_integrity(conn)
        if version < SCHEMA_VERSION and (not self.read_only or not on_disk):
            self._migrate(conn)
            version = SCHEMA_VERSION
        elif on_disk and not self.read_only:
            # Take the write lock once, writing nothing: a store another process keeps
            # locked is refused now, before anything runs that it could not record.
            self._in_transaction(conn, lambda conn: None)
        self._version = version

    @staticmethod
    def _in_memory(conn: sqlite3.Connection) -> bool:
        return not any(row[2] for row in conn.execute("PRAGMA database_list"))

    def _check_integrity(self, conn: sqlite3.Connection) -> None:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise StoreDamagedError(
                f"history store {self.path} is damaged ({_problems(problems)}); copy what "
                "can be read with `sqlite3 FILE .recover`, or move the file away to start "
                "a new one"
            )

    @staticmethod
    def _user_version(conn: sqlite3.Connection) -> int:
        row = conn.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _migrate(self, conn: sqlite3.Connection) -> None:
        def upgrade(conn: sqlite3.Connection) -> None:
            # Read again under the write lock: another process may have migrated meanwhile.
            version = self._user_version(conn)
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    conn.execute(statement)
                # PRAGMA does not take parameters; the value is our own int.
                conn.execute(f"PRAGMA user_version = {number + 1}")

        self._in_transaction(conn, upgrade)

    @property
    def schema_version(self) -> int:
        return self._run(self._user_version)

    # -- the port -------------------------------------------------------------------------

    def put(
        self,
        record: ExecutionRecord,
        state: Mapping[str, Any] | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        self.put_parts(parts_of(record), state, lease=lease)

    def put_parts(
        self,
        parts: RecordParts,
        state: Mapping[str, Any] | StateParts | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        execution_id = parts.execution_id
        row = (execution_id, parts.plan_id, parts.status, parts.start_time, _dumps(parts.summary))
        state_parts = StateParts.given(state)
        state_rows = (
            []
            if state_parts is None
            else [(execution_id, name, _dumps(body)) for name, body in state_parts.parts.items()]
        )
        position = parts.positions
        waves = [
            (execution_id, number, position[number], _dumps(wave))
            for number, wave in parts.waves.items()
        ]

        def write(conn: sqlite3.Connection) -> None:
            if lease is not None:
                self._renew_in(conn, execution_id, lease)
            conn.execute(
                "INSERT INTO executions (execution_id, plan_id, status, start_time, record)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (execution_id) DO UPDATE SET"
                " plan_id = excluded.plan_id, status = excluded.status,"
                " start_time = excluded.start_time, record = excluded.record",
                row,
            )
            if state_parts is not None and state_parts.whole:
                conn.execute("DELETE FROM state_parts WHERE execution_id = ?", (execution_id,))
            conn.executemany(
                "INSERT INTO state_parts (execution_id, name, body) VALUES (?, ?, ?)"
                " ON CONFLICT (execution_id, name) DO UPDATE SET body = excluded.body",
                state_rows,
            )
            if parts.whole:
                conn.execute("DELETE FROM waves WHERE execution_id = ?", (execution_id,))
            conn.executemany(
                "INSERT INTO waves (execution_id, wave_number, position, record)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (execution_id, wave_number) DO UPDATE SET"
                " position = excluded.position, record = excluded.record",
                waves,
            )

        self._transaction(write)

    def get_state(self, execution_id: str) -> dict[str, Any] | None:
        if self._version < 3:
            return None
        if self._version < 6:  # a file read before it was migrated: the state is whole
            sql = "SELECT 'state', engine_state FROM executions WHERE execution_id = ?"
        else:
            sql = "SELECT name, body FROM state_parts WHERE execution_id = ?"
        rows = self._run(
            lambda conn: self._snapshot(conn, lambda c: c.execute(sql, (execution_id,)).fetchall())
        )
        rows = [row for row in rows if row[1] is not None]
        if not rows:
            return None
        try:
            state = join_state({str(name): json.loads(body) for name, body in rows})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreDamagedError(
                f"history store {self.path}: the saved engine state of {execution_id} is damaged"
            ) from exc
        return state

    def get(self, execution_id: str) -> ExecutionRecord | None:
        def read(conn: sqlite3.Connection) -> list[tuple[str, str, list[str]]]:
            rows = conn.execute(
                "SELECT execution_id, record FROM executions WHERE execution_id = ?",
                (execution_id,),
            ).fetchall()
            return self._with_waves(conn, rows)

        found = self._run(lambda conn: self._snapshot(conn, read))
        return self._parse(found[0]) if found else None

    def query(
        self,
        *,
        plan_id: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        on_damaged: Callable[[Damaged], None] | None = None,
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
            " ORDER BY start_time DESC, execution_id DESC LIMIT ? OFFSET ?"
        )
        found: list[ExecutionRecord] = []
        offset = 0
        while len(found) < limit:  # a damaged row is skipped, so read on until enough
            wanted_rows = limit - len(found)
            page: tuple[object, ...] = (*args, wanted_rows, offset)

            def read(
                conn: sqlite3.Connection, page: tuple[object, ...] = page
            ) -> list[tuple[str, str, list[str]]]:
                return self._snapshot(
                    conn, lambda conn: self._with_waves(conn, conn.execute(sql, page).fetchall())
                )

            rows = self._run(read)
            for row in rows:
                try:
                    found.append(self._parse(row))
                except StoreDamagedError as exc:
                    if on_damaged is not None:
                        on_damaged(Damaged(row[0], damage_reason(exc.__cause__ or exc)))
            if len(rows) < wanted_rows:
                break
            offset += len(rows)
        return found

    def find_ids(self, prefix: str, limit: int = DEFAULT_LIMIT) -> list[str]:
        check_query(None, limit)
        # LIKE is case-insensitive (ASCII) in SQLite, and % and _ are wildcards: escape them
        # and compare the prefix exactly as well (substr), so only true prefixes are found.
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT execution_id FROM executions"
                " WHERE execution_id LIKE ? ESCAPE '\\' AND substr(execution_id, 1, ?) = ?"
                " ORDER BY execution_id LIMIT ?",
                (pattern, len(prefix), prefix, limit),
            ).fetchall()
        )
        return [str(row[0]) for row in rows]

    # -- requests -------------------------------------------------------------------------

    def add_request(self, execution_id: str, request: Mapping[str, Any]) -> None:
        body = _dumps(request)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO requests (execution_id, body) VALUES (?, ?)", (execution_id, body)
            )

        self._transaction(insert)

    def take_requests(self, execution_id: str) -> list[dict[str, Any]]:
        if self._version < 7:
            return []
        # Asked often (every sleep slice): a read first, a write only when there is some.
        if not self._run(
            lambda conn: conn.execute(
                "SELECT 1 FROM requests WHERE execution_id = ? LIMIT 1", (execution_id,)
            ).fetchall()
        ):
            return []
        taken: list[str] = []

        def take(conn: sqlite3.Connection) -> None:
            rows = conn.execute(
                "SELECT id, body FROM requests WHERE execution_id = ? ORDER BY id",
                (execution_id,),
            ).fetchall()
            conn.execute("DELETE FROM requests WHERE execution_id = ?", (execution_id,))
            taken[:] = [str(row[1]) for row in rows]

        self._transaction(take)
        found = []
        for body in taken:
            try:
                request = json.loads(body)
            except ValueError:
                continue  # a damaged request is nobody's request
            if isinstance(request, dict):
                found.append(request)
        return found

    # -- leases ---------------------------------------------------------------------------

    def claim(self, execution_id: str, lease: Lease, now: float, *, takeover: bool = False) -> None:
        def write(conn: sqlite3.Connection) -> None:
            check_claim(execution_id, self._lease_in(conn, execution_id), lease, now, takeover)
            conn.execute(
                "INSERT INTO leases (execution_id, holder, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (execution_id) DO UPDATE SET"
                " holder = excluded.holder, expires_at = excluded.expires_at",
                (execution_id, lease.holder, lease.expires_at),
            )

        self._transaction(write)

    def renew(self, execution_id: str, lease: Lease) -> None:
        self._transaction(lambda conn: self._renew_in(conn, execution_id, lease), durable=False)

    def release(self, execution_id: str, holder: str) -> None:
        self._run(
            self._writing(
                lambda conn: conn.execute(
                    "DELETE FROM leases WHERE execution_id = ? AND holder = ?",
                    (execution_id, holder),
                )
            )
        )

    def lease_of(self, execution_id: str) -> Lease | None:
        if self._version < 4:
            return None
        return self._run(lambda conn: self._lease_in(conn, execution_id))

    def _with_waves(
        self, conn: sqlite3.Connection, rows: list[tuple[str, str]]
    ) -> list[tuple[str, str, list[str]]]:
        """Each (execution_id, summary) row with its waves' records, in the record's order."""
        if not rows:
            return []
        waves: dict[str, list[str]] = {str(row[0]): [] for row in rows}
        if self._version >= 5:
            marks = ", ".join("?" * len(waves))
            for execution_id, text in conn.execute(
                f"SELECT execution_id, record FROM waves WHERE execution_id IN ({marks})"
                " ORDER BY execution_id, position",
                list(waves),
            ):
                waves[execution_id].append(text)
        return [(str(row[0]), row[1], waves[str(row[0])]) for row in rows]

    @staticmethod
    def _snapshot(conn: sqlite3.Connection, read: Callable[[sqlite3.Connection], T]) -> T:
        """``read`` in one read transaction: a summary and its waves from the same save."""
        conn.execute("BEGIN")
        try:
            return read(conn)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    @classmethod
    def _renew_in(cls, conn: sqlite3.Connection, execution_id: str, lease: Lease) -> None:
        check_held(execution_id, cls._lease_in(conn, execution_id), lease)
        conn.execute(
            "UPDATE leases SET expires_at = ? WHERE execution_id = ?",
            (lease.expires_at, execution_id),
        )

    @staticmethod
    def _lease_in(conn: sqlite3.Connection, execution_id: str) -> Lease | None:
        row = conn.execute(
            "SELECT holder, expires_at FROM leases WHERE execution_id = ?", (execution_id,)
        ).fetchone()
        return None if row is None else Lease(str(row[0]), float(row[1]))

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

    def _transaction(
        self, body: Callable[[sqlite3.Connection], None], *, durable: bool = True
    ) -> None:
        """Run ``body`` as one short write transaction (retried on lock errors); one that is
        not ``durable`` commits without waiting for the disk."""
        self._run(self._writing(lambda conn: self._in_transaction(conn, body, durable)))

    def _in_transaction(
        self,
        conn: sqlite3.Connection,
        body: Callable[[sqlite3.Connection], None],
        durable: bool = True,
    ) -> None:
        try:
            if conn.in_transaction:
                # An interrupt (a second Ctrl-C) that landed between a BEGIN and its try
                # left this one open: it never commits, and must not block the next write
                # (the FAILED record of the very engine that was interrupted).
                conn.execute("ROLLBACK")
            if durable != self._durable:
                conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                self._durable = durable
            conn.execute("BEGIN IMMEDIATE")
            body(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _writing(self, operation: Callable[[sqlite3.Connection], T]) -> Callable[..., T]:
        """``operation``, refused up front on a store opened read-only."""
        if self.read_only:
            raise StoreError(f"history store {self.path} was opened read-only")
        return operation

    def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation``, retrying lock errors, translating every sqlite3 error."""
        attempt = 0
        started = time.monotonic()
        while True:
            try:
                with self._lock:
                    return operation(self._conn)
            except sqlite3.Error as exc:
                if _is_lock_error(exc) and attempt < LOCK_RETRIES:
                    if attempt == 0:
                        self._say_waiting()
                    self._clock.sleep(_LOCK_BACKOFF * 2**attempt)
                    attempt += 1
                    continue
                raise self._failure(exc, time.monotonic() - started) from exc

    def _say_waiting(self) -> None:
        """Tell ``on_wait`` that a lock wait goes on, when enough of it remains to matter."""
        remaining = LOCK_RETRIES * self._busy_timeout + sum(
            _LOCK_BACKOFF * 2**attempt for attempt in range(LOCK_RETRIES)
        )
        if self._on_wait is None or remaining < _SAY_WAIT_AFTER:
            return
        self._on_wait(
            f"history store {self.path} is locked by another process; waiting up to "
            f"{_seconds(remaining)} s more for it"
        )

    def _failure(self, exc: sqlite3.Error, waited: float) -> StoreError:
        """The StoreError ``exc`` becomes: bad input (StoreConfigError) when opening failed
        for a reason of the environment, so nothing was recorded yet."""
        if _is_lock_error(exc):
            text = (
                f"another process holds the history store {self.path} locked (gave up "
                f"waiting after {_seconds(waited)} s)"
            )
            if self._opening:
                return StoreConfigError(f"{text}; try again once it lets go")
            return StoreError(f"{text}: {exc}")
        if _is_damage(exc):
            return StoreDamagedError(f"history store {self.path}: {_describe(exc)}")
        if self._opening and self.path != ":memory:" and _is_unusable(exc):
            verb = "read" if self.read_only else "write"
            reason = self._why_unusable() or _describe(exc)
            return StoreConfigError(f"cannot {verb} the history store {self.path}: {reason}")
        return StoreError(f"history store {self.path}: {_describe(exc)}")

    def _parse(self, row: tuple[str, str, list[str]]) -> ExecutionRecord:
        execution_id, text, waves = row
        try:
            data = json.loads(text)
            # A record the migration could not split (or a file read before it was
            # migrated) keeps its WaveStatus and no wave rows: it is read whole.
            if isinstance(data, dict) and (waves or "WaveStatus" not in data):
                data = assemble(data, (json.loads(wave) for wave in waves))
            return ExecutionRecord.from_dict(data)
        except (ValueError, ValidationError) as exc:
            reason = damage_reason(exc)
            raise StoreDamagedError(
                f"history store {self.path}: the record of {execution_id} is unreadable: {reason}"
            ) from exc
