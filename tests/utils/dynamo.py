"""The DynamoDB history store on moto, for tests (issue 9): tables, clients, fault hooks.

Everything runs inside ``moto.mock_aws()`` (in process: no server, no socket)::

    with mock_aws():
        store = dynamo_store()              # a fresh table "history", created by init_table
        other = dynamo_store(create=False)  # a second store (its own client) on that table

``URL`` is the table's store URL, as ``--store`` and ``open_store`` take it. Clients come
from one cached boto3 session, so a store costs milliseconds, not a model load.
``fail_next(client, operation, replies)`` answers the next calls of one operation with
DynamoDB errors instead of moto, as botocore's Stubber does (at ``before-call``: moto's
own ``before-send`` hook would otherwise answer first).
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from drsorch.aws.session import client_config
from drsorch.clock import Clock, VirtualClock
from drsorch.store.dynamodb import DynamoStore

REGION = "us-east-1"
TABLE = "history"
URL = f"dynamodb://{TABLE}?region={REGION}"


@functools.cache
def _session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


def dynamo_client() -> Any:
    """A DynamoDB client as the store builds its own: botocore's retries off."""
    return _session().client("dynamodb", config=client_config())


def dynamo_store(
    url: str = URL,
    *,
    clock: Clock | None = None,
    create: bool = True,
    client: Any = None,
    **kwargs: Any,
) -> DynamoStore:
    """A store on ``url``'s table (created first unless ``create`` is false)."""
    clock = clock or VirtualClock()
    store = DynamoStore(url, client=client or dynamo_client(), clock=clock, check=False, **kwargs)
    if create:
        store.init_table()
    return store


def fail_next(client: Any, operation: str, replies: list[tuple[int, str]]) -> list[str]:
    """Answer the next calls of ``operation`` (e.g. "TransactWriteItems") with these
    (HTTP status, error code) replies, then let moto answer again; returns the list of
    operations the hook saw (for counting attempts)."""
    seen: list[str] = []

    def hook(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        seen.append(operation)
        if not replies:
            return None
        status, code = replies.pop(0)
        parsed = {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "r-1"},
        }
        return AWSResponse("https://dynamodb.invalid/", status, {}, None), parsed

    client.meta.events.register_first(f"before-call.dynamodb.{operation}", hook)
    return seen


def fake_credentials(monkeypatch: Any) -> None:
    """Environment credentials and region that only moto will ever see (a test's
    ``monkeypatch``): clients the code under test makes itself find them."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
