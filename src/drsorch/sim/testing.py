"""Helpers for tests that drive the simulator through real boto3 clients.

- :func:`clients` makes a DRS and an EC2 client that talk to a region in-process (or to a
  served region through ``endpoint_url``), with botocore's retries off as the engine has
  them, and placeholder credentials (or the ``credentials`` given, e.g. the ones an
  AssumeRole returned); :func:`sts_client` does the same for STS.
- :func:`capture_bodies` keeps the raw HTTP response bodies the clients receive, and
  :func:`body_problems` checks one against botocore's output shape (unknown fields, enum
  values, types, id patterns), which botocore's own parser never does.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from drsorch.sim.region import SimRegion
from drsorch.sim.shapes import check, service_model
from drsorch.sim.wire import attach

#: Date-time shapes whose model pattern ends in Z while real DRS answers +00:00.
DATE_SHAPES = frozenset({"ISO8601DatetimeString"})


def client_config(**overrides: Any) -> Any:
    """drsorch's own client settings (one attempt), with short timeouts for a local region."""
    from botocore.config import Config

    from drsorch.aws.session import client_config as drsorch_config

    return drsorch_config(connect_timeout=2, read_timeout=5).merge(Config(**overrides))


#: What ``credentials=`` takes: STS's ``Credentials`` dict (AccessKeyId, SecretAccessKey,
#: SessionToken) or a tuple ``(access_key, secret_key[, session_token])``.
Credentials = dict[str, Any] | tuple[str, ...]


def _credential_args(credentials: Credentials | None) -> dict[str, Any]:
    if credentials is None:
        return {}
    if isinstance(credentials, dict):
        key, secret = credentials["AccessKeyId"], credentials["SecretAccessKey"]
        token = credentials.get("SessionToken")
    else:
        key, secret, token = (*credentials, None)[:3]
    return {"aws_access_key_id": key, "aws_secret_access_key": secret, "aws_session_token": token}


def _client(
    service: str,
    region: SimRegion | None,
    endpoint_url: str | None,
    credentials: Credentials | None,
    config: dict[str, Any],
) -> Any:
    if endpoint_url is None and region is None:
        raise ValueError("give a region or an endpoint_url")
    name = region.region_name if region is not None else "us-east-1"
    client = _session().client(
        service,
        endpoint_url=endpoint_url,
        config=client_config(**config),
        region_name=name,
        **_credential_args(credentials),
    )
    if endpoint_url is None and region is not None:
        attach(client, region)
    return client


def clients(
    region: SimRegion | None = None,
    *,
    endpoint_url: str | None = None,
    credentials: Credentials | None = None,
    **config: Any,
) -> tuple[Any, Any]:
    """``(drs, ec2)`` clients: in-process on ``region``, or over HTTP at ``endpoint_url``."""
    drs = _client("drs", region, endpoint_url, credentials, config)
    ec2 = _client("ec2", region, endpoint_url, credentials, config)
    return drs, ec2


def sts_client(
    region: SimRegion | None = None,
    *,
    endpoint_url: str | None = None,
    credentials: Credentials | None = None,
    **config: Any,
) -> Any:
    """An STS client: in-process on ``region``, or over HTTP at ``endpoint_url``."""
    return _client("sts", region, endpoint_url, credentials, config)


@functools.cache
def _session() -> Any:
    """One shared session: clients made from it reuse its loaded service models (fast)."""
    import boto3

    return boto3.Session(
        aws_access_key_id="AKIASIMULATOR0000000",
        aws_secret_access_key="simulator-secret",
        region_name="us-east-1",
    )


def capture_bodies(client: Any) -> list[tuple[str, int, bytes, str | None]]:
    """Record ``(operation, status, body, x-amzn-errortype)`` of every response ``client``
    receives."""
    seen: list[tuple[str, int, bytes, str | None]] = []

    def keep(http_response: Any, model: Any, **_: Any) -> None:
        error_type = http_response.headers.get("x-amzn-errortype")
        seen.append((model.name, http_response.status_code, http_response.content, error_type))

    client.meta.events.register("after-call", keep)
    return seen


def body_problems(
    service: str, operation: str, body: bytes, error_type: str | None = None
) -> list[dict[str, str]]:
    """How a DRS JSON response body breaks botocore's model (empty: it fits): the
    operation's output shape, or the error's shape when ``error_type`` names a modeled one."""
    if service != "drs":
        raise ValueError("only DRS bodies are JSON; check EC2 parsed output instead")
    model = service_model("drs")
    if error_type is not None:
        if error_type not in model.shape_names:
            return []  # unmodeled errors (ExpiredTokenException...) have no shape to check
        shape = model.shape_for(error_type)
    else:
        shape = model.operation_model(operation).output_shape
    if shape is None:  # TagResource, UntagResource: no output, so an empty object at most
        extra = json.loads(body or b"{}")
        return [] if extra == {} else [{"name": operation, "message": "has no output members"}]
    return check(shape, json.loads(body), enums=True, unknown=True, skip_patterns=DATE_SHAPES)


def parsed_problems(service: str, operation: str, parsed: dict[str, Any]) -> list[dict[str, str]]:
    """How a parsed response (minus ResponseMetadata) breaks botocore's output shape."""
    shape = service_model(service).operation_model(operation).output_shape
    data = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
    return check(shape, data, enums=True, unknown=True, skip_patterns=DATE_SHAPES)
