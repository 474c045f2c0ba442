"""Properties of recovery reports (issue 12): whatever the record, a server's phases are
contiguous and add up to its total; the critical path adds up to the recovery time; the
JUnit document has a case per server. On plans run by the engine on the simulator, the
critical path is a chain of real dependencies, each wave starting when the one before it
released it (its EndTime + WaitTimeSeconds)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from tests.utils.engine import FAST_HEALTHY_WITHIN, run_plan
from tests.utils.history import execution_records
from tests.utils.plans import plans

from drsorch.core.statuses import ServerStatus
from drsorch.history import ExecutionRecord
from drsorch.report import Report, build_report, junit_xml

pytestmark = [pytest.mark.property, pytest.mark.timeout(60)]


def check_phases(report: Report) -> None:
    for wave, server in report.servers():
        if not server.phases:
            assert server.total_seconds is None
            continue
        for before, after in zip(server.phases, server.phases[1:], strict=False):
            assert before.end == after.start  # contiguous: nothing lost between phases
        assert all(p.seconds >= 0 for p in server.phases)
        assert not any(p.in_progress for p in server.phases[:-1])
        total = server.total_seconds
        assert total is not None and server.start is not None and server.end is not None
        assert math.isclose(total, server.end - server.start, abs_tol=1e-6)
        if wave.start is not None and server.start >= wave.start:
            assert server.start == wave.start  # measured from its wave's start


def check_path(report: Report) -> None:
    path = report.critical_path
    if path.known and path.waves:
        assert math.isclose(path.seconds, report.recovery_seconds, abs_tol=1e-6)
        assert all(segment.seconds >= -1e-9 for segment in path.segments)


@settings(max_examples=30)
@given(execution_records())
def test_phases_and_the_critical_path_add_up_on_any_record(record: ExecutionRecord) -> None:
    report = build_report(record, now=record.StartTime + 10_000)
    check_phases(report)
    check_path(report)
    root = ET.fromstring(junit_xml(report))
    cases = list(root.iter("testcase"))
    servers = [s for _, s in report.servers()]
    assert len(cases) == len(servers) + 1 + (report.rto is not None)
    failed = sum(s.status is ServerStatus.FAILED for s in servers)
    assert int(root.get("failures", "-1")) == failed + (
        not report.running and record.Status.value != "COMPLETED"
    )
    assert int(root.get("tests", "-1")) == len(cases)


@settings(max_examples=6)  # each example is a whole simulated execution
@given(plans(max_waves=4, max_servers_per_wave=2, healthy_within=FAST_HEALTHY_WITHIN))
def test_on_the_simulator_the_critical_path_is_the_chain_that_released_each_wave(
    data: dict[str, Any],
) -> None:
    record = run_plan(data).record
    report = build_report(record)
    check_phases(report)
    check_path(report)
    path = report.critical_path
    assert path.known and path.waves  # the engine records every wave's dependencies
    waves = {w.WaveNumber: w for w in record.WaveStatus}
    first = waves[path.waves[0]]
    assert first.DependsOn == []
    for before, after in zip(path.waves, path.waves[1:], strict=False):
        wave = waves[after]
        assert wave.DependsOn is not None and before in wave.DependsOn
        released = max(
            (waves[d].EndTime or 0) + (waves[d].WaitTimeSeconds or 0) for d in wave.DependsOn
        )
        released_by_before = (waves[before].EndTime or 0) + (waves[before].WaitTimeSeconds or 0)
        assert released_by_before == released  # the dependency that released it
        assert wave.StartTime is not None and wave.StartTime >= released
    ends = [w.EndTime for w in record.WaveStatus if w.StartTime is not None and w.EndTime]
    assert waves[path.waves[-1]].EndTime == max(ends)
    assert math.isclose(path.seconds, record.Duration or 0, abs_tol=1e-6)
