"""``drsorch run --stepfunctions`` and ``approve``/``cancel`` against a workflow (issue 10,
item 3), in process on moto: Step Functions (executions recorded, not run: running them
is tests/integration/test_stepfunctions.py's), DynamoDB, STS.

Shown: a start saves the RUNNING record with its driver and starts one workflow; the same
key and plan again returns the same execution and starts nothing; the same key with another
plan is refused (exit 2, naming the execution); what only a local engine does is refused
with --stepfunctions; a non-DynamoDB store is refused before anything starts; approve on a
workflow waiting with a task token completes that token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import NoRegionError
from click.testing import CliRunner, Result
from moto import mock_aws
from tests.utils.dynamo import REGION, URL, dynamo_store, fake_credentials
from tests.utils.plans import make_plan

from drsorch.cli import EXIT_BAD_INPUT, EXIT_OK, main
from drsorch.core.statuses import ExecutionStatus, WaveStatus
from drsorch.stepfunctions.definition import definition_json

pytestmark = pytest.mark.timeout(60)

FUNCTION = f"arn:aws:lambda:{REGION}:123456789012:function:drsorch"


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    fake_credentials(monkeypatch)
    with mock_aws():
        dynamo_store()  # the stack's table
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        made = sfn.create_state_machine(
            name="drsorch", definition=definition_json(FUNCTION), roleArn=role
        )
        yield made["stateMachineArn"]


def _plan_file(tmp_path: Path, seed: int = 1, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(make_plan(seed, waves=2, servers_per_wave=2)))
    return path


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["run", *args], catch_exceptions=False)


def _start(plan: Path, machine: str, *more: str) -> Result:
    return _run(str(plan), "--stepfunctions", machine, "--store", URL, *more)


def _workflows(machine: str) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    executions: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=machine)["executions"]
    return executions


def test_a_start_records_the_execution_and_starts_one_workflow(
    tmp_path: Path, machine: str
) -> None:
    result = _start(_plan_file(tmp_path), machine, "--idempotency-key", "drill-1", "--json")
    assert result.exit_code == EXIT_OK, result.output
    started = json.loads(result.output)
    assert started["Started"] is True
    assert started["Status"] == "RUNNING"
    store = dynamo_store(create=False)
    record = store.get(started["ExecutionId"])
    assert record is not None and record.Status is ExecutionStatus.RUNNING
    state = store.get_state(started["ExecutionId"])
    assert state is not None
    assert state["driver"]["execution_arn"] == started["WorkflowArn"]
    workflows = _workflows(machine)
    assert [w["executionArn"] for w in workflows] == [started["WorkflowArn"]]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    given = json.loads(sfn.describe_execution(executionArn=started["WorkflowArn"])["input"])
    assert given["ExecutionId"] == started["ExecutionId"]
    assert given["BackstopTime"].endswith("Z")


def test_the_same_key_and_plan_again_returns_the_same_execution(
    tmp_path: Path, machine: str
) -> None:
    plan = _plan_file(tmp_path)
    first = json.loads(_start(plan, machine, "--idempotency-key", "k", "--json").output)
    again = _start(plan, machine, "--idempotency-key", "k", "--json")
    assert again.exit_code == EXIT_OK, again.output
    second = json.loads(again.output)
    assert second["ExecutionId"] == first["ExecutionId"]
    assert second["WorkflowArn"] == first["WorkflowArn"]
    assert second["Started"] is False
    assert len(_workflows(machine)) == 1
    said = _start(plan, machine, "--idempotency-key", "k")
    assert "already started with this idempotency key" in said.output


def test_the_same_key_with_another_plan_is_refused(tmp_path: Path, machine: str) -> None:
    first = json.loads(
        _start(_plan_file(tmp_path), machine, "--idempotency-key", "k", "--json").output
    )
    other = _plan_file(tmp_path, seed=2, name="other.yaml")
    result = _start(other, machine, "--idempotency-key", "k")
    assert result.exit_code == EXIT_BAD_INPUT
    assert first["ExecutionId"] in result.output
    assert "different key" in result.output
    assert len(_workflows(machine)) == 1


def test_different_keys_start_different_executions(tmp_path: Path, machine: str) -> None:
    plan = _plan_file(tmp_path)
    one = json.loads(_start(plan, machine, "--idempotency-key", "a", "--json").output)
    two = json.loads(_start(plan, machine, "--idempotency-key", "b", "--json").output)
    three = json.loads(_start(plan, machine, "--json").output)  # no key: a new one
    assert len({one["ExecutionId"], two["ExecutionId"], three["ExecutionId"]}) == 3
    assert len(_workflows(machine)) == 3


@pytest.mark.parametrize(
    ("more", "said"),
    [
        (["--sim", "x.yaml"], "for the simulator"),
        (["--seed", "3"], "for the simulator"),
        (["--cleanup-after"], "need the engine in this process"),
        (["--approve-all"], "need the engine in this process"),
    ],
)
def test_what_only_a_local_engine_does_is_refused(
    tmp_path: Path, machine: str, more: list[str], said: str
) -> None:
    result = _start(_plan_file(tmp_path), machine, *more)
    assert result.exit_code == EXIT_BAD_INPUT
    assert said in result.output
    assert _workflows(machine) == []


def test_a_key_without_a_state_machine_is_refused(tmp_path: Path) -> None:
    result = _run(str(_plan_file(tmp_path)), "--idempotency-key", "k")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "--idempotency-key goes with --stepfunctions" in result.output


def test_a_sqlite_store_or_a_bad_arn_is_refused_before_anything_starts(
    tmp_path: Path, machine: str
) -> None:
    plan = str(_plan_file(tmp_path))
    local = _run(plan, "--stepfunctions", machine, "--store", str(tmp_path / "h.db"))
    assert local.exit_code == EXIT_BAD_INPUT
    assert "DynamoDB store" in local.output
    bad = _run(plan, "--stepfunctions", "arn:aws:lambda:x", "--store", URL)
    assert bad.exit_code == EXIT_BAD_INPUT
    assert "not a state machine ARN" in bad.output
    assert _workflows(machine) == []


def test_approve_completes_the_task_token_a_workflow_waits_with(
    tmp_path: Path, machine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = json.loads(_start(_plan_file(tmp_path), machine, "--json").output)
    store = dynamo_store(create=False)
    sent: list[str] = []
    # The state as a step leaves it while the workflow waits for wave 1's approval.
    state = store.get_state(started["ExecutionId"])
    assert state is not None
    state["waves"][0]["status"] = "PAUSED"
    state["waves"][0]["pause_before"] = True
    state["driver"]["task_token"] = "token-1"
    record = store.get(started["ExecutionId"])
    assert record is not None
    waves = [
        w.model_copy(update={"Status": WaveStatus.PAUSED}) if w.WaveNumber == 1 else w
        for w in record.WaveStatus
    ]
    store.put(record.model_copy(update={"WaveStatus": waves}), state)

    import botocore.client

    real = botocore.client.BaseClient._make_api_call

    def spy(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "SendTaskSuccess":
            sent.append(params["taskToken"])
            return {}
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    result = CliRunner().invoke(
        main, ["approve", started["ExecutionId"], "--wave", "1", "--store", URL]
    )
    assert result.exit_code == EXIT_OK, result.output
    assert sent == ["token-1"]
    assert "was woken" in result.output
    assert [r["kind"] for r in store.take_requests(started["ExecutionId"])] == ["approve"]


def test_the_lambda_entry_builds_its_driver_from_its_environment(
    tmp_path: Path, machine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``drsorch.stepfunctions.handler.handler`` builds in a Lambda container: the
    store its DRSORCH_STORE names, AWS through the function's own credentials (here moto's
    STS), and a step that refuses an event it cannot carry out with a clear message."""
    from drsorch.errors import RefusedError
    from drsorch.plan import load_plan
    from drsorch.stepfunctions import handler

    started = json.loads(_start(_plan_file(tmp_path), machine, "--json").output)
    monkeypatch.setattr(handler, "_DRIVER", None)
    monkeypatch.setenv("DRSORCH_STORE", URL)
    monkeypatch.setenv("AWS_REGION", REGION)
    driver = handler._driver()
    assert handler._driver() is driver  # kept for the warm invocations that follow
    state = driver.store.get_state(started["ExecutionId"])
    assert state is not None
    world = driver.world_for(load_plan(str(tmp_path / "plan.yaml")), state)
    assert world.drs is not None and world.ec2 is not None
    # Its own approval task is completed through a client of its region (moto's backend
    # that does not run workflows takes any token; no region would raise NoRegionError).
    assert driver.send_task_success is not None
    driver.send_task_success("a-token", {"Woken": True})
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(NoRegionError):
        driver.send_task_success("a-token", {"Woken": True})
    with pytest.raises(RefusedError, match="unknown drsorch action"):
        handler.handler(
            {"Action": "dance", "ExecutionId": started["ExecutionId"], "Driver": "arn:x"}
        )
