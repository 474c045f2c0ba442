"""The CloudFormation template of ``drsorch deploy template`` (issue 10, item 4): its IAM is
least privilege (no ``*`` action, DRS and EC2 actions one by one, ``sts:AssumeRole`` only on
the TargetRoleArns parameter), it embeds the state machine's own definition, and it mirrors
the README's policy. cfn-lint and moto's CloudFormation: tests/integration/test_deploy_stack.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drsorch.cli import main
from drsorch.stepfunctions.definition import definition_json
from drsorch.stepfunctions.template import (
    HANDLER,
    cloudformation_template,
    drs_statements,
    template_text,
)
from drsorch.store.dynamodb_layout import table_definition

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

README = Path(__file__).resolve().parents[2] / "README.md"


def resources() -> dict[str, Any]:
    found: dict[str, Any] = cloudformation_template()["Resources"]
    return found


def policies(role: str) -> list[dict[str, Any]]:
    """The statements of ``role``'s inline policies and of the policies attached to it;
    a statement under ``Fn::If`` counts as present."""
    found = resources()
    documents = [p["PolicyDocument"] for p in found[role]["Properties"]["Policies"]]
    documents += [
        r["Properties"]["PolicyDocument"]
        for r in found.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
    ]
    statements = []
    for document in documents:
        for statement in document["Statement"]:
            if "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            statements.append(statement)
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    named = statement["Action"]
    return [named] if isinstance(named, str) else list(named)


def resolve(value: Any) -> Any:
    """``Fn::Sub`` of the pseudo parameters, as in account 111122223333 of us-east-1."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        for name, real in (
            ("Partition", "aws"),
            ("Region", "us-east-1"),
            ("AccountId", "111122223333"),
        ):
            text = text.replace("${AWS::" + name + "}", real)
        return text
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


@pytest.mark.parametrize("role", ["FunctionRole", "StateMachineRole"])
def test_no_statement_allows_every_action(role: str) -> None:
    for statement in policies(role):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in actions(statement):
            assert "*" not in action, (role, statement.get("Sid"), action)


def test_drs_and_ec2_actions_are_named_one_by_one() -> None:
    named = {a for s in policies("FunctionRole") for a in actions(s)}
    drs = {a for a in named if a.startswith("drs:")}
    assert drs == {
        "drs:DescribeSourceServers",
        "drs:DescribeJobs",
        "drs:DescribeJobLogItems",
        "drs:DescribeRecoveryInstances",
        "drs:StartRecovery",
        "drs:TagResource",
        "drs:TerminateRecoveryInstances",
        "drs:CreateRecoveryInstanceForDrs",
        "drs:ListTagsForResource",
    }
    ec2 = {a for a in named if a.startswith("ec2:")}
    assert {"ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:TerminateInstances"} <= ec2
    for statement in policies("FunctionRole"):
        if "ec2:TerminateInstances" in actions(statement):  # only DRS's own, through DRS
            assert statement["Condition"]["Bool"] == {"aws:ViaAWSService": "true"}
            assert statement["Condition"]["Null"] == {
                "aws:ResourceTag/AWSElasticDisasterRecoveryManaged": "false"
            }


def test_the_drs_policy_is_the_readmes() -> None:
    text = README.read_text(encoding="utf-8")
    after = text.split("**The target role needs**", 1)[1]
    block = re.search(r"```json\n(.*?)```", after, re.S)
    assert block is not None
    assert resolve(drs_statements()) == json.loads(block.group(1))["Statement"]


def test_assume_role_only_on_the_target_roles_and_only_when_some_are_given() -> None:
    template = cloudformation_template()
    statements = template["Resources"]["FunctionRole"]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    assuming = [s for s in policies("FunctionRole") if "sts:AssumeRole" in actions(s)]
    assert assuming == [
        {
            "Sid": "AssumeTargetRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": {"Ref": "TargetRoleArns"},
        }
    ]
    guarded = [s for s in statements if "Fn::If" in s and s["Fn::If"][1] == assuming[0]]
    assert guarded == [{"Fn::If": ["HasTargetRoles", assuming[0], {"Ref": "AWS::NoValue"}]}]
    assert template["Conditions"]["HasTargetRoles"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "TargetRoleArns"}]}, ""]}]
    }
    assert template["Parameters"]["TargetRoleArns"] == {
        "Type": "CommaDelimitedList",
        "Default": "",
        "Description": template["Parameters"]["TargetRoleArns"]["Description"],
    }


