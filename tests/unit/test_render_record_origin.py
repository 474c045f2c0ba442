"""`show` says where an execution ran and what became of its notification."""

from __future__ import annotations

from tests.utils.history import make_record

from drsorch.cli.render import describe_environment, describe_notification
from drsorch.history import EnvironmentEntry, NotificationEntry


def test_where_it_ran() -> None:
    record = make_record(1)
    assert describe_environment(record.model_copy(update={"Environment": None})) == "unknown"
    sim = EnvironmentEntry(Kind="simulator", Seed=7, Scenario="rough-day.yaml")
    assert (
        describe_environment(record.model_copy(update={"Environment": sim}))
        == "simulator (seed 7, scenario rough-day.yaml)"
    )
    aws = EnvironmentEntry(Kind="aws", Endpoint="http://127.0.0.1:4610")
    assert (
        describe_environment(record.model_copy(update={"Environment": aws}))
        == "AWS via http://127.0.0.1:4610"
    )
    plain = EnvironmentEntry(Kind="aws")
    assert describe_environment(record.model_copy(update={"Environment": plain})) == "AWS"


def test_what_became_of_the_notification() -> None:
    record = make_record(2)
    topic = "arn:aws:sns:us-east-1:123456789012:dr-events"
    assert describe_notification(record.model_copy(update={"Notification": None})) == "-"
    sent = NotificationEntry(TopicArn=topic, Status="SENT", MessageId="m-1")
    assert describe_notification(record.model_copy(update={"Notification": sent})) == (
        f"sent to {topic}"
    )
    failed = NotificationEntry(TopicArn=topic, Status="FAILED", Error="NotFound: no topic")
    assert "FAILED" in describe_notification(record.model_copy(update={"Notification": failed}))


def test_run_on_an_invalid_plan_prints_located_problems(tmp_path: object) -> None:
    from pathlib import Path

    from click.testing import CliRunner

    from drsorch.cli import main

    fixture = Path(__file__).parents[1] / "fixtures" / "invalid" / "user-report.yaml"
    result = CliRunner().invoke(main, ["run", str(fixture), "--store", f"{tmp_path}/h.db"])
    assert result.exit_code == 2
    assert f"{fixture}:14:5: Waves[3].ExecutionType (wave 4)" in result.stderr
    assert "did you mean SEQUENTIAL?" in result.stderr


def test_a_completed_run_says_how_many_failures_were_tolerated() -> None:
    from rich.console import Console

    from drsorch.cli.render import render_record
    from drsorch.history import ExecutionRecord

    data = make_record(3, Status="COMPLETED").to_dict()
    server = data["WaveStatus"][0]["ServerResults"][0]
    server.update(Status="FAILED", Error="LAUNCH_FAILED: no capacity")
    data["FailedServerCount"] = 1
    console = Console(record=True, width=200)
    render_record(ExecutionRecord.model_validate(data), console)
    assert "COMPLETED with 1 failed server(s) tolerated" in console.export_text()
    console = Console(record=True, width=200)
    render_record(make_record(3, Status="COMPLETED"), console)
    assert "tolerated" not in console.export_text()
