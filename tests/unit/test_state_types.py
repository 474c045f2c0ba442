"""The typed engine state (issue 13.1): ``load_state`` takes back every state the engine
saves, exactly as it was saved (statuses as their enums), brings an older layout forward,
and refuses a damaged, foreign or newer one with a message naming the execution and what
is wrong."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.utils.engine import run_plan
from tests.utils.plans import make_plan

from drsorch.core import advance, load_state
from drsorch.core import messages as m
from drsorch.core import state as state_module
from drsorch.core.statuses import DispatchStatus, ExecutionStatus, Phase, ServerStatus, WaveStatus
from drsorch.errors import RefusedError, StoreDamagedError
from drsorch.redaction import for_disk, needs, restore
from drsorch.runner import Runner

pytestmark = pytest.mark.unit

#: A state saved by drsorch before the state was typed (version 1): an execution killed
#: during the health checks of its waves 2 and 3, with a failed and a skipped server, a
#: notice, job tokens and last-seen health. Never regenerate it: it stands for the states
#: already on disk, which every later drsorch must still resume (migrating them if the
#: layout changes).
V1_RUNNING = Path(__file__).parents[1] / "fixtures" / "states" / "v1-running.json"


def saved_states(**kwargs: Any) -> list[str]:
    """Every state of one run, as the store saves it (JSON), one per step of the core."""
    seen: list[str] = []
    observe = kwargs.pop("observe", None)

    def keep(runner: Runner, state: Any) -> None:
        if observe is not None:
            observe(runner, state)
        text = json.dumps(state)
        if not seen or seen[-1] != text:
            seen.append(text)

    out = run_plan(kwargs.pop("plan"), observe=keep, **kwargs)
    assert seen[-1] == json.dumps(out.runner.state)
    return seen


def cancel_at_first_job(runner: Runner, state: Any) -> None:
    if any(x["job_id"] for x in state["launches"].values()):
        runner.cancel("test")


def paused_plan() -> dict[str, Any]:
    data = make_plan(4, waves=2, servers_per_wave=2)
    data["Waves"][1]["PauseBefore"] = True
    return data


def parallel_plan() -> dict[str, Any]:
    """30 one-server waves at once: more launches than DRS's 20 concurrent jobs (QUEUED)."""
    data = make_plan(16, waves=30, servers_per_wave=1, health_check=False)
    for wave in data["Waves"]:
        wave["Dependencies"] = []
    return data


MIXED = make_plan(17, waves=3, servers_per_wave=3, execution_type="MIXED", dag=True)
RUNS: dict[str, dict[str, Any]] = {
    "faults": {
        "plan": MIXED,
        "faults": [
            {"kind": "launch_failure", "server_id": MIXED["Waves"][1]["ServerIds"][0]},
            {"kind": "throttle", "operation": "DescribeJobs", "nth": 2},
            {"kind": "stuck_pending", "server_id": MIXED["Waves"][0]["ServerIds"][1]},
            {"kind": "unknown_job_status", "nth": 1},
        ],
    },
    "no health check, waits": {
        "plan": make_plan(2, waves=2, servers_per_wave=2, health_check=False, wait_seconds=120)
    },
    "queued behind DRS quotas": {"plan": parallel_plan()},
    "preflight failed": {
        "plan": make_plan(3, waves=2, servers_per_wave=2),
        "missing": [make_plan(3, waves=2, servers_per_wave=2)["Waves"][1]["ServerIds"][0]],
    },
    "cancelled": {
        "plan": make_plan(5, waves=3, servers_per_wave=2),
        "observe": cancel_at_first_job,
    },
    "approval refused": {"plan": paused_plan(), "approve": False},
    "approved": {"plan": paused_plan(), "approve": True},
}


@functools.cache
def states_of(name: str) -> tuple[str, ...]:
    return tuple(saved_states(**copy.deepcopy(RUNS[name])))


@pytest.mark.parametrize("name", list(RUNS))
def test_every_state_the_engine_saves_loads_as_it_was_saved(name: str) -> None:
    """From the first step to the end, whatever happens in between: the loaded state is
    the saved one (the same JSON, byte for byte), with its statuses as enum members."""
    states = states_of(name)
    assert len(states) >= 2
    for text in states:
        loaded = load_state(json.loads(text))
        assert json.dumps(loaded) == text
        assert isinstance(loaded["status"], ExecutionStatus)
        assert isinstance(loaded["phase"], Phase)
        assert all(isinstance(w["status"], WaveStatus) for w in loaded["waves"])
        assert all(isinstance(s["status"], ServerStatus) for s in loaded["servers"].values())
        assert all(isinstance(x["status"], DispatchStatus) for x in loaded["launches"].values())