def test_other_grants_name_their_resources() -> None:
    by_sid = {s["Sid"]: s for s in policies("FunctionRole")}
    assert by_sid["Store"]["Resource"] == [
        {"Fn::GetAtt": ["Table", "Arn"]},
        {"Fn::Sub": "${Table.Arn}/index/*"},
    ]
    assert "dynamodb:CreateTable" not in actions(by_sid["Store"])
    assert by_sid["NotifyStackTopic"]["Resource"] == {"Ref": "Topic"}
    assert by_sid["NotifyPlanTopics"]["Resource"] == {"Ref": "NotificationTopicArns"}
    assert by_sid["CompleteApprovals"] == {
        "Sid": "CompleteApprovals",
        "Effect": "Allow",
        "Action": "states:SendTaskSuccess",
        "Resource": "*",  # it names a task token, no resource
    }
    assert by_sid["Logs"]["Resource"] == {"Fn::GetAtt": ["FunctionLogGroup", "Arn"]}
    machine = {s["Sid"]: s for s in policies("StateMachineRole")}
    assert machine["InvokeTheFunction"]["Resource"] == {"Fn::GetAtt": ["Function", "Arn"]}
    # Log delivery's actions take no resource ARN: "*" there, and only there.
    starred = [s["Sid"] for s in policies("StateMachineRole") if s["Resource"] == "*"]
    assert starred == ["DeliverLogs"]
    assert all(a.startswith("logs:") for a in actions(machine["DeliverLogs"]))


def test_the_state_machine_runs_the_definition_on_the_function() -> None:
    machine = resources()["StateMachine"]["Properties"]
    assert machine["DefinitionString"] == definition_json()
    assert machine["DefinitionSubstitutions"] == {
        "DrsorchFunctionArn": {"Fn::GetAtt": ["Function", "Arn"]}
    }
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["LoggingConfiguration"]["Destinations"] == [
        {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["StateMachineLogGroup", "Arn"]}}}
    ]


def test_the_function_and_its_store() -> None:
    found = resources()
    function = found["Function"]["Properties"]
    assert function["Handler"] == HANDLER == "drsorch.stepfunctions.handler.handler"
    assert function["Timeout"] == 840  # stopped before the workflow's 900 s task timeout
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert function["Runtime"] == {"Ref": "PythonRuntime"}
    assert function["Environment"]["Variables"]["DRSORCH_STORE"] == {
        "Fn::Sub": "dynamodb://${Table}?region=${AWS::Region}"
    }
    table = found["Table"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    wanted = table_definition("x")
    del wanted["TableName"]
    properties = dict(table["Properties"])
    assert properties.pop("PointInTimeRecoverySpecification") == {
        "PointInTimeRecoveryEnabled": True
    }
    assert properties == wanted
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    for group in ("FunctionLogGroup", "StateMachineLogGroup"):
        assert found[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    rule = found["StoppedRule"]["Properties"]
    assert rule["EventPattern"]["detail"] == {
        "status": ["FAILED", "TIMED_OUT", "ABORTED"],
        "stateMachineArn": [{"Ref": "StateMachine"}],
    }
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["Function", "Arn"]}
    assert found["StoppedRulePermission"]["Properties"]["SourceArn"] == {
        "Fn::GetAtt": ["StoppedRule", "Arn"]
    }


def test_outputs() -> None:
    outputs = cloudformation_template()["Outputs"]
    assert set(outputs) == {"StateMachineArn", "TableName", "StoreUrl", "FunctionArn", "TopicArn"}
    assert outputs["TopicArn"]["Condition"] == "CreateTopic"
    assert outputs["StoreUrl"]["Value"] == {"Fn::Sub": "dynamodb://${Table}?region=${AWS::Region}"}


def test_yaml_and_json_say_the_same_and_yaml_has_no_anchors() -> None:
    text = template_text("yaml")
    assert "&id" not in text and "*id" not in text  # CloudFormation reads no YAML anchors
    assert yaml.safe_load(text) == json.loads(template_text("json")) == cloudformation_template()


def test_deploy_template_prints_it_or_writes_it(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(main, ["deploy", "template"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == cloudformation_template()
    as_yaml = runner.invoke(main, ["deploy", "template", "--format", "yaml"])
    assert yaml.safe_load(as_yaml.stdout) == cloudformation_template()
    target = tmp_path / "drsorch.yaml"
    written = runner.invoke(main, ["deploy", "template", "--format", "yaml", "-o", str(target)])
    assert written.exit_code == 0, written.output
    assert written.stdout == ""
    assert target.read_text(encoding="utf-8") == template_text("yaml")
    refused = runner.invoke(main, ["deploy", "template", "-o", str(tmp_path / "no" / "t.json")])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: --output") and "does not exist" in refused.stderr
