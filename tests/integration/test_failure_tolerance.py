"""Failure tolerance per wave (issue 11, item 8), end to end: the real engine, adapters and
in-process simulator. A wave with a few failed servers — within its MaxFailedServers /
MaxFailedPercent — still releases its dependents; the failed servers stay FAILED in the
record, and the execution ends COMPLETED with its FailedServerCount. Past the tolerance,
the seed's rule holds: the wave FAILS and its dependents are SKIPPED."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.engine import SHORT, run_plan
from tests.utils.plans import make_plan

from drsorch.sim import Fault

pytestmark = pytest.mark.integration

NO_CAPACITY = "No capacity in AZ"


def failing(*server_ids: str) -> list[Fault]:
    return [
        Fault(kind="launch_failure", server_id=sid, raw_error=NO_CAPACITY) for sid in server_ids
    ]


def three_tier(**first_wave: Any) -> dict[str, Any]:
    """Wave 1 (4 servers) -> wave 2 -> wave 3, with ``first_wave``'s fields on wave 1."""
    data = make_plan(21, waves=3, servers_per_wave=4)
    data["Waves"][0].update(first_wave)
    return data


def test_failures_within_the_tolerance_release_the_dependents() -> None:
    data = three_tier(MaxFailedServers=2)
    bad = data["Waves"][0]["ServerIds"][1:3]
    out = run_plan(data, faults=failing(*bad), scenario=SHORT)
    record = out.record
    assert record.Status.value == "COMPLETED"
    assert [w.Status.value for w in record.WaveStatus] == ["COMPLETED"] * 3
    assert record.FailedServerCount == 2 and record.completed_with_failures
    for sid in bad:
        assert out.server(sid).Status.value == "FAILED"
        assert NO_CAPACITY in out.server(sid).Error
    assert sorted(e.ServerId for e in record.Errors if e.ServerId) == sorted(bad)
    launched = {
        s["sourceServerID"]
        for c in out.calls("StartRecovery", ok_only=True)
        for s in c.params["sourceServers"]
    }
    assert len(launched) == 12  # waves 2 and 3 ran
    assert out.puts[-1].to_dict()["FailedServerCount"] == 2  # as the store keeps it


def test_one_failure_past_the_tolerance_skips_the_dependents() -> None:
    data = three_tier(MaxFailedPercent=25)  # 1 of 4
    bad = data["Waves"][0]["ServerIds"][:2]
    out = run_plan(data, faults=failing(*bad), scenario=SHORT)
    assert out.record.Status.value == "FAILED"
    assert [w.Status.value for w in out.record.WaveStatus] == ["FAILED", "SKIPPED", "SKIPPED"]
    assert out.record.FailedServerCount == 2 and not out.record.completed_with_failures


def test_defaults_tolerance_and_a_wave_that_takes_it_away() -> None:
    data = make_plan(22, waves=2, servers_per_wave=2, dag=False)
    data["Defaults"]["MaxFailedServers"] = 1
    data["Waves"][1]["MaxFailedServers"] = 0
    w1, w2 = data["Waves"][0]["ServerIds"], data["Waves"][1]["ServerIds"]
    out = run_plan(data, faults=failing(w1[0], w2[0]), scenario=SHORT)
    assert [w.Status.value for w in out.record.WaveStatus] == ["COMPLETED", "FAILED"]
    assert out.record.Status.value == "FAILED" and out.record.FailedServerCount == 2


def test_a_sequential_wave_within_its_tolerance_launches_every_server() -> None:
    data = three_tier(ExecutionType="SEQUENTIAL", ExecutionOrder=[1, 2, 3, 4], MaxFailedServers=1)
    ids = data["Waves"][0]["ServerIds"]
    out = run_plan(data, faults=failing(ids[0]), scenario=SHORT)
    assert out.record.Status.value == "COMPLETED"
    assert [out.server(s).Status.value for s in ids] == ["FAILED"] + ["COMPLETED"] * 3
    starts = [
        c
        for c in out.calls("StartRecovery", ok_only=True)
        if c.params["tags"]["drsorch:wave"] == "1"
    ]
    assert [c.params["sourceServers"][0]["sourceServerID"] for c in starts] == ids


def test_replaying_the_trace_gives_the_same_record() -> None:
    """The core stays pure with a tolerance: replaying its events gives the same state."""
    from drsorch.core import advance, to_record

    data = three_tier(MaxFailedServers=1)
    out = run_plan(data, faults=failing(data["Waves"][0]["ServerIds"][0]), scenario=SHORT)
    state = out.fresh_state()
    for now, event, cmds in out.runner.trace:
        assert advance(state, event, now) == cmds
    assert to_record(state)["FailedServerCount"] == 1
    assert to_record(state)["Status"] == out.record.Status


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    servers=st.integers(1, 5),
    failures=st.integers(0, 5),
    tolerance=st.integers(0, 5),
    kind=st.sampled_from(["PARALLEL", "SEQUENTIAL"]),
    as_percent=st.booleans(),
    seed=st.integers(0, 99),
)
def test_a_wave_releases_its_dependents_exactly_when_its_failures_are_tolerated(
    servers: int, failures: int, tolerance: int, kind: str, as_percent: bool, seed: int
) -> None:
    """For generated plans: failures <= tolerance -> wave COMPLETED, dependents run;
    failures > tolerance -> wave FAILED, dependents SKIPPED, nothing of theirs launched."""
    failures, tolerance = min(failures, servers), min(tolerance, servers)
    data = make_plan(seed, waves=2, servers_per_wave=servers, execution_type="PARALLEL")
    wave = data["Waves"][0]
    wave["ExecutionType"] = kind
    if kind == "SEQUENTIAL":
        wave["ExecutionOrder"] = list(range(1, servers + 1))
    if as_percent:
        wave["MaxFailedPercent"] = 100 * tolerance // servers
        allowed = servers * wave["MaxFailedPercent"] // 100
    else:
        wave["MaxFailedServers"] = tolerance
        allowed = tolerance
    bad = wave["ServerIds"][:failures]
    out = run_plan(data, seed=seed, faults=failing(*bad), scenario=SHORT)
    first, second = out.record.WaveStatus
    launched_2 = [
        c
        for c in out.calls("StartRecovery", ok_only=True)
        if c.params["tags"]["drsorch:wave"] == "2"
    ]
    assert out.record.FailedServerCount == sum(
        1 for w in out.record.WaveStatus for s in w.ServerResults if s.Status.value == "FAILED"
    )
    if failures <= allowed:
        assert first.Status.value == "COMPLETED" and second.Status.value == "COMPLETED"
        assert out.record.Status.value == "COMPLETED" and out.record.FailedServerCount == failures
        assert launched_2
        assert all(out.server(s).Status.value == "FAILED" for s in bad)
    else:
        assert first.Status.value == "FAILED" and second.Status.value == "SKIPPED"
        assert out.record.Status.value == "FAILED" and not launched_2
        if kind == "SEQUENTIAL":  # stops launching once past the tolerance
            assert out.record.FailedServerCount == allowed + 1
