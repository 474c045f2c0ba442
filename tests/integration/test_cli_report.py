"""``drsorch report``, ``run --junit`` and ``history --stats`` in-process (click's
CliRunner) against SQLite stores and the in-process simulator (issue 12 items 1, 2, 5)."""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.utils.engine import FAST_TIMING
from tests.utils.history import make_record
from tests.utils.reports import diamond

from drsorch.cli import main
from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.history import ExecutionRecord
from drsorch.sim import Scenario
from drsorch.store import SqliteStore
from drsorch.text import format_duration
from drsorch.wiring import World, simulated

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "three-tier.yaml"
SERVERS = (
    "s-3d75cdc0d9a28a725",
    "s-3afa164776f93ce4f",
    "s-1a2b3c4d5e6f7a8b9",
    "s-2b3c4d5e6f7a8b9c0",
    "s-3c4d5e6f7a8b9c0d1",
    "s-4d5e6f7a8b9c0d1e2",
)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


#: Quick DRS timings (seconds), so that a drill takes a few job polls, not a hundred.
QUICK = {
    "timing": {
        "job_start": {"min": 2, "max": 5},
        "launch": {"min": 60, "max": 120},
        "running": {"min": 10, "max": 30},
        "status_ok": {"min": 20, "max": 40},
    }
}


def plan_with_rto(tmp_path: Path, rto: int) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["RtoTargetSeconds"] = rto
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """One simulated drill of the three-tier example (an RTO of 2 minutes, which it
    misses) run with --junit: the store, its execution id and the JUnit file it wrote."""
    tmp = tmp_path_factory.mktemp("drill")
    db, junit, scenario = tmp / "h.db", tmp / "run.xml", tmp / "quick.yaml"
    scenario.write_text(yaml.safe_dump(QUICK))
    plan = plan_with_rto(tmp, 120)
    code, out, err = cli(
        "run",
        str(plan),
        "--sim",
        str(scenario),
        "--json",
        "--junit",
        str(junit),
        "--store",
        str(db),
    )
    assert code == 0, err
    return db, json.loads(out)["ExecutionId"], junit


