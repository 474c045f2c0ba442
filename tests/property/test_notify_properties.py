"""Seed Properties 23-25 for the end-of-execution notice (Req 8.1, 8.2, 8.5), and its size.

The notice is pure, so these run on generated history records (tests.utils.history) without
any AWS; tests/integration/test_sns_moto.py publishes the same notices through moto's SNS.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import event, given, settings, target
from hypothesis import strategies as st
from tests.utils.history import execution_records

from drsorch.aws.sns import MAX_ATTRIBUTES, MAX_MESSAGE_BYTES, publish_size
from drsorch.core.statuses import ExecutionStatus, ServerStatus, WaveStatus
from drsorch.history import ExecutionRecord
from drsorch.notify import (
    ENVIRONMENTS,
    MAX_ERROR_CHARS,
    MESSAGE_BUDGET,
    MIN_BUDGET,
    execution_notice,
)

pytestmark = pytest.mark.property

TERMINAL = [s for s in ExecutionStatus if s.terminal]
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
#: Every message has these, with these JSON types (Property 25).
FIELDS: dict[str, type | tuple[type, ...]] = {
    "SchemaVersion": int,
    "Event": str,
    "Summary": str,
    "ExecutionId": str,
    "PlanId": str,
    "PlanName": str,
    "ExecutionType": str,
    "Status": str,
    "StartTime": str,
    "EndTime": str,
    "Duration": (int, float),
    "ServerCount": int,
    "ServerStatusCounts": dict,
    "WaveCount": int,
    "WaveStatusCounts": dict,
    "InitiatedBy": str,
    "Environment": str,
    "Region": str,
    "SourceAccountId": str,
    "TargetAccountId": str,
}
#: ... and a FAILED or CANCELLED one these too (Property 24).
DETAIL_FIELDS: dict[str, type] = {
    "Errors": list,
    "ErrorCount": int,
    "ErrorsOmitted": int,
    "AffectedServerIds": list,
    "AffectedServerCount": int,
    "AffectedServerIdsOmitted": int,
    "Truncated": bool,
}

environments = st.sampled_from(ENVIRONMENTS)


def servers_of(record: ExecutionRecord) -> list[Any]:
    return [s for wave in record.WaveStatus for s in wave.ServerResults]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def check_subject(subject: str, record: ExecutionRecord) -> None:
    assert 0 < len(subject) < 100
    assert all(" " <= ch <= "~" for ch in subject)  # printable ASCII, no line break
    assert subject.startswith(f"drsorch {record.ExecutionType} ")
    assert f" {record.Status.value}" in subject


# --- Property 23: a successful execution is announced ---------------------------------------


@given(execution_records(status="COMPLETED"), environments)
def test_property_23_a_completed_execution_announces_its_id_plan_status_duration_and_size(
    record: ExecutionRecord, environment: str
) -> None:
    notice = execution_notice(record, environment=environment)
    msg = json.loads(notice.message)
    assert msg["ExecutionId"] == record.ExecutionId
    assert msg["PlanId"] == record.PlanId
    assert msg["Status"] == "COMPLETED"
    assert msg["Duration"] == round(record.Duration or 0, 3)
    assert msg["ServerCount"] == record.ServerCount
    assert msg["ServerStatusCounts"]["COMPLETED"] == len(servers_of(record))
    assert "Errors" not in msg and "AffectedServerIds" not in msg
    assert notice.subject == f"drsorch {record.ExecutionType} {record.PlanId} COMPLETED" + (
        " (simulator)" if environment == "simulator" else ""
    )


# --- Property 24: a failed (or cancelled) execution names its errors and servers ------------


@given(st.sampled_from(["FAILED", "CANCELLED"]).flatmap(execution_records), environments)
def test_property_24_a_failed_execution_lists_error_details_and_affected_servers(
    record: ExecutionRecord, environment: str
) -> None:
    notice = execution_notice(record, environment=environment)
    msg = json.loads(notice.message)
    assert not notice.truncated  # generated records are small: everything is listed
    assert msg["Errors"] == [
        {
            "Message": e.Message[:MAX_ERROR_CHARS],
            "WaveNumber": e.WaveNumber,
            "ServerId": e.ServerId,
            "JobId": e.JobId,
        }
        for e in record.Errors
    ]
    servers = servers_of(record)
    failed = [s.ServerId for s in servers if s.Status is ServerStatus.FAILED]
    not_recovered = {s.ServerId for s in servers if s.Status is not ServerStatus.COMPLETED}
    affected = msg["AffectedServerIds"]
    assert set(affected) == not_recovered | {e.ServerId for e in record.Errors if e.ServerId}
    assert affected[: len(failed)] == failed  # the failed ones lead
    assert len(affected) == len(set(affected)) == msg["AffectedServerCount"]
    if record.Status is ExecutionStatus.FAILED:
        assert failed and msg["Errors"]  # a FAILED record always has a failed server here
        assert f"{len(failed)} of {record.ServerCount} servers failed" in notice.subject


# --- Property 25: every message is complete, typed and well formed --------------------------


@given(st.sampled_from(TERMINAL).flatmap(execution_records), environments)
def test_property_25_every_message_has_every_field_with_its_type_and_format(
    record: ExecutionRecord, environment: str
) -> None:
    notice = execution_notice(record, environment=environment)
    msg = json.loads(notice.message)
    required = dict(FIELDS)
    if record.Status in (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED):
        required.update(DETAIL_FIELDS)
    assert set(msg) == set(required)
    for key, kind in required.items():
        assert isinstance(msg[key], kind), key
        assert not isinstance(msg[key], bool) or kind is bool, key
    assert UUID4.match(msg["ExecutionId"])
    assert msg["ExecutionType"] in ("DRILL", "RECOVERY")
    assert msg["Status"] == record.Status.value
    assert ISO.match(msg["StartTime"]) and ISO.match(msg["EndTime"])
    assert abs(epoch(msg["StartTime"]) - record.StartTime) < 0.001
    assert abs(epoch(msg["EndTime"]) - (record.EndTime or 0)) < 0.001
    assert msg["Duration"] >= 0 and abs(msg["Duration"] - (record.Duration or 0)) < 0.001
    assert set(msg["ServerStatusCounts"]) == {s.value for s in ServerStatus}
    assert sum(msg["ServerStatusCounts"].values()) == len(servers_of(record))
    assert set(msg["WaveStatusCounts"]) == {s.value for s in WaveStatus}
    assert sum(msg["WaveStatusCounts"].values()) == msg["WaveCount"] == len(record.WaveStatus)
    for key in ("SourceAccountId", "TargetAccountId"):
        assert re.fullmatch(r"[0-9]{12}", msg[key])
    assert (msg["Region"], msg["Environment"]) == (record.Region, environment)
    check_subject(notice.subject, record)
    # the attributes subscribers filter on say what the message says
    assert notice.attributes == {
        "PlanId": msg["PlanId"],
        "Status": msg["Status"],
        "ExecutionType": msg["ExecutionType"],
        "Event": msg["Event"],
        "Environment": msg["Environment"],
    }
    assert len(notice.attributes) <= MAX_ATTRIBUTES
    assert publish_size(notice.message, notice.attributes) <= MAX_MESSAGE_BYTES


# --- the size limit, for records far larger than the generators make -----------------------

ALPHABET = st.characters(blacklist_categories=("Cs",))  # no lone surrogates: pydantic refuses


@st.composite
def huge_records(draw: st.DrawFn) -> ExecutionRecord:
    """A FAILED or CANCELLED record with up to 3,000 servers and long, any-Unicode errors."""
    n = draw(st.integers(1, 3000))
    unit = draw(st.text(ALPHABET, min_size=1, max_size=8))
    reps = draw(st.integers(0, 3000))
    statuses = draw(st.lists(st.sampled_from(list(ServerStatus)), min_size=1, max_size=4))
    status = draw(st.sampled_from(["FAILED", "CANCELLED"]))
    servers: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    long_text = unit * reps  # up to 24,000 characters: made once, not once per error
    for i in range(n):
        sid = f"s-{i:017x}"
        s_status = statuses[i % len(statuses)]
        failed = s_status is ServerStatus.FAILED
        servers.append(
            {"ServerId": sid, "Status": s_status.value, "Error": unit if failed else None}
        )
        if failed or i % 7 == 0:
            errors.append({"Message": f"{sid}: {long_text}", "ServerId": sid, "WaveNumber": 1})
    errors += [{"Message": unit * max(reps, 1)}] * draw(st.integers(0, 50))  # no server named
    return ExecutionRecord.from_dict(
        {
            "ExecutionId": "6f1c2b1e-8a4d-4c3b-9f2e-0d1e2f3a4b5c",
            "PlanId": draw(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)),
            "PlanName": unit * min(reps, 200),
            "ExecutionType": draw(st.sampled_from(["DRILL", "RECOVERY"])),
            "Status": status,
            "InitiatedBy": unit * min(reps, 300),
            "StartTime": 1_764_070_000.0,
            "EndTime": 1_764_080_000.0,
            "Duration": 10_000.0,
            "SourceAccountId": "123456789012",
            "TargetAccountId": "111122223333",
            "Region": "us-east-1",
            "ServerCount": n,
            "Errors": errors,
            "WaveStatus": [
                {"WaveNumber": 1, "WaveName": "W", "Status": "FAILED", "ServerResults": servers}
            ],
        }
    )


def item_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


@settings(max_examples=40)
@given(huge_records(), st.integers(MIN_BUDGET, MESSAGE_BUDGET), environments)
def test_the_message_always_fits_its_budget_and_uses_it(
    record: ExecutionRecord, budget: int, environment: str
) -> None:
    notice = execution_notice(record, environment=environment, budget=budget)
    event(f"truncated: {notice.truncated}")
    target(float(len(record.Errors)), label="errors")  # push towards huge records
    raw = notice.message.encode("utf-8")
    assert len(raw) == notice.size <= budget
    assert publish_size(notice.message, notice.attributes) <= MAX_MESSAGE_BYTES
    check_subject(notice.subject, record)
    msg = json.loads(raw)
    full = execution_notice(record, environment=environment, budget=10**9)
    every = json.loads(full.message)
    # what is listed is the head of each full list, and the counts add up
    n_errors, n_ids = len(msg["Errors"]), len(msg["AffectedServerIds"])
    assert msg["Errors"] == every["Errors"][:n_errors]
    assert msg["AffectedServerIds"] == every["AffectedServerIds"][:n_ids]
    assert n_errors + msg["ErrorsOmitted"] == msg["ErrorCount"] == len(record.Errors)
    assert n_ids + msg["AffectedServerIdsOmitted"] == msg["AffectedServerCount"]
    assert (
        msg["Truncated"]
        == notice.truncated
        == bool(msg["ErrorsOmitted"] or msg["AffectedServerIdsOmitted"])
    )
    # nothing is left out that would have fitted (a few bytes of slack for the counters)
    slack = 16
    if msg["AffectedServerIdsOmitted"]:
        assert notice.size + 2 + item_size(every["AffectedServerIds"][n_ids]) > budget - slack
    elif msg["ErrorsOmitted"]:
        assert notice.size + 2 + item_size(every["Errors"][n_errors]) > budget - slack
