"""The template of ``drsorch deploy template`` against tools that read CloudFormation
(issue 10, item 4): cfn-lint finds nothing in it (errors, warnings and informational
checks, in several regions), and it deploys on moto's CloudFormation.

What moto 5.x does with it: every resource is created (the table, the topic, both log
groups, both roles and the approvals policy, the function, the state machine, the rule and
the function's permission). moto ignores some properties, asserted here as moto's gaps
so that a moto that starts honouring them says so: the state machine's
``DefinitionSubstitutions`` (its definition keeps ``${DrsorchFunctionArn}``; ``Fn::Sub``
would be resolved, but moto's turns the definition's ``$$.`` context paths into ``$.``)
and ``LoggingConfiguration``, the table's ``PointInTimeRecoverySpecification``, the
function's ``Architectures`` and ``LoggingConfig``; an ``Fn::If`` that gives
``AWS::NoValue`` in a policy's statement list is left as a null statement (CloudFormation
drops it).
"""

from __future__ import annotations

import ast
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cfnlint.api import ManualArgs, lint
from moto import mock_aws
from tests.utils.dynamo import REGION, fake_credentials

from drsorch.stepfunctions.definition import definition_json
from drsorch.stepfunctions.template import template_text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]  # moto and cfn-lint load slowly

TARGET_ROLE = "arn:aws:iam::111122223333:role/DrsOrchestratorRole"
PLAN_TOPIC = "arn:aws:sns:us-east-1:111122223333:dr-events"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_cfn_lint_finds_nothing(fmt: str) -> None:
    # No rule is ignored: errors, warnings and the informational checks ("I") all pass.
    config = ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"], include_checks=["I"])
    matches = lint(template_text(fmt), config=config)
    assert [str(m) for m in matches] == []


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fake_credentials(monkeypatch)
    with mock_aws():
        yield