def suites(path: Path) -> list[ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root.findall("testsuite")


def test_run_junit_writes_a_suite_per_wave_and_a_case_per_server(
    drilled: tuple[Path, str, Path],
) -> None:
    _, execution, junit = drilled
    found = suites(junit)
    assert [s.get("name") for s in found] == [
        "execution",
        "wave 1 Database tier",
        "wave 2 Application tier",
        "wave 3 Web tier",
    ]
    ids = [case.get("name") for s in found[1:] for case in s.iter("testcase")]
    assert sorted(ids) == sorted(SERVERS)
    times = [float(case.get("time", "0")) for s in found[1:] for case in s.iter("testcase")]
    assert all(t > 0 for t in times)
    # The drill took longer than its RTO of 2 minutes: the RTO case fails, nothing else.
    failures = [f.get("type") for s in found for f in s.iter("failure")]
    assert failures == ["RTO_MISSED"]
    props = {p.get("name"): p.get("value") for p in found[0].iter("property")}
    assert props["ExecutionId"] == execution


def test_report_by_prefix_as_text_json_and_junit(
    drilled: tuple[Path, str, Path], tmp_path: Path
) -> None:
    db, execution, run_junit = drilled
    code, out, _ = cli("report", execution[:8], "--json", "--store", str(db))
    data = json.loads(out)
    took = data["RecoverySeconds"]
    assert data["ExecutionId"] == execution and took > 120
    assert data["Rto"] == {
        "TargetSeconds": 120,
        "Met": False,
        "MarginSeconds": 120 - took,
        "Reason": None,
    }  # the plan's target, carried into the record
    assert data["CriticalPath"]["Seconds"] == took and data["StartTimeIso"].endswith("Z")
    code, text, err = cli("report", execution[:8], "--store", str(db))
    assert code == 0 and err == ""
    assert f"RTO target     2m00s: MISSED by {format_duration(took - 120)}" in text
    assert "Critical path  wave 1 > wave 2 > wave 3" in text
    assert all(sid in text for sid in SERVERS)
    servers = [s for w in data["Waves"] for s in w["Servers"]]
    assert all(sum(p["Seconds"] for p in s["Phases"]) == s["TotalSeconds"] for s in servers)
    junit = tmp_path / "again.xml"
    code, _, err = cli("report", execution, "--junit", str(junit), "--store", str(db))
    assert code == 0 and f"wrote the JUnit report to {junit}" in err
    assert junit.read_bytes() == run_junit.read_bytes()  # one view, one document


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def test_report_html_is_one_self_contained_page_with_a_timeline(
    drilled: tuple[Path, str, Path], tmp_path: Path
) -> None:
    db, execution, _ = drilled
    with SqliteStore(db) as store:  # a hostile wave name must stay text
        record = store.get(execution)
        assert record is not None
        data = record.to_dict()
        data["WaveStatus"][2]["WaveName"] = "Web --> <script>alert(1)</script> $x$"
        store.put(ExecutionRecord.from_dict(data))
    page = tmp_path / "report.html"
    code, out, err = cli("report", execution, "--html", str(page), "--store", str(db))
    assert code == 0 and "wrote the HTML report" in err and "Critical path" in out
    text = page.read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(text)
    parsed.close()
    assert parsed.tags.count("svg") == 1 and "script" not in parsed.tags
    assert not {"link", "img", "iframe", "object", "embed"} & set(parsed.tags)
    assert all(link.startswith("#") for link in parsed.links), set(parsed.links) - {"#"}
    assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import", text)
    svg = text[text.index("<svg") : text.index("</svg>")]
    for sid in SERVERS:  # in the chart (its labels) and in the table
        assert sid in svg and sid in "".join(parsed.text)
    assert "<script>alert(1)</script> $x$" in "".join(parsed.text)  # shown, not run


def test_run_junit_on_the_aws_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--aws` writes the file too: AWS is stood in for by a simulated world (no account)."""
    built: list[World] = []

    def fake_real_aws(plan: Any, **kw: Any) -> World:
        world = simulated(
            plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=Scenario(timing=FAST_TIMING)
        )
        world.options.environment = "aws"
        built.append(world)
        return world

    monkeypatch.setattr("drsorch.cli.run.real_aws", fake_real_aws)
    junit, db = tmp_path / "aws.xml", tmp_path / "h.db"
    code, _, _ = cli("run", str(EXAMPLE), "--aws", "-q", "--junit", str(junit), "--store", str(db))
    assert code == 0 and built
    found = suites(junit)
    assert len(found) == 4 and sum(len(s.findall("testcase")) for s in found[1:]) == 6


@pytest.mark.parametrize(
    ("where", "message"),
    [("missing/dir/out.xml", "does not exist"), (".", "is a directory")],
)
@pytest.mark.parametrize("aws", [False, True])
def test_an_unwritable_junit_path_refuses_the_run_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, message: str, aws: bool
) -> None:
    def no_aws(*args: Any, **kw: Any) -> World:
        raise AssertionError("AWS was reached")

    monkeypatch.setattr("drsorch.cli.run.real_aws", no_aws)
    db = tmp_path / "h.db"
    flags = ["--aws"] if aws else []
    code, out, err = cli(
        "run", str(EXAMPLE), *flags, "--junit", str(tmp_path / where), "--store", str(db)
    )
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err and err.startswith("error: --junit")
    assert not db.exists()  # no store opened: nothing ran, nothing recorded


def test_report_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    first, second = (make_record(seed, Status="COMPLETED") for seed in (1, 2))
    bare = make_record(3, Status="FAILED").to_dict()
    bare["WaveStatus"], bare["FailedServerCount"] = [], None
    twin = second.to_dict()
    twin["ExecutionId"] = first.ExecutionId[:6] + twin["ExecutionId"][6:]
    with SqliteStore(db) as store:
        for rec in (first, ExecutionRecord.from_dict(twin), ExecutionRecord.from_dict(bare)):
            store.put(rec)
    cases = [
        (["report", "0000ffff"], "no execution 0000ffff"),
        (["report", first.ExecutionId[:6]], "ambiguous: 2 executions start with"),
        (["report", bare["ExecutionId"]], "has no waves in its record"),
        (["report", first.ExecutionId, "--html", str(tmp_path / "no" / "r.html")], "--html"),
        (["report", first.ExecutionId, "--junit", str(tmp_path)], "is a directory"),
    ]
    for args, message in cases:
        code, out, err = cli(*args, "--store", str(db))
        assert code == 2 and out == "", args
        assert len(err.splitlines()) == 1 and message in err, (args, err)


def test_report_of_a_running_execution_says_it_is_still_running(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    running = make_record(5, Status="RUNNING")
    with SqliteStore(db) as store:
        store.put(running)
    code, out, err = cli("report", running.ExecutionId, "--store", str(db))
    assert code == 0
    assert err.startswith(f"note: execution {running.ExecutionId} is still RUNNING")
    assert "still running: this report shows what was recorded up to" in out
    code, out, _ = cli("report", running.ExecutionId, "--json", "--store", str(db))
    assert json.loads(out)["Running"] is True


def test_an_old_record_takes_its_dependencies_from_the_saved_state(tmp_path: Path) -> None:
    """A record written before DependsOn: the critical path is unknown, unless the engine
    state saved with it (an AWS run keeps one) names each wave's dependencies."""
    db = tmp_path / "h.db"
    data = diamond().to_dict()
    for w in data["WaveStatus"]:
        del w["DependsOn"], w["WaitTimeSeconds"]
    old = ExecutionRecord.from_dict(data)
    with SqliteStore(db) as store:
        store.put(old)
    code, out, _ = cli("report", old.ExecutionId, "--json", "--store", str(db))
    path = json.loads(out)["CriticalPath"]
    assert code == 0 and path["Known"] is False and "predates DependsOn" in path["Reason"]
    state = {"waves": [{"number": n, "deps": d, "wait": t} for n, d, t in DIAMOND_LINKS]}
    with SqliteStore(db) as store:
        store.put(old, state)
    code, out, _ = cli("report", old.ExecutionId, "--json", "--store", str(db))
    assert json.loads(out)["CriticalPath"]["Waves"] == [1, 2, 4]


DIAMOND_LINKS = [(1, [], 50), (2, [1], 300), (3, [1], 0), (4, [2, 3], 0)]


def test_history_stats_of_a_plan(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with SqliteStore(db) as store:
        for n, seconds in enumerate([3000, 3100, 2900, 2400, 2300, 2350]):
            data = make_record(n, Status="COMPLETED", PlanId="erp").to_dict()
            data["StartTime"] = 1_800_000_000 + n * 86_400
            data["EndTime"] = data["StartTime"] + seconds
            data["Duration"] = seconds
            data["WaveStatus"] = []
            data["Environment"] = {"Kind": "aws"}
            data["RtoTargetSeconds"] = 3000
            store.put(ExecutionRecord.from_dict(data))
        store.put(make_record(9, Status="FAILED", PlanId="erp"))
        store.put(make_record(10, Status="COMPLETED", PlanId="other"))
    code, out, _ = cli("history", "--plan", "erp", "--stats", "--store", str(db))
    assert code == 0
    assert "over its newest 7 execution(s) (6 COMPLETED, 1 FAILED)" in out
    [row] = [line for line in out.splitlines() if line.startswith("aws")]
    assert row.split() == ["aws", "6", "38m20s", "44m10s", "39m10s", "faster", "-22%", "5/6"]
    code, out, _ = cli("history", "--plan", "erp", "--stats", "--json", "--store", str(db))
    group = json.loads(out)["Groups"][0]
    assert group["Trend"]["Direction"] == "faster" and group["Runs"] == 6
    for args, message in [
        ((), "needs --plan"),
        (("--plan", "erp", "--status", "FAILED"), "--status"),
    ]:
        code, out, err = cli("history", "--stats", *args, "--store", str(db))
        assert code == 2 and out == "" and message in err and len(err.splitlines()) == 1


def test_the_report_page_renders_in_a_real_browser(
    drilled: tuple[Path, str, Path], tmp_path: Path
) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    import subprocess

    db, execution, _ = drilled
    page, shot = tmp_path / "r.html", tmp_path / "r.png"
    assert cli("report", execution, "--html", str(page), "--store", str(db))[0] == 0
    base = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        # No network here or in CI: without these Chromium keeps trying to reach Google.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60
    ).stdout
    assert "<svg" in dom and all(sid in dom for sid in SERVERS)
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=60,
    )
    assert shot.exists() and shot.stat().st_size > 10_000  # drawn, not a blank page
    if os.environ.get("DRSORCH_KEEP_SCREENSHOT"):  # to look at it: the path to copy it to
        shutil.copy(shot, os.environ["DRSORCH_KEEP_SCREENSHOT"])
