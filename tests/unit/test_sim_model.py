"""The region model: timelines, quotas, cleanup, termination and determinism."""

from __future__ import annotations

from typing import Any

import pytest

from drsorch.clock import VirtualClock
from drsorch.sim import Fault, Scenario, ServerSpec, SimRegion, Span, TimingOverrides
from drsorch.sim.errors import SimApiError

pytestmark = pytest.mark.unit

DAY = 86400.0


def _region(n: int = 4, seed: int = 0, **scenario: Any) -> SimRegion:
    settings = Scenario.model_validate({"generate_servers": n, **scenario})
    return SimRegion(clock=VirtualClock(), scenario=settings, seed=seed)


def _run(region: SimRegion, seconds: float = DAY) -> None:
    assert isinstance(region.clock, VirtualClock)
    region.clock.advance(seconds)
    region.sync()


def test_a_launch_follows_the_drs_timeline_with_default_durations() -> None:
    region = _region(1)
    (sid,) = region.source_server_ids
    job = region.model.start_recovery([sid], True, {})
    _run(region)
    events = [(item.event, item.time - job.created) for item in job.log]
    names = [name for name, _ in events]
    assert names == [
        "JOB_START",
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "CONVERSION_START",
        "CONVERSION_END",
        "LAUNCH_START",
        "JOB_END",
    ]
    launched = next(t for t, kind, ident, v in region.timeline if v == "LAUNCHED") - job.created
    assert 480 <= launched <= 1200
    ec2 = [(t, v) for t, kind, _, v in region.timeline if kind in ("ec2", "checks")]
    running = next(t for t, v in ec2 if v == "running") - job.created
    ok = next(t for t, v in ec2 if v == "ok") - job.created
    assert 30 <= running - launched <= 90
    assert 120 <= ok - running <= 240
    assert job.status == "COMPLETED" and job.ended is not None and job.ended >= job.created


def test_per_server_timing_overrides() -> None:
    spec = ServerSpec(
        id="s-1234567890abcdefg", timing=TimingOverrides(launch=Span(min=100, max=100))
    )
    region = SimRegion(clock=VirtualClock(), scenario=Scenario(source_servers=[spec]))
    job = region.model.start_recovery([spec.id], False, {})
    _run(region)
    launched = next(t for t, _, _, v in region.timeline if v == "LAUNCHED")
    assert launched - job.created == 100


def test_quotas_concurrent_jobs_and_servers_in_active_jobs() -> None:
    region = _region(600)
    ids = region.source_server_ids
    for i in range(5):
        region.model.start_recovery(ids[i * 100 : (i + 1) * 100], True, {})
    with pytest.raises(SimApiError) as full:
        region.model.start_recovery(ids[500:501], True, {})
    assert full.value.fields["quotaCode"] == "L-05AFA8C6"
    _run(region)
    assert region.model.active_job_count == 0

    small = _region(30)
    for sid in small.source_server_ids[:20]:
        small.model.start_recovery([sid], True, {})
    with pytest.raises(SimApiError) as many:
        small.model.start_recovery(small.source_server_ids[20:21], True, {})
    assert many.value.status == 402 and many.value.fields["quotaCode"] == "L-D88FAC3A"
    with pytest.raises(SimApiError) as busy:
        small.model.terminate_recovery_instances(["i-0123456789abcdef0"])
    assert busy.value.code == "ServiceQuotaExceededException"


def test_custom_quotas() -> None:
    region = _region(10, quotas={"servers_per_job": 3})
    with pytest.raises(SimApiError):
        region.model.start_recovery(region.source_server_ids[:4], True, {})


def test_servers_without_a_recovery_point_are_skipped() -> None:
    region = _region(2)
    stalled, stopped = region.source_server_ids
    region.set_replication_state(stalled, "STALLED")
    region.set_replication_state(stopped, "STOPPED")
    job = region.model.start_recovery([stalled, stopped], True, {})
    _run(region)
    assert job.participants[stalled].launch_status == "LAUNCHED"
    assert job.participants[stopped].launch_status == "FAILED"
    assert any(i.event == "SERVER_SKIPPED" for i in job.log)


def test_a_new_drill_cleans_up_the_previous_drill_instance() -> None:
    region = _region(1)
    (sid,) = region.source_server_ids
    first = region.model.start_recovery([sid], True, {})
    _run(region)
    old = first.participants[sid].recovery_instance_id
    assert old is not None
    second = region.model.start_recovery([sid], True, {})
    _run(region)
    assert [i.event for i in second.log][1:3] == ["CLEANUP_START", "CLEANUP_END"]
    assert old not in region.model.recovery_instances
    assert region.model.instances[old].state == "terminated"
    assert first.participants[sid].launch_status == "TERMINATED"
    assert second.participants[sid].launch_status == "LAUNCHED"


def test_distinct_recovery_instance_ids() -> None:
    region = _region(2, recovery_instance_ids="distinct")
    region.model.start_recovery(region.source_server_ids, True, {})
    _run(region)
    for ri in region.model.recovery_instances.values():
        assert ri.id != ri.ec2_id and ri.ec2_id in region.model.instances


def test_terminated_instances_are_forgotten_after_an_hour() -> None:
    region = _region(1, terminated_visible_seconds=3600)
    region.model.start_recovery(region.source_server_ids, True, {})
    _run(region)
    (inst,) = region.model.instances.values()
    region.model.begin_ec2_terminate(inst, "test")
    _run(region, 120)
    assert inst.state == "terminated" and region.model.ec2_visible(inst)
    _run(region, 3600)
    assert not region.model.ec2_visible(inst)


def test_the_same_seed_gives_the_same_timeline_and_other_servers_do_not_matter() -> None:
    def timeline(seed: int, extra: int) -> list[tuple[float, str, str, str]]:
        region = _region(3, seed=seed)
        ids = region.source_server_ids
        region.generate_source_servers(extra)
        region.model.start_recovery(ids, True, {})
        _run(region)
        return [e for e in region.timeline if e[1] == "launch"]

    assert timeline(1, 0) == timeline(1, 0)
    assert timeline(1, 0) != timeline(2, 0)
    launched = {e[2].split("/")[1]: e[0] for e in timeline(1, 0) if e[3] == "LAUNCHED"}
    launched_with_more = {e[2].split("/")[1]: e[0] for e in timeline(1, 50) if e[3] == "LAUNCHED"}
    assert launched == launched_with_more


def test_run_until_idle_and_next_event_time() -> None:
    region = _region(2)
    assert region.next_event_time() is None
    region.model.start_recovery(region.source_server_ids, True, {})
    assert region.next_event_time() is not None
    end = region.run_until_idle()
    assert region.next_event_time() is None
    assert all(not j.active for j in region.jobs)
    assert end > region.start
    with pytest.raises(TypeError):
        SimRegion(clock=_NotVirtual()).run_until_idle()


def test_fault_added_from_python_applies_to_the_next_launch() -> None:
    region = _region(1)
    (sid,) = region.source_server_ids
    region.add_fault(Fault(kind="launch_failure", server_id=sid, nth=2))
    first = region.model.start_recovery([sid], True, {})
    region.run_until_idle()
    assert first.participants[sid].launch_status == "LAUNCHED"
    second = region.model.start_recovery([sid], True, {})
    region.run_until_idle()
    assert second.participants[sid].launch_status == "FAILED"


class _NotVirtual:
    def now(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        pass
