"""Waves selected by tags (issue 12, item 4): ServerTags resolved at preflight against the
simulated DRS, page after page; a selector matching nothing or a server claimed twice fails
the preflight before any launch; a crash after the preflight never resolves again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from tests.utils.engine import SHORT

from drsorch.aws.drs import DrsAdapter
from drsorch.aws.retry import RetryPolicy
from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.core.state import load_state
from drsorch.history import ExecutionRecord
from drsorch.plan import Plan, parse_plan
from drsorch.runner import Runner
from drsorch.sim import ServerSpec
from drsorch.sim.testing import clients
from drsorch.store import MemoryStore
from drsorch.wiring import World, simulated

pytestmark = pytest.mark.integration

DB = [f"s-db{i:015d}" for i in range(3)]
APP = [f"s-app{i:014d}" for i in range(4)]
WEB = "s-web00000000000000"
OTHER = "s-other000000000000"


def scenario(tags: dict[str, dict[str, str]] | None = None) -> Any:
    tags = tags or {}
    specs = [
        *(ServerSpec(id=sid, tags={"Tier": "db", "App": "shop"}) for sid in DB),
        *(ServerSpec(id=sid, tags={"Tier": "app", "App": "shop"}) for sid in APP),
        ServerSpec(id=WEB),
        ServerSpec(id=OTHER, tags={"Tier": "db", "App": "crm"}),
    ]
    specs = [s.model_copy(update={"tags": tags[s.id]}) if s.id in tags else s for s in specs]
    return SHORT.model_copy(update={"source_servers": specs})


def plan_of(*waves: dict[str, Any]) -> Plan:
    return parse_plan(
        {
            "PlanId": "tagged",
            "PlanName": "Tagged waves",
            # No health checks: the launches are what these tests are about, and it is quick.
            "Defaults": {"HealthCheck": {"Enabled": False}},
            "Waves": [{"WaveNumber": i + 1, **w} for i, w in enumerate(waves)],
        }
    )


def world_for(plan: Plan, sc: Any, *, page_size: int | None = None) -> World:
    world = simulated(plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=sc, seed=1)
    world.options.keep_state = True
    if page_size is not None:
        assert world.sim is not None
        drs_client, _ = clients(world.sim)
        adapter = DrsAdapter(drs_client, RetryPolicy(world.clock), page_size=page_size)
        world = dataclasses.replace(world, drs=adapter)
    return world


def run(plan: Plan, world: World, store: MemoryStore | None = None) -> ExecutionRecord:
    runner = Runner(drs=world.drs, ec2=world.ec2, store=store or MemoryStore(), clock=world.clock)
    return runner.run(plan, world.options)


def launched(world: World) -> Counter[str]:
    assert world.sim is not None
    return Counter(s for job in world.sim.jobs if job.type == "LAUNCH" for s in job.participants)


def results(record: ExecutionRecord, wave: int) -> list[str]:
    return [r.ServerId for r in record.WaveStatus[wave - 1].ServerResults]


TAGGED = (
    {"ServerTags": {"Tier": "db", "App": "shop"}},
    {"ServerIds": [WEB], "ServerTags": {"Tier": "app"}, "ExecutionType": "SEQUENTIAL"},
)


def test_a_tag_selected_plan_completes_with_the_resolved_servers_in_the_record() -> None:
    plan = plan_of(*TAGGED)
    world = world_for(plan, scenario())
    record = run(plan, world)
    assert record.Status == "COMPLETED", record.Errors
    assert results(record, 1) == DB  # OTHER is Tier=db too, but App=crm
    assert results(record, 2) == [WEB, *APP]  # listed first, then the matches in id order
    assert record.WaveStatus[0].ServerTags == {"Tier": "db", "App": "shop"}
    assert record.WaveStatus[1].TagMatchedServerIds == APP
    assert all(r.Status == "COMPLETED" for w in record.WaveStatus for r in w.ServerResults)
    assert record.ServerCount == 8
    assert launched(world) == Counter(dict.fromkeys([*DB, *APP, WEB], 1))


def test_paging_resolves_selectors_across_pages_with_no_cap() -> None:
    """Page size 2 over 9 servers: five DescribeSourceServers pages, every match found."""
    plan = plan_of(*TAGGED)
    world = world_for(plan, scenario(), page_size=2)
    assert world.sim is not None
    record = run(plan, world)
    pages = [
        c
        for c in world.sim.recorder.calls
        if c.operation == "DescribeSourceServers" and not c.params.get("filters")
    ]
    assert len(pages) == 5 and all(c.params.get("maxResults") == 2 for c in pages)
    assert sorted(results(record, 1) + results(record, 2)) == sorted([*DB, *APP, WEB])


def test_a_selector_matching_nothing_fails_the_preflight_and_launches_nothing() -> None:
    plan = plan_of({"ServerIds": [WEB]}, {"ServerTags": {"Tier": "cache"}})
    world = world_for(plan, scenario())
    record = run(plan, world)
    assert record.Status == "FAILED"
    messages = [e.Message for e in record.Errors]
    assert any(
        "wave 2: preflight: ServerTags {'Tier': 'cache'} match no DRS source server" in msg
        for msg in messages
    ), messages
    assert record.Errors[0].WaveNumber == 2
    assert launched(world) == Counter()
    assert record.WaveStatus[1].ServerResults == []


@pytest.mark.parametrize(
    ("waves", "server", "claim"),
    [
        # Two selectors both match the db servers.
        (({"ServerTags": {"Tier": "db"}}, {"ServerTags": {"App": "shop"}}), DB[0], "ServerTags"),
        # A server listed by id in wave 1 is matched by wave 2's tags.
        (({"ServerIds": [APP[0]]}, {"ServerTags": {"Tier": "app"}}), APP[0], "ServerIds"),
    ],
)
def test_a_server_matched_by_two_waves_fails_before_any_launch(
    waves: tuple[dict[str, Any], ...], server: str, claim: str
) -> None:
    plan = plan_of(*waves)
    world = world_for(plan, scenario())
    record = run(plan, world)
    assert record.Status == "FAILED"
    mine = [e for e in record.Errors if e.ServerId == server]
    assert mine and "of wave 2, but also" in mine[0].Message and claim in mine[0].Message
    assert "a server is recovered by one wave only" in mine[0].Message
    assert launched(world) == Counter()
    assert all(w.Status == "CANCELLED" for w in record.WaveStatus)


def test_a_server_listed_and_matched_by_the_same_wave_is_recovered_once() -> None:
    plan = plan_of({"ServerIds": [DB[1]], "ServerTags": {"Tier": "db", "App": "shop"}})
    world = world_for(plan, scenario())
    record = run(plan, world)
    assert record.Status == "COMPLETED"
    assert results(record, 1) == [DB[1], DB[0], DB[2]]
    assert launched(world) == Counter(dict.fromkeys(DB, 1))


def test_a_matched_server_that_is_not_replicating_fails_the_preflight() -> None:
    plan = plan_of({"ServerTags": {"Tier": "db", "App": "shop"}})
    sc = scenario()
    specs = [
        s.model_copy(update={"replication_state": "STALLED"}) if s.id == DB[2] else s
        for s in sc.source_servers
    ]
    world = world_for(plan, sc.model_copy(update={"source_servers": specs}))
    record = run(plan, world)
    assert record.Status == "FAILED"
    assert any(e.ServerId == DB[2] and "STALLED" in e.Message for e in record.Errors)
    assert launched(world) == Counter()


class Crash(BaseException):
    """The engine dies on the spot."""


def test_resume_after_a_crash_keeps_the_resolution_and_launches_once() -> None:
    """The engine dies at its first launch, after the preflight resolved the tags. Meanwhile
    someone re-tags the servers: the resumed engine keeps what it resolved and saved, and
    every server is launched exactly once."""
    plan = plan_of(*TAGGED)
    world = world_for(plan, scenario())
    assert world.sim is not None
    store = MemoryStore()
    real = world.drs.start_recovery
    calls = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 2:
            raise Crash
        return real(*args, **kwargs)

    world.drs.start_recovery = dying  # type: ignore[method-assign]
    first = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock)
    first._break = lambda state, message: None  # type: ignore[method-assign]
    with pytest.raises(Crash):
        first.run(plan, world.options)
    saved = store.get_state(world.options.execution_id)
    assert saved is not None and saved["status"] == "RUNNING"
    state = load_state(saved, execution_id=world.options.execution_id)
    assert state["waves"][0]["selector"]["matched"] == DB
    # Re-tag behind the engine's back: DB[0] leaves the selection, OTHER joins it.
    drs_client, _ = clients(world.sim)
    arn = {s.id: s.arn for s in world.sim.account().servers.values()}
    drs_client.untag_resource(resourceArn=arn[DB[0]], tagKeys=["Tier"])
    drs_client.tag_resource(resourceArn=arn[OTHER], tags={"App": "shop"})
    del world.drs.start_recovery  # the restarted engine has a healthy adapter
    world.clock.advance(3600)  # type: ignore[attr-defined]
    world.options.takeover = True
    record = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock).resume(
        world.options
    )
    assert record.Status == "COMPLETED", record.Errors
    assert results(record, 1) == DB and results(record, 2) == [WEB, *APP]
    assert launched(world) == Counter(dict.fromkeys([*DB, *APP, WEB], 1))
    described = [
        c
        for c in world.sim.recorder.calls
        if c.operation == "DescribeSourceServers" and not c.params.get("filters")
    ]
    assert len(described) == 1  # resolved once, before the crash
