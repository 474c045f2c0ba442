"""An execution as JUnit XML (issue 12 item 2: ``run --junit`` and ``report --junit``), so a
scheduled drill shows up in any CI system. Pure: builds the document, writes no file.

Layout::

    <testsuites name="drsorch <plan id>" tests failures errors skipped time>
      <testsuite name="execution">                       the execution as a whole
        <testcase name="execution completed">            failure unless COMPLETED
        <testcase name="recovery time objective">        only when the plan sets an RTO
      <testsuite name="wave 1 Database tier" timestamp>  one per wave
        <testcase classname="<plan>.wave-1" name="s-..." time>   one per server
          <failure message type="FAILED">                a FAILED server, with its reason
          <skipped message>                              SKIPPED / CANCELLED (never launched,
                                                         or stopped), or still under way

``time`` is in seconds (a server: its wave's start to its end, the sum of its phases; a
wave: its start to its end; the whole: the recovery time). The ``execution`` suite is there
so that an execution that failed without a failed server (a timeout, a preflight refusal,
a cancel) still turns a CI run red, and a missed RTO does too.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from drsorch.core.statuses import ExecutionStatus, ServerStatus
from drsorch.report.view import Report, ServerView, WaveView
from drsorch.text import format_duration, printable

__all__ = ["junit_xml"]


def _seconds(value: float | None) -> str:
    return f"{max(value or 0.0, 0.0):.3f}"


def _timestamp(epoch: float | None) -> str | None:
    """ISO 8601 in UTC without a zone, as JUnit's schema wants it."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).replace(tzinfo=None).isoformat(timespec="seconds")


#: Characters XML 1.0 cannot hold that :func:`~drsorch.text.printable` lets through.
_NOT_XML = re.compile("[\ufffe\uffff]")


def _clean(text: object) -> str:
    """Text XML 1.0 can hold: control characters (which XML forbids) written as escapes."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", printable(text, keep_newlines=True))


class _Suite:
    def __init__(
        self, parent: ET.Element, name: str, *, timestamp: str | None, time: float
    ) -> None:
        self.element = ET.SubElement(parent, "testsuite", name=_clean(name))
        if timestamp is not None:
            self.element.set("timestamp", timestamp)
        self.element.set("time", _seconds(time))
        self.tests = self.failures = self.skipped = 0

    def case(self, classname: str, name: str, time: float | None) -> ET.Element:
        self.tests += 1
        return ET.SubElement(
            self.element,
            "testcase",
            classname=_clean(classname),
            name=_clean(name),
            time=_seconds(time),
        )

    def fail(self, case: ET.Element, message: str, kind: str, detail: str = "") -> None:
        self.failures += 1
        failure = ET.SubElement(case, "failure", message=_clean(message), type=kind)
        failure.text = _clean(detail or message)

    def skip(self, case: ET.Element, message: str) -> None:
        self.skipped += 1
        ET.SubElement(case, "skipped", message=_clean(message))

    def close(self) -> tuple[int, int, int]:
        for key, value in (("tests", self.tests), ("failures", self.failures)):
            self.element.set(key, str(value))
        self.element.set("errors", "0")
        self.element.set("skipped", str(self.skipped))
        return self.tests, self.failures, self.skipped


def junit_xml(report: Report) -> bytes:
    """The JUnit XML document of ``report`` (UTF-8, with an XML declaration)."""
    record = report.record
    root = ET.Element("testsuites", name=_clean(f"drsorch {record.PlanId}"))
    suites = [_execution_suite(root, report)]
    for wave in report.waves:
        suites.append(_wave_suite(root, report, wave))
    totals = [sum(column) for column in zip(*(suite.close() for suite in suites), strict=True)]
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", "0")
    root.set("skipped", str(totals[2]))
    root.set("time", _seconds(report.recovery_seconds))
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _execution_suite(root: ET.Element, report: Report) -> _Suite:
    record = report.record
    suite = _Suite(
        root, "execution", timestamp=_timestamp(record.StartTime), time=report.recovery_seconds
    )
    properties = ET.SubElement(suite.element, "properties")  # before any testcase
    for name, value in (
        ("ExecutionId", record.ExecutionId),
        ("PlanName", record.PlanName),
        ("ExecutionType", record.ExecutionType),
        ("Status", record.Status.value),
    ):
        ET.SubElement(properties, "property", name=name, value=_clean(value))
    classname = f"{record.PlanId}.execution"
    case = suite.case(classname, "execution completed", report.recovery_seconds)
    if report.running:
        suite.skip(case, f"the execution is still {record.Status.value}")
    elif record.Status is not ExecutionStatus.COMPLETED:
        errors = "\n".join(e.Message for e in record.Errors) or "no error was recorded"
        suite.fail(case, f"the execution ended {record.Status.value}", record.Status.value, errors)
    rto = report.rto
    if rto is not None:
        case = suite.case(classname, "recovery time objective", report.recovery_seconds)
        target = format_duration(rto.target_seconds)
        took = format_duration(report.recovery_seconds)
        if rto.met is None:
            suite.skip(case, f"not known yet: {took} so far, the target is {target}")
        elif not rto.met:
            why = rto.why_not or f"missed by {format_duration(-rto.margin_seconds)}"
            suite.fail(case, f"RTO {target} not met: {why} (recovery took {took})", "RTO_MISSED")
    return suite


def _wave_suite(root: ET.Element, report: Report, wave: WaveView) -> _Suite:
    suite = _Suite(
        root,
        f"wave {wave.number} {wave.name}",
        timestamp=_timestamp(wave.start),
        time=wave.seconds or 0.0,
    )
    classname = f"{report.record.PlanId}.wave-{wave.number}"
    for server in wave.servers:
        case = suite.case(classname, server.server_id, server.total_seconds)
        _judge(suite, case, report, wave, server)
    return suite


def _judge(suite: _Suite, case: ET.Element, report: Report, wave: WaveView, s: ServerView) -> None:
    if s.status is ServerStatus.FAILED:
        reason = s.error or "no reason was recorded"
        suite.fail(case, reason, "FAILED", f"{s.server_id} (job {s.job_id or '-'}): {reason}")
    elif s.status in (ServerStatus.SKIPPED, ServerStatus.CANCELLED):
        reason = s.error or next(
            (item.reason for item in report.skipped if s.server_id in item.servers), ""
        )
        suite.skip(case, f"{s.status.value}: {reason}" if reason else s.status.value)
    elif s.status is not ServerStatus.COMPLETED:
        where = "still running" if report.running else "did not finish"
        suite.skip(case, f"{s.status.value}: the execution {where} (wave {wave.status.value})")
