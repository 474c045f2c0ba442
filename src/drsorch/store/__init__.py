"""Execution-history stores (design §5, §6): the port, its adapters, and picking one by URL.

Store URLs, as ``--store`` and ``DRSORCH_STORE`` take them::

    sqlite:////abs/path/history.db   an absolute path (the part after "sqlite:///")
    sqlite:///relative/history.db    a path relative to the current directory
    /abs/path/history.db             a plain path works too (relative or absolute, ~ expanded)
    dynamodb://TABLE?region=REGION   the DynamoDB store (``&profile=P``, ``&endpoint_url=U``
                                     too); create its table with ``drsorch store init URL``

With no URL at all, the store is a SQLite file in the user's data directory:
``$XDG_DATA_HOME/drsorch/history.db``, else ``~/.local/share/drsorch/history.db``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from drsorch.store.base import DEFAULT_LIMIT, HistoryStore, StoreConfigError, check_query
from drsorch.store.memory import MemoryStore
from drsorch.store.sqlite import SqliteStore

if TYPE_CHECKING:  # pragma: no cover
    from drsorch.store.dynamodb import DynamoStore

__all__ = [
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
        return SqliteStore(url[len("sqlite:///") :], read_only=read_only)
    if url.startswith("dynamodb:"):
        from drsorch.store.dynamodb import DynamoStore  # boto3 only when asked for

        return DynamoStore(url, read_only=read_only)
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise StoreConfigError(f"unknown store kind {scheme!r} in {url!r}; expected {_ACCEPTED}")
    return SqliteStore(url, read_only=read_only)
