"""ServerTags (issue 12, item 4): a wave may select its servers by tags instead of, or as
well as, listing them; the plan says what it can before any AWS call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drsorch.core import advance
from drsorch.core import messages as m
from drsorch.core.selection import unresolved
from drsorch.core.state import load_state, new_execution, to_record
from drsorch.history import ExecutionRecord
from drsorch.plan import load_plan, parse_plan, validate_data
from drsorch.plan.checks import NO_SERVERS
from drsorch.plan.loader import PlanProblems

pytestmark = pytest.mark.unit

A, B, C = "s-3d75cdc0d9a28a725", "s-3afa164776f93ce4f", "s-00000000000000abc"
EID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def plan_data(*waves: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "PlanId": "p",
        "PlanName": "n",
        "Waves": [{"WaveNumber": i + 1, **w} for i, w in enumerate(waves)],
        **extra,
    }


def problems(*waves: dict[str, Any], **extra: Any) -> list[str]:
    plan, found = validate_data(plan_data(*waves, **extra))
    assert (plan is None) == bool(found)
    return found


@pytest.mark.parametrize(
    "wave",
    [
        {"ServerTags": {"Tier": "db"}},
        {"ServerTags": {"Tier": "db", "App": "shop", "Env": ""}},  # an empty value is a value
        {"ServerIds": [A], "ServerTags": {"Tier": "db"}},
        {"ServerTags": {"k" * 256: "v" * 256}},  # DRS's TagKey / TagValue: 256 at most
        {"ServerTags": {"aws:cloudformation:stack-name": "shop"}},  # reading aws: tags is fine
        {"ServerTags": {"Tier": "db"}, "ExecutionType": "SEQUENTIAL", "MaxFailedServers": 5},
    ],
)
def test_good_server_tags_are_accepted(wave: dict[str, Any]) -> None:
    assert problems(wave) == []


@pytest.mark.parametrize(
    ("wave", "expected"),
    [
        ({"ServerTags": {}}, "Waves[0].ServerTags: must not be empty"),
        ({"ServerTags": {"": "db"}}, "Waves[0].ServerTags: a tag key must not be empty"),
        (
            {"ServerTags": {"k" * 257: "db"}},
            "Waves[0].ServerTags: tag key 'kkkkkkkkkkkkkkkkkkkkkkkkkkk...kkkkkkkkkkkkkkkkkkkkkkk"
            "kkkkk' has 257 characters; DRS tag keys have at most 256",
        ),
        (
            {"ServerTags": {"Tier": "v" * 257}},
            "Waves[0].ServerTags.Tier: must be at most 256 characters long",
        ),
        ({"ServerTags": {"Tier": 3}}, "Waves[0].ServerTags.Tier: must be text, not 3"),
        (
            {"ServerTags": {"Tier": "a\nb"}},
            "Waves[0].ServerTags.Tier: must not contain control characters (found \\x0a)",
        ),
        (
            {"ServerTags": {"Ti\ter": "db"}},
            "Waves[0].ServerTags: tag key 'Ti\\ter' must not contain control characters",
        ),
        (
            {"ServerTags": {f"k{i}": "v" for i in range(51)}},
            "Waves[0].ServerTags: must have at most 50 entries",
        ),
        ({"ServerTags": ["Tier", "db"]}, "Waves[0].ServerTags: "),
        ({}, f"Waves[0].ServerIds: {NO_SERVERS}"),
        (
            {
                "ServerTags": {"Tier": "db"},
                "ServerIds": [A, B],
                "ExecutionType": "SEQUENTIAL",
                "ExecutionOrder": [2, 1],
            },
            "Waves[0].ExecutionOrder: a wave that selects servers by ServerTags has no fixed "
            "launch order",
        ),
    ],
)
def test_bad_server_tags_are_refused_naming_the_field(wave: dict[str, Any], expected: str) -> None:
    found = problems(wave)
    assert any(p.startswith(expected) for p in found), found


def test_a_wave_with_neither_ids_nor_tags_is_located_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        f"PlanId: p\nPlanName: n\nWaves:\n  - WaveNumber: 1\n    ServerIds: [{A}]\n"
        "  - WaveNumber: 2\n    WaveName: empty\n",
        encoding="utf-8",
    )
    with pytest.raises(PlanProblems) as info:
        load_plan(path)
    located = [p.located("F") for p in info.value.located]
    assert located == [f"F:6:5: Waves[1].ServerIds (wave 2): {NO_SERVERS}"]


def test_a_wave_with_neither_is_reported_once_alongside_other_problems() -> None:
    found = problems({"WaitTimeSeconds": -1})
    assert found.count(f"Waves[0].ServerIds: {NO_SERVERS}") == 1
    assert any(p.startswith("Waves[0].WaitTimeSeconds") for p in found)


def test_max_failed_servers_is_checked_at_preflight_when_tags_select_servers() -> None:
    """A wave of 1 listed server may still tolerate 3 failures: its tags may add more."""
    assert problems({"ServerIds": [A], "ServerTags": {"T": "x"}, "MaxFailedServers": 3}) == []
    assert problems({"ServerIds": [A], "MaxFailedServers": 3}) != []


# -- the pure core ---------------------------------------------------------------------------


def start(*waves: dict[str, Any], **extra: Any) -> dict[str, Any]:
    plan = parse_plan(plan_data(*waves, **extra))
    state: Any = new_execution(
        plan,
        execution_id=EID,
        now=0.0,
        initiated_by="t",
        source_account_id="111122223333",
        target_account_id="111122223333",
        region="us-east-1",
    )
    return dict(state)


def test_the_preflight_names_each_unresolved_selector_and_resolves_it_once() -> None:
    state: Any = start(
        {"ServerIds": [A]},
        {"ServerTags": {"Tier": "db"}, "MaxFailedPercent": 50, "ExecutionType": "SEQUENTIAL"},
    )
    cmds = advance(state, m.Start(), 0.0)
    describe = next(c for c in cmds if isinstance(c, m.DescribeServers))
    assert describe.server_ids == [A] and describe.selectors == {"2": {"Tier": "db"}}
    event = m.ServersDescribed(
        {A: "CONTINUOUS", B: "CONTINUOUS", C: "CONTINUOUS"}, matched={"2": [C, B]}
    )
    # Through JSON, as an event log or the Step Functions driver carries it.
    advance(state, m.message_from_dict(event.to_dict()), 1.0)  # type: ignore[arg-type]
    assert state["phase"] == "RUNNING"
    wave = state["waves"][1]
    assert wave["order"] == [C, B] and wave["selector"]["matched"] == [C, B]  # id order
    assert wave["max_failed"] == 1  # 50 % of the 2 servers the tags found
    assert state["servers"][B]["wave"] == 2
    assert unresolved(state) == {}
    # A saved state of a resolved execution loads as it was and resumes without resolving.
    loaded: Any = load_state(state, execution_id=EID)
    assert loaded == state
    resumed = advance(loaded, m.Resume(), 2.0)
    assert not any(isinstance(c, m.DescribeServers) for c in resumed)
    record = to_record(loaded)
    assert record["WaveStatus"][1]["ServerTags"] == {"Tier": "db"}
    assert record["WaveStatus"][1]["TagMatchedServerIds"] == [C, B]
    assert "ServerTags" not in record["WaveStatus"][0]  # other waves keep their shape
    ExecutionRecord.model_validate(record)


def test_a_resume_during_the_preflight_resolves_again() -> None:
    state: Any = start({"ServerTags": {"Tier": "db"}})
    advance(state, m.Start(), 0.0)
    saved: Any = load_state(state, execution_id=EID)  # the engine died before the answer
    cmds = advance(saved, m.Resume(), 5.0)
    describe = next(c for c in cmds if isinstance(c, m.DescribeServers))
    assert describe.server_ids == [] and describe.selectors == {"1": {"Tier": "db"}}


def test_a_refused_resolution_changes_no_server_and_fails_the_execution() -> None:
    state: Any = start({"ServerTags": {"Tier": "db"}}, {"ServerTags": {"App": "shop"}})
    advance(state, m.Start(), 0.0)
    cmds = advance(state, m.ServersDescribed({A: "CONTINUOUS"}, matched={"1": [A], "2": [A]}), 1.0)
    assert isinstance(cmds[-1], m.Finish) and state["status"] == "FAILED"
    assert state["servers"] == {}
    assert all(w["selector"]["matched"] is None for w in state["waves"])
    assert [e["ServerId"] for e in state["errors"][:1]] == [A]
    assert "nothing was launched" in state["errors"][-1]["Message"]


def test_a_state_whose_matched_server_is_not_in_its_wave_is_damaged() -> None:
    from drsorch.errors import StoreDamagedError

    state: Any = start({"ServerTags": {"Tier": "db"}})
    advance(state, m.Start(), 0.0)
    advance(state, m.ServersDescribed({A: "CONTINUOUS"}, matched={"1": [A]}), 1.0)
    state["waves"][0]["order"] = []
    with pytest.raises(StoreDamagedError, match="matched by its ServerTags is not in its order"):
        load_state(state, execution_id=EID)


def test_a_recovery_confirmation_says_tags_select_more_servers() -> None:
    from drsorch.gates import plan_as_run

    questions: list[str] = []

    def confirm(question: str) -> bool:
        questions.append(question)
        return True

    plan = parse_plan(
        plan_data({"ServerIds": [A]}, {"ServerTags": {"Tier": "db"}}, ExecutionType="RECOVERY")
    )
    plan_as_run(plan, recovery=True, drill=False, yes=False, confirm=confirm)
    assert questions == [
        "Run a real RECOVERY of p (1 servers listed, and every server its ServerTags select)?"
    ]
