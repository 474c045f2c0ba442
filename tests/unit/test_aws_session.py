"""Clients come with botocore's retries off and bounded timeouts."""

from __future__ import annotations

import pytest
from tests.utils.aws_wire import fake_session

from drsorch.aws import aws_session, client_config, make_clients

pytestmark = pytest.mark.unit


def test_client_config_turns_botocore_retries_off() -> None:
    cfg = client_config()
    assert cfg.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert 0 < cfg.connect_timeout <= 30
    assert 0 < cfg.read_timeout <= 120


def test_make_clients_builds_drs_and_ec2_with_that_config() -> None:
    drs, ec2 = make_clients(fake_session())
    assert drs.meta.service_model.service_name == "drs"
    assert ec2.meta.service_model.service_name == "ec2"
    for client in (drs, ec2):
        assert client.meta.config.retries["total_max_attempts"] == 1
        assert client.meta.region_name == "us-east-1"


def test_aws_session_takes_profile_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = aws_session(None, "eu-west-1")
    assert session.region_name == "eu-west-1"
