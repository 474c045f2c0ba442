"""Recovery reports (issue 12): what an execution record says to an auditor.

- :mod:`drsorch.report.view`: the record turned into a :class:`Report` (phases per server,
  recovery time against the RTO, the critical path of waves, skipped work). Pure.
- :mod:`drsorch.report.junit`: a report as JUnit XML, for CI systems. Pure.
- :mod:`drsorch.report.page`: a report as one self-contained HTML page with a timeline
  drawn by matplotlib (imported there only).
- :mod:`drsorch.report.stats`: recovery time across a plan's past executions. Pure.
- :mod:`drsorch.report.estimate`: a plan's recovery time over many simulated runs
  (``drsorch estimate``; :mod:`drsorch.estimating` runs them), and durations fitted from
  its AWS history. Pure.

The command line (``drsorch report``, ``run --junit``, ``history --stats``) only reads the
store, calls these and writes what they return.
"""

from __future__ import annotations

from drsorch.report.junit import junit_xml
from drsorch.report.stats import PlanStats, plan_stats
from drsorch.report.view import (
    Links,
    Report,
    build_report,
    critical_path_words,
    knows_dependencies,
    links_in_state,
    rto_words,
)

__all__ = [
    "Links",
    "PlanStats",
    "Report",
    "build_report",
    "critical_path_words",
    "junit_xml",
    "knows_dependencies",
    "links_in_state",
    "plan_stats",
    "rto_words",
]
