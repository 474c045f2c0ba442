"""Execution ids by a unique prefix (issue 11, item 5): the store's ``find_ids`` on both
adapters, :func:`resolve_id`, the shortest unique prefixes ``history`` shows, and ``show``
and ``resume`` taking a prefix back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.utils.history import make_record

from drsorch.cli import EXIT_BAD_INPUT, EXIT_OK, main
from drsorch.errors import RefusedError
from drsorch.store import HistoryStore, MemoryStore, SqliteStore
from drsorch.store.base import resolve_id, shortest_unique_prefixes

pytestmark = pytest.mark.integration

#: Two ids sharing their first 10 characters, and two alone.
IDS = (
    "d9393eee-d02a-4faf-bca5-484cff000001",
    "d9393eee-d12a-4faf-bca5-484cff000002",
    "766e5817-0000-4000-8000-000000000003",
    "0a1b2c3d-0000-4000-8000-000000000004",
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    opened: HistoryStore = (
        MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "h.db")
    )
    for seed, execution_id in enumerate(IDS):
        opened.put(make_record(seed, ExecutionId=execution_id))
    yield opened
    opened.close()


def test_find_ids_matches_true_prefixes_only(store: HistoryStore) -> None:
    assert store.find_ids("d9393eee") == list(IDS[:2])
    assert store.find_ids("d9393eee", limit=1) == [IDS[0]]
    assert store.find_ids("766e") == [IDS[2]]
    assert store.find_ids("0a1b2c3d-") == [IDS[3]]
    # LIKE's wildcards and escape are characters like any other
    assert store.find_ids("d939%") == []
    assert store.find_ids("d9393ee_") == []
    assert store.find_ids("766e5817\\") == []
    assert store.find_ids("D9393EEE") == []  # ids are lower case; resolve_id lowers
    assert store.find_ids("ffff") == []


def test_resolve_id_takes_a_whole_id_or_a_unique_prefix(store: HistoryStore) -> None:
    assert resolve_id(store, IDS[2]) == IDS[2]
    assert resolve_id(store, " 766E5817 ") == IDS[2]
    assert resolve_id(store, "d9393eee-d1") == IDS[1]


def test_resolve_id_refuses_ambiguous_short_and_unknown(store: HistoryStore) -> None:
    with pytest.raises(RefusedError, match="ambiguous: 2 executions start with d9393eee: "):
        resolve_id(store, "d9393eee")
    with pytest.raises(RefusedError, match="at least 4 characters"):
        resolve_id(store, "766")
    with pytest.raises(RefusedError, match="no execution ffffffff"):
        resolve_id(store, "ffffffff")


def test_shortest_unique_prefixes_are_8_characters_or_more(store: HistoryStore) -> None:
    short = shortest_unique_prefixes([IDS[0], IDS[2]], store)
    assert short == {IDS[0]: "d9393eee-d0", IDS[2]: "766e5817"}
    for execution_id, prefix in short.items():
        assert resolve_id(store, prefix) == execution_id
    # Among the ids given only (no store): the same rule.
    assert shortest_unique_prefixes(list(IDS[:2])) == {
        IDS[0]: "d9393eee-d0",
        IDS[1]: "d9393eee-d1",
    }


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def url(tmp_path: Path) -> str:
    with SqliteStore(tmp_path / "h.db") as opened:
        for seed, execution_id in enumerate(IDS[:3]):
            opened.put(make_record(seed, ExecutionId=execution_id))
    return f"sqlite:///{tmp_path / 'h.db'}"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_show_takes_a_unique_prefix(url: str) -> None:
    shown = run("show", "766e5817", "--store", url, "--json")
    assert shown.exit_code == EXIT_OK, shown.output
    assert json.loads(shown.stdout)["ExecutionId"] == IDS[2]
    text = run("show", "d9393eee-d1", "--store", url)
    assert text.exit_code == EXIT_OK, text.output
    assert IDS[1] in text.stdout


def test_show_refuses_an_ambiguous_prefix_naming_the_candidates(url: str) -> None:
    shown = run("show", "d9393eee", "--store", url)
    assert shown.exit_code == EXIT_BAD_INPUT
    assert "ambiguous: 2 executions start with d9393eee" in shown.stderr
    assert IDS[0] in shown.stderr and IDS[1] in shown.stderr
    assert shown.stdout == ""


def test_history_shows_prefixes_show_accepts(url: str) -> None:
    listed = run("history", "--store", url)
    assert listed.exit_code == EXIT_OK, listed.output
    rows = listed.stdout.splitlines()[2:]
    shown_ids = sorted(row.split()[0] for row in rows)
    assert shown_ids == ["766e5817", "d9393eee-d0", "d9393eee-d1"]
    for prefix in shown_ids:
        assert run("show", prefix, "--store", url, "--json").exit_code == EXIT_OK


def test_resume_resolves_a_prefix_before_anything_else(url: str) -> None:
    """The made-up records carry no engine state: the refusal names the whole id."""
    resumed = run("resume", "766e5817", "--store", url)
    assert resumed.exit_code == EXIT_BAD_INPUT
    assert IDS[2] in resumed.stderr, resumed.stderr
    ambiguous = run("resume", "d9393eee", "--store", url)
    assert ambiguous.exit_code == EXIT_BAD_INPUT
    assert "ambiguous" in ambiguous.stderr
