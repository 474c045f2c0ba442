"""The recovery report's view (issue 12 item 1, drsorch.report.view): phases per server,
recovery time against the RTO, the critical path of waves, skipped work, RUNNING records
and records written before DependsOn. Records are written by hand, times as offsets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tests.utils.reports import T0, A, B, C, D, diamond, record, server, wave

from drsorch.history import ExecutionRecord
from drsorch.report import build_report, critical_path_words, links_in_state, rto_words
from drsorch.report.view import Links

pytestmark = pytest.mark.unit


def test_phases_of_a_server_are_queued_launching_booting_and_add_up_to_its_total() -> None:
    """A SEQUENTIAL wave's second server waits (queued) for the first one."""
    rec = record(
        [
            wave(
                1,
                "COMPLETED",
                0,
                900,
                [
                    server(A, "COMPLETED", 0, 300, 420, 420),
                    server(B, "COMPLETED", 420, 800, 900, 900),
                ],
                [],
            )
        ],
        end=900,
    )
    first, second = build_report(rec).waves[0].servers
    assert [(p.name, p.seconds) for p in second.phases] == [
        ("queued", 420.0),
        ("launching", 380.0),
        ("booting", 100.0),
    ]
    assert second.total_seconds == 900.0 == sum(p.seconds for p in second.phases)
    assert first.phase_seconds("queued") == 0.0 and first.phase_seconds("booting") == 120.0


def test_a_failed_server_ends_in_the_phase_it_failed_in_and_a_skipped_one_has_none() -> None:
    rec = record(
        [
            wave(
                1,
                "FAILED",
                0,
                400,
                [
                    server(A, "FAILED", 0, None, None, 400, Error="launch failed: LAUNCH_FAILED"),
                    server(B, "SKIPPED"),
                ],
                [],
            ),
            wave(2, "SKIPPED", None, 400, [server(C, "SKIPPED")], [1]),
        ],
        status="FAILED",
        end=400,
        Errors=[{"Message": "wave 2 skipped: it depends on wave 1, which ended FAILED"}],
    )
    report = build_report(rec)
    failed, skipped = report.waves[0].servers
    assert [(p.name, p.seconds) for p in failed.phases] == [("queued", 0.0), ("launching", 400.0)]
    assert skipped.phases == () and skipped.total_seconds is None
    items = {(s.wave, s.server_id): s for s in report.skipped}
    assert items[(1, B)].reason == "not launched: an earlier server of this wave failed"
    assert items[(2, None)].servers == (C,)
    assert items[(2, None)].reason == "a dependency did not complete: wave 1 ended FAILED"


def test_the_critical_path_follows_the_dependency_that_released_each_wave() -> None:
    """Wave 2 ended before wave 3, but its WaitTimeSeconds made it the one wave 4 waited
    for: the path is 1 > 2 > 4, and its segments add up to the recovery time."""
    report = build_report(diamond())
    path = report.critical_path
    assert path.known and path.waves == (1, 2, 4)
    assert critical_path_words(report) == "wave 1 > wave 2 > wave 4"
    assert [(s.kind, s.wave, s.seconds) for s in path.segments] == [
        ("start", None, 10.0),
        ("wave", 1, 190.0),
        ("wait", 2, 50.0),
        ("wave", 2, 250.0),
        ("wait", 4, 300.0),
        ("wave", 4, 200.0),
        ("end", None, 5.0),
    ]
    assert path.seconds == report.recovery_seconds == 1005.0
    flags = {w.number: w.critical for w in report.waves}
    assert flags == {1: True, 2: True, 3: False, 4: True}
    assert {w.number: w.waited_seconds for w in report.waves} == {1: 10, 2: 50, 3: 50, 4: 200}


def test_without_waits_the_latest_dependency_is_on_the_path() -> None:
    data = diamond().to_dict()
    for w in data["WaveStatus"]:
        w["WaitTimeSeconds"] = None
    assert build_report(ExecutionRecord.from_dict(data)).critical_path.waves == (1, 3, 4)


def test_a_record_written_before_depends_on_has_an_unknown_critical_path() -> None:
    data = diamond().to_dict()
    for w in data["WaveStatus"]:
        del w["DependsOn"], w["WaitTimeSeconds"]
    del data["RtoTargetSeconds"]
    old = ExecutionRecord.from_dict(data)  # still reads
    report = build_report(old)
    assert not report.critical_path.known and report.critical_path.waves == ()
    assert "predates DependsOn" in critical_path_words(report)
    assert report.rto is None and rto_words(report).startswith("no target")
    assert sum(s.total_seconds or 0 for _, s in report.servers()) == 190 + 250 + 350 + 200
    # ...unless the engine state saved with it names the dependencies.
    state = {"waves": [{"number": n, "deps": d, "wait": t} for n, d, t in DIAMOND_LINKS]}
    links = links_in_state(state)
    assert links is not None and links[4] == Links((2, 3), 0)
    assert build_report(old, links=links).critical_path.waves == (1, 2, 4)


