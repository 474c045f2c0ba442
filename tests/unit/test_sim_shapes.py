"""botocore-model helpers: validation, EC2 query decoding and XML encoding."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from drsorch.sim.shapes import check, decode_query, encode_xml, iso_drs, iso_z, service_model

pytestmark = pytest.mark.unit


def _input(service: str, op: str) -> Any:
    return service_model(service).operation_model(op).input_shape


def test_check_finds_patterns_lengths_lists_and_types() -> None:
    shape = _input("drs", "StartRecovery")
    assert check(shape, {"sourceServers": [{"sourceServerID": "s-1234567890abcdefg"}]}) == []
    problems = check(shape, {"sourceServers": [{"sourceServerID": "s-12345678901234567!"}]})
    assert {p["name"] for p in problems} == {"sourceServers[0].sourceServerID"}
    assert check(shape, {"sourceServers": []})[0]["message"] == "must have at least 1 items"
    assert check(shape, {})[0] == {"name": "sourceServers", "message": "is required"}
    assert check(shape, {"sourceServers": [{}], "isDrill": "yes"}) == [
        {"name": "sourceServers[0].sourceServerID", "message": "is required"},
        {"name": "isDrill", "message": "must be a boolean"},
    ]
    jobs = _input("drs", "DescribeJobs")
    assert check(jobs, {"maxResults": 0})[0]["message"] == "must be at least 1"


def test_check_can_report_unknown_fields_and_enum_values() -> None:
    shape = service_model("drs").shape_for("ParticipatingServer")
    value = {"sourceServerID": "s-1234567890abcdefg", "launchStatus": "DONE", "extra": 1}
    assert check(shape, value) == []
    names = {p["name"] for p in check(shape, value, enums=True, unknown=True)}
    assert names == {"launchStatus", "extra"}


def test_decode_query_inverts_botocores_ec2_serializer() -> None:
    op = service_model("ec2").operation_model("DescribeInstanceStatus")
    params = {
        "InstanceIds": ["i-0123456789abcdef0", "i-0123456789abcdef1"],
        "IncludeAllInstances": True,
        "Filters": [{"Name": "instance-state-name", "Values": ["running", "pending"]}],
    }
    request = create_serializer("ec2").serialize_to_request(params, op)
    form = dict(item.split("=", 1) for item in _form(request["body"]))
    assert decode_query(op.input_shape, form) == params


def _form(body: Any) -> list[str]:
    from urllib.parse import unquote

    if isinstance(body, dict):
        return [f"{k}={v}" for k, v in body.items()]
    return [unquote(part) for part in body.split("&")]


def test_encode_xml_is_what_botocores_ec2_parser_reads() -> None:
    op = service_model("ec2").operation_model("DescribeInstanceStatus")
    value = {
        "InstanceStatuses": [
            {
                "InstanceId": "i-0123456789abcdef0",
                "InstanceState": {"Code": 16, "Name": "running"},
                "InstanceStatus": {"Status": "ok", "Details": [{"Name": "reachability"}]},
            }
        ],
        "NextToken": None,
    }
    body = encode_xml(op.output_shape, value, "DescribeInstanceStatusResponse", "req-1")
    parsed = create_parser("ec2").parse(
        {"body": body, "headers": {}, "status_code": 200}, op.output_shape
    )
    assert parsed["InstanceStatuses"] == value["InstanceStatuses"]
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


def test_time_formats() -> None:
    assert iso_z(1764070000.25) == "2025-11-25T11:26:40.250Z"
    assert iso_drs(1764070000.0) == "2025-11-25T11:26:40.000000+00:00"
