"""ServerTags resolution (issue 12, item 4) on generated tag assignments, in the pure core:
the preflight either refuses (a selector that matches nothing, a server claimed twice) or
puts every matched server in exactly one wave, once, and a second answer changes nothing."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from drsorch.core import advance
from drsorch.core import messages as m
from drsorch.core.state import load_state, new_execution
from drsorch.drs_terms import tags_match
from drsorch.plan import parse_plan

IDS = [f"s-{i:017d}" for i in range(8)]
VALUE = st.sampled_from(["a", "b"])
TAGS = st.fixed_dictionaries({}, optional={"Tier": VALUE, "App": VALUE})


@settings(max_examples=60, deadline=None)
@given(
    server_tags=st.lists(TAGS, min_size=len(IDS), max_size=len(IDS)),
    selectors=st.lists(TAGS.filter(bool), min_size=1, max_size=3),
    listed=st.lists(st.sampled_from(IDS), max_size=2, unique=True),
)
def test_resolution_refuses_or_assigns_every_match_to_one_wave(
    server_tags: list[dict[str, str]], selectors: list[dict[str, str]], listed: list[str]
) -> None:
    waves: list[dict[str, Any]] = [{"WaveNumber": 1, "ServerIds": listed}] if listed else []
    first = len(waves) + 1
    waves += [{"WaveNumber": first + i, "ServerTags": sel} for i, sel in enumerate(selectors)]
    plan = parse_plan({"PlanId": "p", "PlanName": "n", "Waves": waves})
    state: Any = new_execution(
        plan,
        execution_id="0f8fad5b-d9cb-469f-a165-70867728950e",
        now=0.0,
        initiated_by="t",
        source_account_id="111122223333",
        target_account_id="111122223333",
        region="us-east-1",
    )
    cmds = advance(state, m.Start(), 0.0)
    describe = next(c for c in cmds if isinstance(c, m.DescribeServers))
    tags_of = dict(zip(IDS, server_tags, strict=True))
    matched = {
        wave: sorted(sid for sid, t in tags_of.items() if tags_match(t, sel))
        for wave, sel in describe.selectors.items()
    }
    answer = m.ServersDescribed(dict.fromkeys(IDS, "CONTINUOUS"), matched=matched)
    advance(state, answer, 1.0)

    claims: dict[str, set[str]] = {sid: {"1"} for sid in listed}
    for wave, ids in matched.items():
        for sid in ids:
            claims.setdefault(sid, set()).add(wave)
    should_fail = any(not ids for ids in matched.values()) or any(
        len(w) > 1 for w in claims.values()
    )
    if should_fail:
        assert state["status"] == "FAILED"
        assert set(state["servers"]) == set(listed)  # nothing resolved, nothing launched
        assert not any(isinstance(c, m.StartRecovery) for c in cmds)
        return
    assert state["phase"] == "RUNNING"
    assert set(state["servers"]) == set(claims)
    for w in state["waves"]:
        assert len(w["order"]) == len(set(w["order"]))
        for sid in w["order"]:
            assert state["servers"][sid]["wave"] == w["number"]
    before = copy.deepcopy(state)
    advance(state, answer, 2.0)  # a late duplicate answer resolves nothing again
    assert state["servers"].keys() == before["servers"].keys()
    assert [w["order"] for w in state["waves"]] == [w["order"] for w in before["waves"]]
    load_state(copy.deepcopy(state))  # and the state stays loadable
