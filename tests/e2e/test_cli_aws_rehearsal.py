"""The whole ``--aws`` path rehearsed offline, as a user would (issue 8.5): ``drsorch sim
serve`` as a subprocess speaking STS + DRS + EC2 for two accounts, moto's server for SNS
and SQS, and ``drsorch run PLAN --aws --endpoint-url URL`` recovering cross-account
through the role. The end is published to a topic and read back from an SQS queue.

The engine keeps real time against AWS; ``--poll-seconds 5`` (the least it allows) against
the simulator at ``--speed 300`` makes the one small wave, with no health check, a matter
of seconds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from drsorch.cli.render import record_json
from drsorch.store import open_store

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

DRSORCH = Path(sys.executable).parent / "drsorch"
REPO = Path(__file__).resolve().parents[2]
CALLER, DR = "111111111111", "222222222222"
ROLE = f"arn:aws:iam::{DR}:role/DrsOrchestratorRole"
SERVERS = ["s-3d75cdc0d9a28a725", "s-3afa164776f93ce4f"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[str]:
    scenario = {
        "seed": 5,
        "accounts": [{"id": CALLER}, {"id": DR}],
        "roles": [{"arn": ROLE, "trust": {"accounts": [CALLER], "external_id": "dr-2026"}}],
        "servers_account": DR,
        "source_servers": [{"id": sid} for sid in SERVERS],
    }
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    port = free_port()
    proc = subprocess.Popen(
        [
            *(str(DRSORCH), "sim", "serve", "--scenario", str(path)),
            *("--port", str(port), "--speed", "300"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_run_aws_cross_account_through_the_simulator_with_sns(
    tmp_path: Path, sim: str, moto_server: str
) -> None:
    aws = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    sns = aws.client("sns", endpoint_url=moto_server)
    sqs = aws.client("sqs", endpoint_url=moto_server)
    topic = sns.create_topic(Name="dr-events")["TopicArn"]
    queue = sqs.create_queue(QueueName="dr-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    plan = {
        "PlanId": "rehearsal",
        "PlanName": "Cross-account rehearsal",
        "Target": {
            "AccountId": DR,
            "Region": "us-east-1",
            "RoleArn": ROLE,
            "ExternalId": "dr-2026",
        },
        "Notifications": {"SnsTopicArn": topic},
        "Defaults": {"HealthCheck": {"Enabled": False}},
        "Waves": [{"WaveNumber": 1, "ServerIds": SERVERS}],
    }
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(plan, sort_keys=False))
    store = tmp_path / "history.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": "AKIACALLER0000000001",
        "AWS_SECRET_ACCESS_KEY": "caller-secret",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_SNS": moto_server,
        "DRSORCH_STORE": f"sqlite:///{store}",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [
            *(str(DRSORCH), "run", str(plan_path), "--aws", "--endpoint-url", sim, "--json"),
            *("--poll-seconds", "5"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=200,
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
    record: dict[str, Any] = json.loads(done.stdout)
    assert record["Status"] == "COMPLETED"
    assert (record["SourceAccountId"], record["TargetAccountId"]) == (CALLER, DR)
    assert record["Notification"]["Status"] == "SENT"
    assert "dr-2026" not in done.stdout + done.stderr
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    (body,) = [json.loads(m["Body"]) for m in messages]
    assert body["ExecutionId"] == record["ExecutionId"] and body["Status"] == "COMPLETED"
    with open_store(f"sqlite:///{store}", read_only=True) as history:
        stored = history.get(record["ExecutionId"])
    assert stored is not None and record_json(stored) == record  # ISO times added to it
