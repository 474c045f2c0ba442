"""Hostnames beside server ids (issue 11, item 5): the preflight's DescribeSourceServers
names each server; the core keeps the name in the server's state and the record carries
it (``Hostname``). States, events and records from before it load as they are."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.utils.history import make_record
from tests.utils.plans import make_plan

from drsorch.cli.render import make_console, render_record
from drsorch.core import advance, load_state, new_execution, to_record
from drsorch.core import messages as m
from drsorch.history import ExecutionRecord
from drsorch.plan import parse_plan

pytestmark = pytest.mark.unit

T0 = 1_764_070_000.0


def fresh() -> Any:
    return new_execution(
        parse_plan(make_plan(9, waves=2, servers_per_wave=2)),
        execution_id="0b5c4f57-8d0e-4c49-9a55-2b8f0f6f2f11",
        now=T0,
        initiated_by="tester",
        source_account_id="111122223333",
        target_account_id="111122223333",
        region="us-east-1",
    )


def described(state: Any, hostnames: dict[str, str]) -> None:
    advance(state, m.Start(), T0)
    ids = list(state["servers"])
    advance(state, m.ServersDescribed(dict.fromkeys(ids, "CONTINUOUS"), hostnames), T0)


def test_the_preflight_names_the_servers_in_the_state_and_the_record() -> None:
    state = fresh()
    first, second, *_ = state["servers"]
    assert to_record(state)["WaveStatus"][0]["ServerResults"][0]["Hostname"] is None
    revision = state["revision"]
    described(state, {first: "db01.corp.example"})
    assert state["revision"] > revision  # the record changed: it is saved
    assert state["servers"][first]["hostname"] == "db01.corp.example"
    assert state["servers"][second]["hostname"] is None  # DRS gave no name
    record = ExecutionRecord.from_dict(to_record(state))
    names = {s.ServerId: s.Hostname for w in record.WaveStatus for s in w.ServerResults}
    assert names[first] == "db01.corp.example" and names[second] is None
    assert load_state(json.loads(json.dumps(state)))["servers"][first]["hostname"] == (
        "db01.corp.example"
    )


def test_a_preflight_that_fails_still_names_the_servers() -> None:
    state = fresh()
    first = next(iter(state["servers"]))
    advance(state, m.Start(), T0)
    advance(state, m.ServersDescribed({first: "STALLED"}, {first: "db01"}), T0)
    assert state["status"] == "FAILED"
    results = to_record(state)["WaveStatus"][0]["ServerResults"]
    assert [r["Hostname"] for r in results] == ["db01", None]


def test_states_events_and_records_from_before_hostnames_still_load() -> None:
    state = fresh()
    for server in state["servers"].values():
        del server["hostname"]
    old = load_state(json.loads(json.dumps(state)))  # a state saved before the key existed
    assert to_record(old)["WaveStatus"][0]["ServerResults"][0]["Hostname"] is None
    event = m.message_from_dict({"type": "ServersDescribed", "replication": {}})
    assert event == m.ServersDescribed({}, {})
    described(old, {sid: "h" for sid in old["servers"]})  # and it runs on, naming them now
    assert {s["hostname"] for s in old["servers"].values()} == {"h"}
    data: dict[str, Any] = make_record(4).to_dict()
    for wave in data["WaveStatus"]:
        for server in wave["ServerResults"]:
            del server["Hostname"]
    assert ExecutionRecord.from_dict(data).WaveStatus[0].ServerResults[0].Hostname is None


def test_show_puts_the_hostname_beside_the_id(capsys: pytest.CaptureFixture[str]) -> None:
    data: dict[str, Any] = make_record(4, Status="COMPLETED").to_dict()
    servers = [s for wave in data["WaveStatus"] for s in wave["ServerResults"]]
    servers[0]["Hostname"] = "db01"
    render_record(ExecutionRecord.from_dict(data), make_console())
    out = capsys.readouterr().out
    assert f"{servers[0]['ServerId']} (db01)" in out
    assert all(f"{s['ServerId']} (" not in out for s in servers[1:])  # no name, the id alone
