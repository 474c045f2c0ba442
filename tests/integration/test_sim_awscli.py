"""`drsorch sim serve` as a user runs it, driven by the AWS CLI (the awscli package)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent
SCENARIO = """\
seed: 5
source_servers:
  - {id: s-1111111111111111a, hostname: db01, tags: {Tier: db}}
  - {id: s-2222222222222222b, hostname: app01}
faults:
  - {kind: throttle, operation: DescribeJobLogItems, retry_after: 9}
"""


def _aws_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="AKIASIMULATOR0000000",
        AWS_SECRET_ACCESS_KEY="simulator-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[str]:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    cmd = [str(BIN / "drsorch"), "sim", "serve", "--port", "0", "--scenario", str(scenario)]
    cmd += ["--servers", "3", "--speed", "100"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert match, line + (proc.stderr.read() if proc.stderr else "")
    try:
        yield match.group(0)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "stopped after" in out


def _aws(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "aws"), *args, "--endpoint-url", endpoint, "--output", "json"]
    return subprocess.run(cmd, env=_aws_env(), capture_output=True, text=True, timeout=60)


def test_aws_cli_talks_to_sim_serve(endpoint: str) -> None:
    listed = _aws(endpoint, "drs", "describe-source-servers")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    assert len(items) == 5
    hints = {i["sourceServerID"]: i["sourceProperties"]["identificationHints"] for i in items}
    assert hints["s-1111111111111111a"]["hostname"] == "db01"

    started = _aws(
        endpoint,
        "drs",
        "start-recovery",
        "--source-servers",
        "sourceServerID=s-1111111111111111a",
        "--is-drill",
        "--tags",
        "execution=e-1",
    )
    assert started.returncode == 0, started.stderr
    job = json.loads(started.stdout)["job"]
    assert job["initiatedBy"] == "START_DRILL" and job["tags"] == {"execution": "e-1"}

    jobs = json.loads(_aws(endpoint, "drs", "describe-jobs").stdout)["items"]
    assert [j["jobID"] for j in jobs] == [job["jobID"]]

    throttled = _aws(endpoint, "drs", "describe-job-log-items", "--job-id", job["jobID"])
    assert throttled.returncode != 0
    assert "ThrottlingException" in throttled.stderr

    missing = _aws(
        endpoint, "ec2", "describe-instance-status", "--instance-ids", "i-0123456789abcdef0"
    )
    assert "InvalidInstanceID.NotFound" in missing.stderr