def test_the_runs_above_reach_every_status_and_phase() -> None:
    """So that the test above has seen each value of each enum in a saved state."""
    reached: dict[str, set[str]] = {}
    for name in RUNS:
        for text in states_of(name):
            state = json.loads(text)
            reached.setdefault("execution", set()).add(state["status"])
            reached.setdefault("phase", set()).add(state["phase"])
            reached.setdefault("wave", set()).update(w["status"] for w in state["waves"])
            servers = state["servers"].values()
            reached.setdefault("server", set()).update(s["status"] for s in servers)
            launches = state["launches"].values()
            reached.setdefault("launch", set()).update(x["status"] for x in launches)
    assert reached == {
        "execution": set(ExecutionStatus),
        "phase": set(Phase),
        "wave": set(WaveStatus),
        "server": set(ServerStatus),
        "launch": set(DispatchStatus),
    }


def v1_state() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(V1_RUNNING.read_text())
    return data


def test_a_v1_state_saved_before_the_types_loads_and_resumes() -> None:
    data = v1_state()
    assert data["version"] == 1
    state = load_state(copy.deepcopy(data), execution_id=data["execution_id"])
    # Migrated to the current layout: only the version changes (version 2 added selectors).
    assert json.loads(json.dumps(state)) == {**data, "version": state_module.STATE_VERSION}
    later = state["start_time"] + 600
    commands = advance(state, m.Resume(), later)
    assert isinstance(commands[-1], m.WakeAt | m.Finish)
    assert "the engine was restarted from its saved state" in state["notices"]


def test_a_state_saved_without_its_secret_loads_and_gets_it_back() -> None:
    state = load_state(v1_state())
    state["plan"]["Target"] = {"AccountId": "111122223333", "ExternalId": "s3cret"}
    saved = json.loads(json.dumps(for_disk(state)))
    assert saved["redacted"] == ["Target.ExternalId"] and "s3cret" not in json.dumps(saved)
    loaded = load_state(saved)
    assert needs(loaded) == ["Target.ExternalId"]
    assert restore(loaded, external_id="s3cret")["plan"]["Target"]["ExternalId"] == "s3cret"


# -- refused ---------------------------------------------------------------------------------

Damage = Callable[[dict[str, Any]], None]


def first_server(state: dict[str, Any]) -> dict[str, Any]:
    server: dict[str, Any] = state["servers"][FIRST]
    return server


FIRST = next(iter(v1_state()["servers"]))
DAMAGES: dict[str, tuple[Damage, str]] = {
    "missing key": (
        lambda s: first_server(s).pop("polls"),
        f"servers.{FIRST}.polls: Field required",
    ),
    "string for a number": (
        lambda s: s.update(revision="3"),
        "revision: Input should be a valid integer (found '3')",
    ),
    "number for a boolean": (
        lambda s: s.update(cancel_requested=1),
        "cancel_requested: Input should be a valid boolean (found 1)",
    ),
    "boolean for a time": (
        lambda s: s["waves"][0].update(start_time=True),
        "waves.0.start_time: Input should be a number (an int or a float) (found True)",
    ),
    "unknown server status": (
        lambda s: first_server(s).update(status="EXPLODED"),
        f"servers.{FIRST}.status: Input should be 'PENDING', 'LAUNCHING'",
    ),
    "unknown phase": (lambda s: s.update(phase="LAUNCHING"), "phase: Input should be"),
    "unknown launch status": (
        lambda s: next(iter(s["launches"].values())).update(status="LOST"),
        "Input should be 'QUEUED', 'SENT', 'ACTIVE' or 'DONE' (found 'LOST')",
    ),
    "unknown key": (
        lambda s: first_server(s).update(colour="red"),
        f"servers.{FIRST}.colour: Extra inputs are not permitted",
    ),
    "not a list": (lambda s: s.update(errors={}), "errors: Input should be a valid list"),
    "a wave's server is missing": (
        lambda s: s["waves"][0]["order"].append("s-0000000000000000a"),
        "wave 1 has no server s-0000000000000000a",
    ),
    "a job's launch is missing": (
        lambda s: s["job_tokens"].update({"drsjob-1": "gone:1"}),
        "job drsjob-1 names launch gone:1, which is not in the state",
    ),
    "the wave index is wrong": (
        lambda s: s.update(wave_index={"1": 2}),
        "wave_index does not match waves",
    ),
    "not an object": (lambda s: None, "not a JSON object"),
}