DIAMOND_LINKS = [(1, [], 50), (2, [1], 300), (3, [1], 0), (4, [2, 3], 0)]


@pytest.mark.parametrize(
    "state",
    [
        None,
        [],
        {"waves": "x"},
        {"waves": [{"number": "1", "deps": [], "wait": 0}]},
        {"waves": [{"number": 1, "deps": [True]}]},
        {"waves": [7]},
    ],
)
def test_a_state_that_does_not_say_gives_no_links(state: object) -> None:
    assert links_in_state(state) is None


@pytest.mark.parametrize(
    ("target", "status", "met", "words"),
    [
        (1200, "COMPLETED", True, "20m00s: MET with 3m15s to spare"),
        (1000, "COMPLETED", False, "16m40s: MISSED by 5.0s"),
        (1200, "FAILED", False, "20m00s: NOT MET, the execution ended FAILED"),
    ],
)
def test_the_recovery_time_is_judged_against_the_rto(
    target: int, status: str, met: bool, words: str
) -> None:
    report = build_report(diamond(RtoTargetSeconds=target, Status=status))
    assert report.rto is not None and report.rto.met is met
    assert report.rto.margin_seconds == target - 1005
    assert rto_words(report) == words


def test_a_running_execution_is_reported_so_far() -> None:
    rec = record(
        [
            wave(1, "COMPLETED", 0, 300, [server(A, "COMPLETED", 0, 200, 300, 300)], [], 0),
            wave(
                2,
                "RUNNING",
                300,
                None,
                [server(B, "HEALTH_CHECK", 300, 500), server(C, "LAUNCHING", 300)],
                [1],
            ),
            wave(3, "PENDING", None, None, [server(D, "PENDING")], [2]),
        ],
        status="RUNNING",
        RtoTargetSeconds=3600,
    )
    report = build_report(rec, now=T0 + 700)
    assert report.running and report.as_of == T0 + 700 and report.recovery_seconds == 700
    b, c = report.waves[1].servers
    assert b.in_progress and [(p.name, p.seconds, p.in_progress) for p in b.phases][-1] == (
        "booting",
        200.0,
        True,
    )
    assert c.total_seconds == 400 and c.phases[-1].name == "launching"
    assert report.waves[1].in_progress and report.waves[1].seconds == 400
    assert report.critical_path.waves == (1, 2) and report.critical_path.seconds == 700
    assert report.rto is not None and report.rto.met is None
    assert (
        rto_words(report) == "1h00m00s: not known yet, still running (11m40s so far, 48m20s left)"
    )
    assert report.skipped == ()  # a PENDING wave is not skipped: it has not run yet
    # A clock behind the record (a simulated run's virtual time) never shortens it.
    assert build_report(rec, now=T0).as_of == T0 + 500


def test_the_json_form_carries_the_phases_the_path_and_the_verdict() -> None:
    data = build_report(diamond(RtoTargetSeconds=900)).to_dict()
    assert data["Rto"] == {
        "TargetSeconds": 900,
        "Met": False,
        "MarginSeconds": -105.0,
        "Reason": None,
    }
    assert data["CriticalPath"]["Waves"] == [1, 2, 4] and data["CriticalPath"]["Seconds"] == 1005
    first = data["Waves"][0]
    assert first["DependsOn"] == [] and first["OnCriticalPath"] is True
    phases = first["Servers"][0]["Phases"]
    assert [p["Phase"] for p in phases] == ["queued", "launching", "booting"]
    assert [p["Seconds"] for p in phases] == [0.0, 140.0, 50.0]


def test_a_record_refuses_dependencies_on_waves_it_does_not_have() -> None:
    data = diamond().to_dict()
    data["WaveStatus"][3]["DependsOn"] = [2, 9]
    with pytest.raises(ValidationError, match=r"wave 4 depends on \[9\]"):
        ExecutionRecord.from_dict(data)
    data["WaveStatus"][3]["DependsOn"] = [4]
    with pytest.raises(ValidationError, match=r"wave 4 depends on \[4\]"):
        ExecutionRecord.from_dict(data)
