"""JUnit XML of an execution (issue 12 item 2, drsorch.report.junit): valid XML, one suite
per wave and one case per server, failures with their reason, skipped work, seconds."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from tests.utils.reports import A, B, C, D, diamond, record, server, wave

from drsorch.report import build_report, junit_xml

pytestmark = pytest.mark.unit


def parsed(rec: object, **kw: object) -> ET.Element:
    return ET.fromstring(junit_xml(build_report(rec, **kw)))  # type: ignore[arg-type]


def cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in suite.iter("testcase")}


def test_a_completed_execution_is_one_suite_per_wave_and_passing_cases() -> None:
    root = parsed(diamond(RtoTargetSeconds=3600))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "execution",
        "wave 1 Tier 1",
        "wave 2 Tier 2",
        "wave 3 Tier 3",
        "wave 4 Tier 4",
    ]
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("6", "0", "0")
    assert root.get("time") == "1005.000"
    wave2 = suites[2]
    assert wave2.get("time") == "250.000" and wave2.get("timestamp") == "2025-11-25T11:30:50"
    [case] = wave2.findall("testcase")
    assert case.attrib == {"classname": "three-tier-app.wave-2", "name": B, "time": "250.000"}
    assert list(case) == []  # passed
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props["Status"] == "COMPLETED" and props["ExecutionId"].startswith("1849d377")


def test_failures_carry_the_reason_and_skipped_work_is_skipped() -> None:
    reason = "launch failed: LAUNCH_FAILED \x1b[2J\ufffe reported by DRS"
    rec = record(
        [
            wave(
                1,
                "FAILED",
                0,
                400,
                [server(A, "FAILED", 0, None, None, 400, Error=reason), server(B, "SKIPPED")],
                [],
            ),
            wave(2, "SKIPPED", None, 400, [server(C, "SKIPPED"), server(D, "SKIPPED")], [1]),
        ],
        status="FAILED",
        end=400,
        RtoTargetSeconds=3600,
        Errors=[{"Message": f"{A}: {reason}", "ServerId": A, "WaveNumber": 1}],
    )
    root = parsed(rec)
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("6", "3", "3")
    execution, first, second = root.findall("testsuite")
    failed = cases(first)[A].find("failure")
    assert failed is not None and failed.get("type") == "FAILED"
    assert failed.get("message") == "launch failed: LAUNCH_FAILED \\x1b[2J\\ufffe reported by DRS"
    skipped = cases(first)[B].find("skipped")
    assert skipped is not None and "an earlier server of this wave failed" in skipped.get(
        "message", ""
    )
    assert all(case.find("skipped") is not None for case in second.iter("testcase"))
    outcome = cases(execution)["execution completed"].find("failure")
    assert outcome is not None and outcome.get("message") == "the execution ended FAILED"
    assert A in (outcome.text or "")
    rto = cases(execution)["recovery time objective"].find("failure")
    assert rto is not None and rto.get("type") == "RTO_MISSED"


def test_a_missed_rto_fails_a_completed_execution() -> None:
    root = parsed(diamond(RtoTargetSeconds=1000))
    assert root.get("failures") == "1"
    rto = cases(root.findall("testsuite")[0])["recovery time objective"].find("failure")
    assert rto is not None and "missed by 5.0s" in rto.get("message", "")


def test_a_running_execution_skips_what_has_not_finished() -> None:
    rec = record(
        [
            wave(
                1,
                "RUNNING",
                0,
                None,
                [server(A, "LAUNCHING", 0), server(B, "COMPLETED", 0, 9, 9, 9)],
                [],
            )
        ],
        status="RUNNING",
    )
    root = parsed(rec, now=rec.StartTime + 60)
    assert (root.get("failures"), root.get("skipped")) == ("0", "2")
    launching = cases(root.findall("testsuite")[1])[A]
    assert launching.get("time") == "60.000"
    skipped = launching.find("skipped")
    assert skipped is not None and "still running" in skipped.get("message", "")