def deploy(**parameters: str) -> tuple[dict[str, str], dict[str, str]]:
    """The stack made from the template with a code zip in S3: its outputs, and the
    physical id of each resource."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="drsorch-code")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("drsorch/__init__.py", "")
    s3.put_object(Bucket="drsorch-code", Key="drsorch.zip", Body=code.getvalue())
    given = {"CodeS3Bucket": "drsorch-code", "CodeS3Key": "drsorch.zip", **parameters}
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName="drsorch",
        TemplateBody=template_text("yaml"),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()],
    )
    stack = cloudformation.describe_stacks(StackName="drsorch")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    summaries = cloudformation.list_stack_resources(StackName="drsorch")
    resources = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in summaries["StackResourceSummaries"]
        if r["ResourceStatus"] == "CREATE_COMPLETE"
    }
    return outputs, resources


def statements(role: str, policy: str) -> list[dict[str, Any]]:
    document: Any = boto3.client("iam").get_role_policy(RoleName=role, PolicyName=policy)[
        "PolicyDocument"
    ]
    if isinstance(document, str):  # moto keeps a CloudFormation policy as Python's repr
        document = ast.literal_eval(document)
    # moto leaves Fn::If's AWS::NoValue as a null statement; CloudFormation drops it.
    return [s for s in document["Statement"] if s is not None]


def test_the_template_deploys_on_motos_cloudformation(aws: None) -> None:
    outputs, resources = deploy(
        CreateTopic="true", TargetRoleArns=TARGET_ROLE, NotificationTopicArns=PLAN_TOPIC
    )
    assert set(resources) == {
        "Table",
        "Topic",
        "FunctionLogGroup",
        "StateMachineLogGroup",
        "FunctionRole",
        "Function",
        "StateMachineRole",
        "StateMachine",
        "ApprovalPolicy",
        "StoppedRule",
        "StoppedRulePermission",
    }
    table = outputs["TableName"]
    assert outputs["StoreUrl"] == f"dynamodb://{table}?region={REGION}"

    # the store's table, as `drsorch store init` would make it
    described = boto3.client("dynamodb").describe_table(TableName=table)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {i["IndexName"] for i in described["GlobalSecondaryIndexes"]} == {
        "by_plan",
        "by_status",
        "running",
        "by_id",
    }

    function = boto3.client("lambda").get_function(FunctionName=outputs["FunctionArn"])
    config = function["Configuration"]
    assert config["Handler"] == "drsorch.stepfunctions.handler.handler"
    assert (config["Runtime"], config["Timeout"], config["MemorySize"]) == ("python3.12", 840, 512)
    assert config["Environment"]["Variables"] == {"DRSORCH_STORE": outputs["StoreUrl"]}

    # the function's role: its grants resolved to this stack's resources
    granted = {s["Sid"]: s for s in statements(resources["FunctionRole"], "drsorch")}
    table_arn = described["TableArn"]
    assert granted["Store"]["Resource"] == [table_arn, f"{table_arn}/index/*"]
    assert granted["AssumeTargetRoles"]["Resource"] == [TARGET_ROLE]
    assert granted["NotifyStackTopic"]["Resource"] == outputs["TopicArn"]
    assert granted["NotifyPlanTopics"]["Resource"] == [PLAN_TOPIC]
    assert granted["DrsorchLaunch"]["Resource"] == (
        "arn:aws:drs:us-east-1:123456789012:source-server/*"
    )
    approvals = statements(resources["FunctionRole"], "drsorch-approvals")
    assert approvals[0]["Resource"] == "*"  # SendTaskSuccess names a token, no resource
    invoke = statements(resources["StateMachineRole"], "drsorch")[0]
    assert invoke["Resource"] == outputs["FunctionArn"]

    # the state machine: the definition as written (moto does not substitute it)
    machine = boto3.client("stepfunctions").describe_state_machine(
        stateMachineArn=outputs["StateMachineArn"]
    )
    assert json.loads(machine["definition"]) == json.loads(definition_json())
    assert machine["roleArn"].endswith("/" + resources["StateMachineRole"])

    # the rule that finalizes an execution stopped from outside, and its permission
    events = boto3.client("events")
    (rule,) = events.list_rules()["Rules"]
    assert json.loads(rule["EventPattern"])["detail"] == {
        "status": ["FAILED", "TIMED_OUT", "ABORTED"],
        "stateMachineArn": [outputs["StateMachineArn"]],
    }
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == outputs["FunctionArn"]
    policy = json.loads(
        boto3.client("lambda").get_policy(FunctionName=outputs["FunctionArn"])["Policy"]
    )
    (allowed,) = policy["Statement"]
    assert allowed["Principal"] == {"Service": "events.amazonaws.com"}
    assert allowed["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]

    groups = boto3.client("logs").describe_log_groups()["logGroups"]
    assert {(g["logGroupName"], g["retentionInDays"]) for g in groups} == {
        ("/drsorch/drsorch/function", 90),
        ("/aws/vendedlogs/states/drsorch-drsorch", 90),
    }


def test_without_target_roles_or_topics_those_grants_are_left_out(aws: None) -> None:
    outputs, resources = deploy(LogRetentionDays="30")
    assert "Topic" not in resources and "TopicArn" not in outputs
    sids = {s["Sid"] for s in statements(resources["FunctionRole"], "drsorch")}
    assert not sids & {"AssumeTargetRoles", "NotifyStackTopic", "NotifyPlanTopics"}
    assert {"DrsorchLaunch", "Store", "Logs"} <= sids
    groups = boto3.client("logs").describe_log_groups()["logGroups"]
    assert {g["retentionInDays"] for g in groups} == {30}


def test_motos_gaps_are_what_this_file_says(aws: None) -> None:
    """If one of these starts failing, moto honours the property now: update the
    docstring (and the report) and assert the real behaviour instead."""
    outputs, _ = deploy(Architecture="arm64")
    machine = boto3.client("stepfunctions").describe_state_machine(
        stateMachineArn=outputs["StateMachineArn"]
    )
    step = json.loads(machine["definition"])["States"]["Step"]
    assert step["Parameters"]["FunctionName"] == "${DrsorchFunctionArn}"
    assert machine.get("loggingConfiguration", {}).get("level", "OFF") == "OFF"
    backups = boto3.client("dynamodb").describe_continuous_backups(TableName=outputs["TableName"])
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "DISABLED"
    config = boto3.client("lambda").get_function(FunctionName=outputs["FunctionArn"])
    assert config["Configuration"]["Architectures"] == ["x86_64"]
    assert not config["Configuration"].get("LoggingConfig")
