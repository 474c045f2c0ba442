"""botocore-model helpers: validation, EC2 query decoding and XML encoding."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from drsorch.sim.shapes import (
    check,
    decode_query,
    encode_query_xml,
    encode_xml,
    iso_drs,
    iso_seconds,
    iso_z,
    service_model,
)
from drsorch.sim.wire import STS_XMLNS, request_id

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


def test_decode_query_inverts_botocores_query_serializer_for_sts() -> None:
    op = service_model("sts").operation_model("AssumeRole")
    params = {
        "RoleArn": "arn:aws:iam::222222222222:role/DrsOrchestratorRole",
        "RoleSessionName": "drsorch-exec-1",
        "DurationSeconds": 3600,
        "ExternalId": "dr-2026",
        "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
        "Tags": [{"Key": "Execution", "Value": "e-1"}, {"Key": "Plan", "Value": "p"}],
        "TransitiveTagKeys": ["Execution"],
        "ProvidedContexts": [{"ProviderArn": "arn:aws:iam::aws:contextProvider/x"}],
    }
    request = create_serializer("query").serialize_to_request(params, op)
    form = dict(item.split("=", 1) for item in _form(request["body"]))
    assert form["Action"] == "AssumeRole" and form["Version"] == "2011-06-15"
    assert decode_query(op.input_shape, form, protocol="query") == params
    empty = create_serializer("query").serialize_to_request(
        {"RoleArn": params["RoleArn"], "RoleSessionName": "s1", "TransitiveTagKeys": []}, op
    )
    form = dict(item.split("=", 1) for item in _form(empty["body"]))
    assert decode_query(op.input_shape, form, protocol="query")["TransitiveTagKeys"] == []


def test_encode_query_xml_is_what_botocores_query_parser_reads() -> None:
    op = service_model("sts").operation_model("AssumeRole")
    value = {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLE000000001",
            "SecretAccessKey": "secret<&>",
            "SessionToken": "token",
            "Expiration": 1_764_000_000.0,
        },
        "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:s", "Arn": "arn:aws:sts::1:x"},
    }
    body = encode_query_xml(op.output_shape, value, "AssumeRole", "req-2", STS_XMLNS)
    assert b"<Expiration>2025-11-24T16:00:00Z</Expiration>" in body
    parsed = create_parser("query").parse(
        {"body": body, "headers": {}, "status_code": 200}, op.output_shape
    )
    assert parsed["Credentials"]["SecretAccessKey"] == "secret<&>"
    assert parsed["Credentials"]["Expiration"].timestamp() == 1_764_000_000.0
    assert parsed["AssumedRoleUser"] == value["AssumedRoleUser"]
    assert parsed["ResponseMetadata"]["RequestId"] == "req-2"
    assert iso_seconds(1_764_000_000.9) == "2025-11-24T16:00:00Z"


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


@pytest.mark.parametrize("seed", [0, 7, 2**31 - 1])
def test_request_ids_are_the_uuid4_of_the_seed_and_call_number(seed: int) -> None:
    for n in range(300):
        digest = hashlib.blake2b(f"{seed}:{n}".encode(), digest_size=16).digest()
        assert request_id(seed, n) == str(uuid.UUID(bytes=digest, version=4))


def test_drs_times_read_back_as_written() -> None:
    for when in (0.0, 1_764_070_000.0, 1_764_070_000.123456, 1_764_070_000.5):
        assert iso_drs(when) == datetime.fromtimestamp(when, UTC).isoformat(timespec="microseconds")
        assert iso_drs(when) == iso_drs(when)