@pytest.mark.parametrize("name", list(DAMAGES))
def test_a_damaged_state_is_refused_naming_the_execution_and_the_damage(name: str) -> None:
    damage, expected = DAMAGES[name]
    data: Any = v1_state()
    eid = data["execution_id"]
    if name == "not an object":
        data = [data]
    else:
        damage(data)
    with pytest.raises(StoreDamagedError) as refused:
        load_state(data, execution_id=eid)
    message = str(refused.value)
    assert f"the saved engine state of execution {eid} is damaged" in message
    assert expected in message


def test_many_problems_are_counted_not_all_listed() -> None:
    data = v1_state()
    for server in data["servers"].values():
        server["polls"] = "0"
    with pytest.raises(StoreDamagedError, match=r"\(found '0'\); and 6 more$"):
        load_state(data)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (None, "it has no version: it is not an engine state"),
        ("1", "its version is '1', not a state version"),
        (True, "its version is True, not a state version"),
        (0, "its version is 0, not a state version"),
    ],
)
def test_a_state_without_a_valid_version_is_refused(version: Any, expected: str) -> None:
    data = v1_state()
    if version is None:
        del data["version"]
    else:
        data["version"] = version
    with pytest.raises(StoreDamagedError, match=expected):
        load_state(data)


def test_a_state_of_a_newer_drsorch_is_refused_not_guessed_at() -> None:
    data = v1_state()
    data["version"] = state_module.STATE_VERSION + 1
    with pytest.raises(RefusedError, match="saved by a newer drsorch") as refused:
        load_state(data)
    assert data["execution_id"] in str(refused.value)
    assert not isinstance(refused.value, StoreDamagedError)


def test_the_state_of_another_execution_is_refused() -> None:
    data = v1_state()
    with pytest.raises(
        StoreDamagedError, match=f"it is the state of execution {data['execution_id']}"
    ):
        load_state(data, execution_id="another-execution")


def test_an_older_state_is_migrated_one_version_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook a layout change uses: a v1 state goes through the 1 -> 2 migration."""
    calls: list[int] = []

    def to_v2(old: dict[str, Any]) -> dict[str, Any]:
        calls.append(old["version"])
        return {**old, "version": 2}

    monkeypatch.setattr(state_module, "STATE_VERSION", 2)
    monkeypatch.setattr(state_module, "_MIGRATIONS", {1: to_v2})
    assert load_state(v1_state())["version"] == 2
    assert calls == [1]


# -- where it runs (issue 11, item 3) -------------------------------------------------------


def test_a_v1_state_saved_before_environment_details_loads_and_records_null() -> None:
    data = v1_state()
    assert "environment_details" not in data
    state = load_state(copy.deepcopy(data), execution_id=data["execution_id"])
    assert "environment_details" not in state
    assert state_module.to_record(state)["Environment"] is None


def test_a_state_says_where_it_runs_and_loads_back_as_saved() -> None:
    data = v1_state()
    details = {"kind": "simulator", "endpoint": None, "seed": 2026, "scenario": "day.yaml"}
    data["environment_details"] = details
    state = load_state(copy.deepcopy(data), execution_id=data["execution_id"])
    assert json.loads(json.dumps(state)) == {**data, "version": state_module.STATE_VERSION}
    assert state_module.to_record(state)["Environment"] == {
        "Kind": "simulator",
        "Endpoint": None,
        "Seed": 2026,
        "Scenario": "day.yaml",
    }


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"kind": "laptop", "endpoint": None, "seed": None, "scenario": None}, "kind"),
        ({"kind": "simulator", "endpoint": None, "seed": "5", "scenario": None}, "seed"),
        ({"kind": "aws", "endpoint": None, "seed": None}, "scenario"),
        ({"kind": "aws", "endpoint": None, "seed": None, "scenario": None, "x": 1}, "x"),
    ],
)
def test_a_damaged_environment_is_refused(details: dict[str, Any], expected: str) -> None:
    data = v1_state()
    data["environment_details"] = details
    with pytest.raises(StoreDamagedError, match=f"environment_details.{expected}"):
        load_state(data, execution_id=data["execution_id"])


def test_new_execution_records_where_it_runs() -> None:
    from drsorch.plan import parse_plan

    plan = parse_plan(make_plan(2, waves=1, servers_per_wave=1))
    details: Any = {
        "kind": "aws",
        "endpoint": "http://127.0.0.1:4599",
        "seed": None,
        "scenario": None,
    }
    state = state_module.new_execution(
        plan,
        execution_id="00000000-0000-4000-8000-000000000000",
        now=1_764_070_000.0,
        initiated_by="alice@host",
        source_account_id="123456789012",
        target_account_id="123456789012",
        region="us-east-1",
        environment=details,
    )
    assert state["environment"] == "aws"
    assert state["environment_details"] == details
    assert state["environment_details"] is not details  # a copy: the caller's stays its own
    assert load_state(json.loads(json.dumps(state)))["environment_details"] == details
