"""Execution-history stores (design §5, §6): the port, its adapters, and picking one by URL.

Store URLs, as ``--store`` and ``DRSORCH_STORE`` take them::

    sqlite:////abs/path/history.db   an absolute path (the part after "sqlite:///")
    sqlite:///relative/history.db    a path relative to the current directory
    /abs/path/history.db             a plain path works too (relative or absolute, ~ expanded)
    dynamodb://TABLE?region=REGION   the DynamoDB store (``&profile=P``, ``&endpoint_url=U``
                                     too); create its table with ``drsorch store init URL``

With no URL at all, the store is a SQLite file in the user's data directory:
``$XDG_DATA_HOME/drsorch/history.db``, else ``~/.local/share/drsorch/history.db``.

Refused, as bad input (:class:`StoreConfigError`, exit 2): an in-memory SQLite store
(``:memory:``, ``sqlite:///:memory:``: it would lose the record when drsorch exits), a
SQLite URI filename (a path starting with ``file:``), and a ``sqlite:///`` URL with a
``?`` query or ``#`` fragment (SQLite store URLs take no options). A plain path is taken
literally, ``?`` and ``#`` included: they may be part of a real file name.

``DRSORCH_STORE_BUSY_TIMEOUT`` (seconds, 0 to 600; default 5) is how long one try of a
SQLite store waits for another process's lock; a lock that never frees is given up after
about four tries (see :mod:`drsorch.store.sqlite`), with a line on stderr when the wait goes
on past the first. Tests set it to 0 to give up at once.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from drsorch.store.base import DEFAULT_LIMIT, HistoryStore, StoreConfigError, check_query
from drsorch.store.memory import MemoryStore
from drsorch.store.sqlite import DEFAULT_BUSY_TIMEOUT, SqliteStore
from drsorch.text import printable

if TYPE_CHECKING:  # pragma: no cover
    from drsorch.store.dynamodb import DynamoStore

__all__ = [
    "BUSY_TIMEOUT_ENV_VAR",
    "DEFAULT_LIMIT",
    "ENV_VAR",
    "HistoryStore",
    "MemoryStore",
    "SqliteStore",
    "StoreConfigError",
    "check_query",
    "default_store_path",
    "default_store_url",
    "open_store",
]

#: The environment variable naming the store when no URL is given.
ENV_VAR = "DRSORCH_STORE"
#: The environment variable giving a SQLite store's lock wait per try, in seconds.
BUSY_TIMEOUT_ENV_VAR = "DRSORCH_STORE_BUSY_TIMEOUT"
_MAX_BUSY_TIMEOUT = 600.0

_ACCEPTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, a plain file path, "
    "or dynamodb://TABLE?region=REGION"
)


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/drsorch/history.db``, else ``~/.local/share/drsorch/history.db``."""
    data_home = os.environ.get("XDG_DATA_HOME")
    # The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
    if data_home and os.path.isabs(data_home):
        base = Path(data_home)
    else:
        base = Path.home() / ".local" / "share"
    return base / "drsorch" / "history.db"


def default_store_url() -> str:
    """The URL of the default store (``sqlite:///`` followed by an absolute path)."""
    return f"sqlite:///{default_store_path()}"


def open_store(url: str | None = None, *, read_only: bool = False) -> SqliteStore | DynamoStore:
    """Open the store ``url`` names; None means ``$DRSORCH_STORE``, then the default.

    ``read_only`` (``history``, ``show``): never create, migrate or write it; a store that
    does not exist yet reads as empty.

    Raises :class:`StoreConfigError` for a URL it does not accept, and
    :class:`~drsorch.errors.StoreError` when the store itself cannot be opened.
    """
    if url is None:
        url = os.environ.get(ENV_VAR) or default_store_url()
    url = url.strip()
    if not url:
        raise StoreConfigError(f"empty store URL; expected {_ACCEPTED}")
    if url.startswith("sqlite:"):
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise StoreConfigError(f"bad SQLite store URL {url!r}; expected {_ACCEPTED}")
        path = url[len("sqlite:///") :]
        if "?" in path or "#" in path:
            bare = url.split("?", 1)[0].split("#", 1)[0]
            raise StoreConfigError(
                f"bad SQLite store URL {url!r}: SQLite store URLs take no options ('?' or "
                f"'#'); give the file path alone, e.g. {bare}"
            )
        return _sqlite(path, read_only)
    if url.startswith("dynamodb:"):
        from drsorch.store.dynamodb import DynamoStore  # boto3 only when asked for

        return DynamoStore(url, read_only=read_only)
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise StoreConfigError(f"unknown store kind {scheme!r} in {url!r}; expected {_ACCEPTED}")
    return _sqlite(url, read_only)


def _sqlite(path: str, read_only: bool) -> SqliteStore:
    """The SQLite store at ``path``, refusing what would not keep the record in a file."""
    if path == ":memory:":
        raise StoreConfigError(
            "an in-memory SQLite store (:memory:) would lose the record when drsorch exits; "
            "give a file path (sqlite:///PATH or a plain path)"
        )
    if path.startswith("file:"):
        raise StoreConfigError(
            f"{path!r} is a SQLite URI filename, which drsorch does not take; give a plain "
            "file path (sqlite:///PATH or a plain path)"
        )
    return SqliteStore(
        path, read_only=read_only, busy_timeout=_busy_timeout(), on_wait=_say_on_stderr
    )


def _busy_timeout() -> float:
    """``$DRSORCH_STORE_BUSY_TIMEOUT`` in seconds, else the default."""
    raw = os.environ.get(BUSY_TIMEOUT_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_BUSY_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= _MAX_BUSY_TIMEOUT:  # NaN and infinities too
        raise StoreConfigError(
            f"{BUSY_TIMEOUT_ENV_VAR}={raw!r} is not a number of seconds from 0 to "
            f"{_MAX_BUSY_TIMEOUT:g}"
        )
    return seconds


def _say_on_stderr(text: str) -> None:
    """A store's note to the person waiting (a lock wait): one line on stderr, if it can."""
    with contextlib.suppress(OSError, ValueError):  # a closed stderr: the wait goes on
        print(f"note: {printable(text)}", file=sys.stderr, flush=True)
