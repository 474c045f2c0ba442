"""Choosing a history store by URL (drsorch.store.open_store) and the in-memory fake."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.utils.history import make_record, make_records

from drsorch.core.statuses import ExecutionStatus
from drsorch.store import (
    HistoryStore,
    MemoryStore,
    SqliteStore,
    StoreConfigError,
    default_store_path,
    default_store_url,
    open_store,
)

pytestmark = pytest.mark.unit


def opened_path(url: str | None) -> Path:
    store = open_store(url)
    assert isinstance(store, SqliteStore)
    store.close()
    return Path(store.path)


def test_default_store_is_under_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("DRSORCH_STORE", raising=False)
    assert default_store_path() == tmp_path / "data" / "drsorch" / "history.db"
    assert default_store_url() == f"sqlite:///{tmp_path}/data/drsorch/history.db"
    assert opened_path(None) == tmp_path / "data" / "drsorch" / "history.db"
    assert (tmp_path / "data" / "drsorch" / "history.db").is_file()


def test_default_store_falls_back_to_local_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_store_path() == tmp_path / ".local" / "share" / "drsorch" / "history.db"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # invalid per XDG: ignored
    assert default_store_path() == tmp_path / ".local" / "share" / "drsorch" / "history.db"


def test_the_environment_names_the_store_when_no_url_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRSORCH_STORE", f"sqlite:///{tmp_path}/env.db")
    assert opened_path(None) == tmp_path / "env.db"
    assert opened_path(f"sqlite:///{tmp_path}/explicit.db") == tmp_path / "explicit.db"


def test_sqlite_urls_absolute_relative_and_plain_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert opened_path(f"sqlite:///{tmp_path}/abs.db") == tmp_path / "abs.db"  # 4 slashes
    assert opened_path("sqlite:///rel/here.db").resolve() == tmp_path / "rel" / "here.db"
    assert opened_path("plain.db").resolve() == tmp_path / "plain.db"
    assert opened_path(str(tmp_path / "plain-abs.db")) == tmp_path / "plain-abs.db"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty store URL"),
        ("sqlite:///", "bad SQLite store URL"),
        ("sqlite://host/x.db", "bad SQLite store URL"),
        ("dynamodb://h?region=us-east-1", "a table name is 3 to 255"),
        ("postgres://db/history", "unknown store kind 'postgres'"),
    ],
)
def test_unaccepted_urls_are_a_config_error_naming_the_accepted_forms(
    url: str, message: str
) -> None:
    with pytest.raises(StoreConfigError, match=message):
        open_store(url)


def test_config_errors_name_the_accepted_forms() -> None:
    with pytest.raises(StoreConfigError, match=r"sqlite:///.*dynamodb://"):
        open_store("redis://x")


def test_both_adapters_satisfy_the_port(tmp_path: Path) -> None:
    assert isinstance(MemoryStore(), HistoryStore)
    with SqliteStore(tmp_path / "h.db") as store:
        assert isinstance(store, HistoryStore)


def test_memory_store_keeps_copies_not_the_callers_objects() -> None:
    store = MemoryStore()
    record = make_record(1, Status="RUNNING")
    store.put(record)
    record.WaveStatus.clear()  # the caller keeps editing its own object
    got = store.get(record.ExecutionId)
    assert got is not None and got.WaveStatus


def test_memory_store_orders_filters_and_limits() -> None:
    store = MemoryStore()
    records = make_records(30, seed=2, plans=2)
    for record in records:
        store.put(record)
    newest = sorted(records, key=lambda r: r.StartTime, reverse=True)
    assert store.query() == newest[:20]
    completed = [r for r in newest if r.PlanId == "plan-0" and r.Status == "COMPLETED"]
    got = store.query(plan_id="plan-0", status=ExecutionStatus.COMPLETED, limit=100)
    assert got == completed
    with pytest.raises(ValueError, match="limit"):
        store.query(limit=0)
