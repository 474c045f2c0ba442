"""A store that cannot keep the record is refused when it is opened, before anything runs:
one line on stderr, exit 2 (bad input), no traceback (QA findings on the store URL).

- an in-memory SQLite store, or a SQLite URI filename (``file:...``), is refused;
- a ``sqlite:///`` URL with a ``?`` query or ``#`` fragment is refused (no options);
- a path that cannot be created or written names the path and the OS's reason;
- a store another process keeps locked is given up with a message saying so
  (``DRSORCH_STORE_BUSY_TIMEOUT=0`` and no back-off here: no test waits);
- a damaged file's message names its problems on one line, whole.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.utils.history import make_records
from tests.utils.stores import PAGE, filled_store_bytes

from drsorch.cli import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, main
from drsorch.clock import VirtualClock
from drsorch.errors import StoreError
from drsorch.store import SqliteStore, StoreConfigError, open_store
from drsorch.store import sqlite as sqlite_module

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

REPO = Path(__file__).parents[2]
PLAN = REPO / "examples" / "three-tier.yaml"
DRSORCH = Path(sys.executable).parent / "drsorch"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    """No store from the environment, and a default store inside tmp_path."""
    return {
        "DRSORCH_STORE": None,
        "DRSORCH_STORE_BUSY_TIMEOUT": "0",
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }


def cli(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def refused(result: Result, *fragments: str) -> str:
    """The one stderr line of a refusal (exit 2), checked to hold every fragment."""
    assert result.exit_code == EXIT_BAD_INPUT, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def run_and_init(env: dict[str, str | None], url: str) -> Iterator[Result]:
    """``drsorch run`` (on the simulator) and ``drsorch store init`` with the store ``url``."""
    yield cli(env, "run", str(PLAN), "--quiet", "--store", url)
    yield cli(env, "store", "init", url)


# -- 1. an in-memory store -------------------------------------------------------------------


@pytest.mark.parametrize("url", [":memory:", "sqlite:///:memory:"])
def test_an_in_memory_store_is_refused(env: dict[str, str | None], url: str) -> None:
    for result in run_and_init(env, url):
        refused(result, "in-memory SQLite store", "would lose the record", "give a file path")
        assert result.stdout == ""  # nothing ran
    result = cli({**env, "DRSORCH_STORE": url}, "run", str(PLAN), "--quiet")
    refused(result, "in-memory SQLite store")
    assert not (Path(str(env["XDG_DATA_HOME"])) / "drsorch").exists()  # no default either


@pytest.mark.parametrize("url", ["file::memory:", "sqlite:///file:history.db?mode=memory"])
def test_a_sqlite_uri_filename_is_refused(
    env: dict[str, str | None], url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for result in run_and_init(env, url):
        refused(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file made, under any name


def test_a_bare_file_uri_path_is_refused_too(
    env: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # taken as a relative path, it would be made here
    refused(cli(env, "store", "init", f"file:{tmp_path}/h.db"), "SQLite URI filename")
    assert list(tmp_path.iterdir()) == []


# -- 4. options in a SQLite URL ----------------------------------------------------------------


@pytest.mark.parametrize("tail", ["?mode=ro", "#x", "?"])
def test_a_sqlite_url_takes_no_options(
    env: dict[str, str | None], tmp_path: Path, tail: str
) -> None:
    db = tmp_path / "s.db"
    for result in run_and_init(env, f"sqlite:///{db}{tail}"):
        refused(result, "SQLite store URLs take no options", f"sqlite:///{db}")
    assert list(tmp_path.iterdir()) == []  # neither s.db nor "s.db?mode=ro"


def test_a_plain_path_is_taken_literally(env: dict[str, str | None], tmp_path: Path) -> None:
    """A plain path is a file name, '?', '#', '%' and all: never read as a URI."""
    for name in ("we?ird#name.db", "%41x.db"):
        result = cli(env, "store", "init", str(tmp_path / name))
        assert result.exit_code == EXIT_OK, result.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == [
        "%41x.db",
        "we?ird#name.db",
    ]


# -- 2. a path that cannot be created or written ----------------------------------------------


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:////proc/drsorch-test.db", "/proc/drsorch-test.db: "),
        ("/proc/drsorch-none/h.db", "cannot make its directory /proc/drsorch-none: "),
    ],
)
def test_a_store_that_cannot_be_created_is_bad_input(
    env: dict[str, str | None], url: str, shown: str
) -> None:
    for result in run_and_init(env, url):
        line = refused(result, "cannot create the history store /proc/", shown)
        assert line.endswith("No such file or directory"), line
        assert result.stdout == ""  # the run never started: nothing it could not record


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_directory_without_write_permission_is_bad_input(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        for result in run_and_init(env, str(locked / "sub" / "h.db")):
            refused(result, f"cannot create the history store {locked}", "Permission denied")
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_store_file_without_write_permission_is_bad_input(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    SqliteStore(db).close()
    db.chmod(0o400)
    try:
        for result in run_and_init(env, str(db)):
            refused(result, f"cannot write the history store {db}", "Permission denied")
    finally:
        db.chmod(0o600)


READ_ONLY_MOUNT = """
set -u
mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" || exit 99
shift
"$@"
"""


def on_read_only_fs(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``drsorch ARGS`` with ``directory`` read-only, in a mount namespace of its own (root)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRSORCH_"))}
    env["XDG_DATA_HOME"] = str(directory.parent / "xdg")
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", READ_ONLY_MOUNT, "sh", str(directory), str(DRSORCH), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=50,
        cwd=REPO,
        check=False,
    )
    if done.returncode == 99:
        pytest.skip(f"cannot mount read-only here: {done.stderr.strip()}")
    return done


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or not DRSORCH.exists(),
    reason="a read-only mount needs root and unshare(1)",
)
def test_a_read_only_file_system_is_bad_input(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    with SqliteStore(ro / "old.db") as store:
        store.put(make_records(1, seed=5)[0])
    expected = {
        str(ro / "old.db"): f"store error: cannot write the history store {ro}/old.db: ",
        str(ro / "new.db"): f"store error: cannot create the history store {ro}/new.db: ",
    }
    for path, said in expected.items():
        for args in (["store", "init", path], ["run", str(PLAN), "--quiet", "--store", path]):
            done = on_read_only_fs(ro, *args)
            assert done.returncode == EXIT_BAD_INPUT, (args, done.stdout, done.stderr)
            assert done.stderr.splitlines() == [said + "Read-only file system"], done.stderr
    assert sorted(p.name for p in ro.iterdir()) == ["old.db"]
    with SqliteStore(ro / "old.db", read_only=True) as store:
        assert len(store.query()) == 1  # nothing recorded is lost


# -- 2. a store another process keeps locked ----------------------------------------------------


@pytest.fixture
def no_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_module, "_LOCK_BACKOFF", 0.0)


@pytest.fixture
def locked_db(tmp_path: Path) -> Iterator[Path]:
    """A store file another connection holds the write lock of (sqlite3's BEGIN EXCLUSIVE)."""
    db = tmp_path / "locked.db"
    with SqliteStore(db) as store:
        store.put(make_records(1, seed=6)[0])
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("DELETE FROM leases")
    yield db
    other.execute("ROLLBACK")
    other.close()


def test_a_locked_store_is_refused_before_anything_runs(
    env: dict[str, str | None], locked_db: Path, no_back_off: None
) -> None:
    for result in run_and_init(env, f"sqlite:///{locked_db}"):
        refused(
            result,
            f"another process holds the history store {locked_db} locked",
            "gave up waiting after",
            "try again once it lets go",
        )
        assert result.stdout == ""
    # A reader is not kept waiting by a writer (WAL): history still lists the record.
    result = cli(env, "history", "--store", str(locked_db), "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert len(result.stdout.strip()) > 2


def test_the_busy_timeout_comes_from_the_environment(
    env: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRSORCH_STORE_BUSY_TIMEOUT", "0.25")
    with open_store(str(tmp_path / "h.db")) as store:
        timeout = store._conn.execute("PRAGMA busy_timeout").fetchone()[0]
    assert timeout == 250
    for bad in ("soon", "-1", "nan", "inf", "601"):
        result = cli({**env, "DRSORCH_STORE_BUSY_TIMEOUT": bad}, "store", "init", "h.db")
        refused(result, "DRSORCH_STORE_BUSY_TIMEOUT", "is not a number of seconds")


def test_a_long_lock_wait_is_said_once_and_a_short_one_is_not(
    locked_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes: list[str] = []
    with pytest.raises(StoreConfigError, match="another process holds"):
        SqliteStore(locked_db, busy_timeout=0, clock=VirtualClock(), on_wait=notes.append)
    assert notes == []  # at most 1.4 s of back-off: not worth a line
    monkeypatch.setattr(sqlite_module, "_SAY_WAIT_AFTER", 1.0)
    with pytest.raises(StoreConfigError):
        SqliteStore(locked_db, busy_timeout=0, clock=VirtualClock(), on_wait=notes.append)
    assert notes == [
        f"history store {locked_db} is locked by another process; waiting up to 1.4 s more for it"
    ]


def test_a_lock_that_never_frees_mid_run_is_a_store_failure_that_says_so(tmp_path: Path) -> None:
    """Once open, a lock is the engine's store failure (exit 3), never bad input."""
    db = tmp_path / "h.db"
    store = SqliteStore(db, busy_timeout=0, clock=VirtualClock())
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as caught:
            store.put(make_records(1, seed=7)[0])
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()
    assert not isinstance(caught.value, StoreConfigError)
    assert str(caught.value).startswith(f"another process holds the history store {db} locked")
    from drsorch.outcomes import exit_code_for_error

    assert exit_code_for_error(caught.value) == EXIT_INTERNAL


# -- 3. a damaged store ---------------------------------------------------------------------------


def test_a_damaged_store_names_its_problems_on_one_whole_line(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    db = tmp_path / "history.db"
    data = filled_store_bytes(db, records=60, seed=9)
    for number in (3, 5, 7):  # ruin cell pointers of a few pages, keep their headers
        data[number * PAGE + 8 : number * PAGE + 200] = b"\x07" * 192
    db.write_bytes(bytes(data))
    for args in (["history", "--store", str(db)], ["store", "init", str(db)]):
        line = refused(cli(env, *args), f"history store {db} is damaged (")
        assert "***" not in line, line
        problems = line.split(" is damaged (", 1)[1].split("); copy what", 1)[0]
        assert problems and len(problems) <= 300, problems
        assert line.endswith("move the file away to start a new one"), line


def test_integrity_problems_are_joined_and_capped() -> None:
    rows = ["*** in database main ***\nPage 5: bad\nPage 6: worse", "Page 7: x", "Page 8: y"]
    assert sqlite_module._problems(rows) == "Page 5: bad; Page 6: worse; Page 7: x; and more"
    long = sqlite_module._problems(["x" * 1000])
    assert len(long) == 300 and long.endswith("...")
    assert sqlite_module._problems(["*** in database main ***"]) == "the integrity check failed"
