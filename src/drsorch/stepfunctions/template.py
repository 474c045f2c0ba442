"""The CloudFormation stack that runs drsorch on Step Functions + Lambda (issue 10, item 4).

``drsorch deploy template`` prints it; ``drsorch deploy package`` builds the zip its
function runs (:mod:`drsorch.stepfunctions.packaging`). One stack holds::

    Table               the history store (the DynamoDB store's schema), kept on delete
    Topic               optional (CreateTopic): an SNS topic plans may name
    Function            the handler, on the zip in CodeS3Bucket/CodeS3Key
    StateMachine        the definition of drsorch.stepfunctions.definition, Standard
    StoppedRule         EventBridge: an execution FAILED/TIMED_OUT/ABORTED -> Function
    FunctionRole, StateMachineRole, ApprovalPolicy   least privilege (below)
    FunctionLogGroup, StateMachineLogGroup           with LogRetentionDays

The function's role holds what a same-account plan needs (the DRS and EC2 calls the README's
"Running against AWS" lists, each action named), the store's table and its indexes only,
``sts:AssumeRole`` only on TargetRoleArns (no statement when it is empty), ``sns:Publish``
only on the stack's topic and NotificationTopicArns, and ``states:SendTaskSuccess`` (in
ApprovalPolicy) on ``*``: the call names no resource, only a task token, which is itself
the capability (a token is unguessable and closes with its task). The state machine's role
may invoke the function and deliver its logs, nothing else.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from drsorch.stepfunctions.definition import (
    FUNCTION_PLACEHOLDER,
    FUNCTION_TIMEOUT_SECONDS,
    definition_json,
)
from drsorch.store.dynamodb_layout import table_definition

__all__ = [
    "ARCHITECTURES",
    "HANDLER",
    "LOG_RETENTION_DAYS",
    "PYTHON_RUNTIMES",
    "STORE_ACTIONS",
    "cloudformation_template",
    "template_text",
]

HANDLER = "drsorch.stepfunctions.handler.handler"
ARCHITECTURES = ("arm64", "x86_64")
PYTHON_RUNTIMES = ("python3.11", "python3.12", "python3.13")
#: What CloudWatch Logs accepts as RetentionInDays.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096)
#: What the DynamoDB store calls (README, "DynamoDB store"): on the table and its indexes.
#: TransactWriteItems is no IAM action: each Put, Update and Delete in a transaction is
#: authorized as PutItem, UpdateItem, DeleteItem (the store writes no ConditionCheck).
STORE_ACTIONS = (
    "DescribeTable",
    "GetItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
)
#: The key of the definition's Lambda ARN in DefinitionSubstitutions.
_FUNCTION_KEY = FUNCTION_PLACEHOLDER.removeprefix("${").removesuffix("}")

Json = dict[str, Any]

# -- shapes -------------------------------------------------------------------------------


def _ref(name: str) -> Json:
    return {"Ref": name}


def _att(name: str, attribute: str = "Arn") -> Json:
    return {"Fn::GetAtt": [name, attribute]}


def _sub(text: str) -> Json:
    return {"Fn::Sub": text}


def _when(condition: str, value: Any) -> Json:
    """``value`` when ``condition`` holds, else nothing (the key or list item disappears)."""
    return {"Fn::If": [condition, value, _ref("AWS::NoValue")]}


def _not_empty(parameter: str) -> Json:
    return {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", _ref(parameter)]}, ""]}]}


def _arn(service: str, resource: str, *, account: bool = True) -> Json:
    """An ARN of this stack's partition and region (and account, unless ``account`` is
    False: snapshots and images name none)."""
    owner = "${AWS::AccountId}" if account else ""
    return _sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:{owner}:{resource}")


def _allow(sid: str, actions: str | list[str], resource: Any, **condition: Any) -> Json:
    statement: Json = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def _role(service: str, statements: list[Json], *, source_account: bool = False) -> Json:
    trust: Json = {
        "Effect": "Allow",
        "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    if source_account:  # the confused deputy: only this account's state machines
        trust["Condition"] = {"StringEquals": {"aws:SourceAccount": _ref("AWS::AccountId")}}
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
            "Policies": [{"PolicyName": "drsorch", "PolicyDocument": _document(statements)}],
        },
    }


def _document(statements: list[Json]) -> Json:
    return {"Version": "2012-10-17", "Statement": statements}


def _log_group(name: Json) -> Json:
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": name, "RetentionInDays": _ref("LogRetentionDays")},
    }


# -- DRS and EC2: the README's "Running against AWS" policy, in this account and region --

_VIA_AWS = {"aws:ViaAWSService": "true"}
_NEW_DRS_TAGGED = {
    "Bool": _VIA_AWS,
    "Null": {"aws:RequestTag/AWSElasticDisasterRecoveryManaged": "false"},
}
_DRS_TAGGED = {
    "Bool": _VIA_AWS,
    "Null": {"aws:ResourceTag/AWSElasticDisasterRecoveryManaged": "false"},
}
_INSTANCES = _arn("ec2", "instance/*")
_VOLUMES = _arn("ec2", "volume/*")
_SNAPSHOTS = _arn("ec2", "snapshot/*", account=False)
_LAUNCH_TEMPLATES = _arn("ec2", "launch-template/*")
_SECURITY_GROUPS = _arn("ec2", "security-group/*")
_SOURCE_SERVERS = _arn("drs", "source-server/*")
_JOBS = _arn("drs", "job/*")
_DRS_ROLES = [
    _sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/service-role/{name}")
    for name in (
        "AWSElasticDisasterRecoveryConversionServerRole",
        "AWSElasticDisasterRecoveryRecoveryInstanceRole",
    )
]


def drs_statements() -> list[Json]:
    """What drsorch calls in DRS and EC2, and what DRS does with the caller's permissions
    (README: "The target role needs"; a test holds the two equal)."""
    return [
        _allow(
            "DrsorchReads",
            [
                "drs:DescribeSourceServers",
                "drs:DescribeJobs",
                "drs:DescribeRecoveryInstances",
                "ec2:DescribeInstanceStatus",
            ],
            "*",
        ),
        _allow("DrsorchJobLog", "drs:DescribeJobLogItems", _JOBS),
        _allow("DrsorchLaunch", "drs:StartRecovery", _SOURCE_SERVERS),
        _allow("DrsorchTagItsJobs", "drs:TagResource", _JOBS),
        _allow(
            "DrsorchCleanup",
            "drs:TerminateRecoveryInstances",
            _arn("drs", "recovery-instance/*"),
        ),
        _allow("DrsDependentDrs", "drs:CreateRecoveryInstanceForDrs", _SOURCE_SERVERS),
        _allow(
            "DrsDependentReads",
            [
                "drs:ListTagsForResource",
                *(
                    f"ec2:Describe{what}"
                    for what in (
                        "AccountAttributes",
                        "AvailabilityZones",
                        "Images",
                        "InstanceAttribute",
                        "InstanceTypes",
                        "Instances",
                        "LaunchTemplateVersions",
                        "LaunchTemplates",
                        "SecurityGroups",
                        "Snapshots",
                        "Subnets",
                        "Volumes",
                    )
                ),
            ],
            "*",
        ),
        _allow(
            "DrsPassesItsInstanceRoles",
            "iam:PassRole",
            _DRS_ROLES,
            StringEquals={"iam:PassedToService": "ec2.amazonaws.com"},
        ),
        _allow("ViaDrsNewTaggedInstances", "ec2:RunInstances", _INSTANCES, **_NEW_DRS_TAGGED),
        _allow("ViaDrsNewTaggedVolumes", "ec2:CreateVolume", _VOLUMES, **_NEW_DRS_TAGGED),
        _allow("ViaDrsNewTaggedSnapshots", "ec2:CreateSnapshot", _SNAPSHOTS, **_NEW_DRS_TAGGED),
        _allow(
            "ViaDrsNewTaggedLaunchTemplates",
            "ec2:CreateLaunchTemplate",
            _LAUNCH_TEMPLATES,
            **_NEW_DRS_TAGGED,
        ),
        _allow(
            "ViaDrsRunInstancesUses",
            "ec2:RunInstances",
            [
                _SECURITY_GROUPS,
                _VOLUMES,
                _arn("ec2", "subnet/*"),
                _arn("ec2", "network-interface/*"),
                _LAUNCH_TEMPLATES,
                _arn("ec2", "image/*", account=False),
            ],
            Bool=_VIA_AWS,
        ),
        _allow(
            "ViaDrsOnlyDrsTaggedInstances",
            [
                "ec2:StartInstances",
                "ec2:StopInstances",
                "ec2:TerminateInstances",
                "ec2:ModifyInstanceAttribute",
                "ec2:AttachVolume",
                "ec2:DetachVolume",
            ],
            _INSTANCES,
            **_DRS_TAGGED,
        ),
        _allow(
            "ViaDrsOnlyDrsTaggedVolumes",
            ["ec2:AttachVolume", "ec2:CreateSnapshot", "ec2:DeleteVolume"],
            _VOLUMES,
            **_DRS_TAGGED,
        ),
        _allow("ViaDrsDetachVolumes", "ec2:DetachVolume", _VOLUMES, Bool=_VIA_AWS),
        _allow(
            "ViaDrsOnlyDrsTaggedSnapshots",
            ["ec2:CreateVolume", "ec2:DeleteSnapshot"],
            _SNAPSHOTS,
            **_DRS_TAGGED,
        ),
        _allow(
            "ViaDrsOnlyDrsTaggedSecurityGroups",
            [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupEgress",
            ],
            _SECURITY_GROUPS,
            **_DRS_TAGGED,
        ),
        _allow(
            "ViaDrsOnlyDrsTaggedLaunchTemplates",
            [
                "ec2:CreateLaunchTemplateVersion",
                "ec2:ModifyLaunchTemplate",
                "ec2:DeleteLaunchTemplateVersions",
            ],
            _LAUNCH_TEMPLATES,
            **_DRS_TAGGED,
        ),
        _allow(
            "ViaDrsTagOnCreate",
            "ec2:CreateTags",
            [_INSTANCES, _VOLUMES, _SNAPSHOTS, _LAUNCH_TEMPLATES],
            Bool=_VIA_AWS,
            StringEquals={
                "ec2:CreateAction": [
                    "RunInstances",
                    "CreateVolume",
                    "CreateSnapshot",
                    "CreateLaunchTemplate",
                ]
            },
        ),
    ]


# -- the template -------------------------------------------------------------------------


def _parameters() -> Json:
    def text(description: str, **more: Any) -> Json:
        return {"Type": "String", "Description": description, **more}

    def arns(description: str) -> Json:
        return {"Type": "CommaDelimitedList", "Default": "", "Description": description}

    return {
        "CodeS3Bucket": text("S3 bucket holding the zip `drsorch deploy package` built"),
        "CodeS3Key": text("Key of that zip in CodeS3Bucket"),
        "Architecture": text(
            "The zip's architecture (drsorch deploy package --arch)",
            Default="arm64",
            AllowedValues=list(ARCHITECTURES),
        ),
        "PythonRuntime": text(
            "The zip's Python (drsorch deploy package --python 3.X gives python3.X)",
            Default="python3.12",
            AllowedValues=list(PYTHON_RUNTIMES),
        ),
        "TargetRoleArns": arns(
            "Roles in target accounts the plans name (Target.RoleArn), comma separated; "
            "empty: plans recover into this account only"
        ),
        "CreateTopic": text(
            "Create an SNS topic plans may name in Notifications.SnsTopicArn",
            Default="false",
            AllowedValues=["true", "false"],
        ),
        "NotificationTopicArns": arns(
            "Other SNS topics plans name (Notifications.SnsTopicArn), comma separated"
        ),
        "LogRetentionDays": {
            "Type": "Number",
            "Default": 90,
            "AllowedValues": list(LOG_RETENTION_DAYS),
            "Description": "How long the function's and the state machine's logs are kept",
        },
    }


def _table() -> Json:
    properties = table_definition("")
    del properties["TableName"]  # CloudFormation names it: one stack, one table
    properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",  # the history is a drill's evidence: it outlives the stack
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def _function_statements() -> list[Json]:
    table = _att("Table")
    return [
        *drs_statements(),
        _allow(
            "Store",
            [f"dynamodb:{action}" for action in STORE_ACTIONS],
            [table, _sub("${Table.Arn}/index/*")],
        ),
        _when(
            "HasTargetRoles",
            _allow("AssumeTargetRoles", "sts:AssumeRole", _ref("TargetRoleArns")),
        ),
        _when("CreateTopic", _allow("NotifyStackTopic", "sns:Publish", _ref("Topic"))),
        _when(
            "HasNotificationTopics",
            _allow("NotifyPlanTopics", "sns:Publish", _ref("NotificationTopicArns")),
        ),
        _allow(
            "Logs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            _att("FunctionLogGroup"),
        ),
    ]


def _state_machine_statements() -> list[Json]:
    return [
        _allow("InvokeTheFunction", "lambda:InvokeFunction", _att("Function")),
        # Log delivery to CloudWatch Logs: these actions take no resource ARN.
        _allow(
            "DeliverLogs",
            [
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            ],
            "*",
        ),
    ]


def _resources(definition: str) -> Json:
    return {
        "Table": _table(),
        "Topic": {"Type": "AWS::SNS::Topic", "Condition": "CreateTopic"},
        "FunctionLogGroup": _log_group(_sub("/drsorch/${AWS::StackName}/function")),
        "StateMachineLogGroup": _log_group(
            # The prefix Step Functions' log delivery expects (no resource policy to grow).
            _sub("/aws/vendedlogs/states/drsorch-${AWS::StackName}")
        ),
        "FunctionRole": _role("lambda", _function_statements()),
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Description": "drsorch: one step of an execution (drsorch.stepfunctions)",
                "Runtime": _ref("PythonRuntime"),
                "Architectures": [_ref("Architecture")],
                "Handler": HANDLER,
                "Code": {"S3Bucket": _ref("CodeS3Bucket"), "S3Key": _ref("CodeS3Key")},
                "Role": _att("FunctionRole"),
                "Timeout": FUNCTION_TIMEOUT_SECONDS,
                "MemorySize": 512,
                "Environment": {
                    "Variables": {
                        "DRSORCH_STORE": _sub("dynamodb://${Table}?region=${AWS::Region}")
                    }
                },
                "LoggingConfig": {"LogGroup": _ref("FunctionLogGroup")},
            },
        },
        "StateMachineRole": _role("states", _state_machine_statements(), source_account=True),
        "StateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineType": "STANDARD",
                "RoleArn": _att("StateMachineRole"),
                # DefinitionSubstitutions, not Fn::Sub: the definition's "$$." context paths
                # are best left untouched by any tool.
                "DefinitionString": definition,
                "DefinitionSubstitutions": {_FUNCTION_KEY: _att("Function")},
                "LoggingConfiguration": {
                    "Level": "ERROR",
                    "IncludeExecutionData": True,
                    "Destinations": [
                        {"CloudWatchLogsLogGroup": {"LogGroupArn": _att("StateMachineLogGroup")}}
                    ],
                },
            },
        },
        # The function may complete its own approval task. SendTaskSuccess takes a task
        # token and no resource ARN to scope it to: the token is the capability.
        "ApprovalPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "drsorch-approvals",
                "Roles": [_ref("FunctionRole")],
                "PolicyDocument": _document(
                    [_allow("CompleteApprovals", "states:SendTaskSuccess", "*")]
                ),
            },
        },
        # An execution stopped from outside its own flow (StopExecution, a timeout) is
        # finalized by the function: no record is left RUNNING.
        "StoppedRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "drsorch: finalize an execution that stopped outside its flow",
                "EventPattern": {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": {
                        "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                        "stateMachineArn": [_ref("StateMachine")],
                    },
                },
                "Targets": [{"Id": "drsorch-finalize", "Arn": _att("Function")}],
            },
        },
        "StoppedRulePermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": _att("Function"),
                "Principal": "events.amazonaws.com",
                "SourceArn": _att("StoppedRule"),
            },
        },
    }


def cloudformation_template(*, definition: str | None = None) -> Json:
    """The stack's template (``definition``: the state machine's, by default
    :func:`~drsorch.stepfunctions.definition.definition_json`)."""
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "drsorch: disaster-recovery plans on AWS Step Functions + Lambda",
        "Parameters": _parameters(),
        "Conditions": {
            "HasTargetRoles": _not_empty("TargetRoleArns"),
            "HasNotificationTopics": _not_empty("NotificationTopicArns"),
            "CreateTopic": {"Fn::Equals": [_ref("CreateTopic"), "true"]},
        },
        "Resources": _resources(definition if definition is not None else definition_json()),
        "Outputs": {
            "StateMachineArn": {"Value": _ref("StateMachine")},
            "TableName": {"Value": _ref("Table")},
            "StoreUrl": {
                "Description": "--store for drsorch run/history/show/approve/cancel",
                "Value": _sub("dynamodb://${Table}?region=${AWS::Region}"),
            },
            "FunctionArn": {"Value": _att("Function")},
            "TopicArn": {"Condition": "CreateTopic", "Value": _ref("Topic")},
        },
    }
    # A copy that shares no part with another (statements share their conditions here; a
    # YAML dump would make them anchors, which CloudFormation does not read).
    copy: Json = json.loads(json.dumps(template))
    return copy


def template_text(fmt: Literal["json", "yaml"] = "json") -> str:
    """The template as text: JSON (indented), or YAML (long-form intrinsic functions,
    ``Fn::Sub:``, which CloudFormation reads as well as the short tags)."""
    template = cloudformation_template()
    if fmt == "yaml":
        import yaml

        class Dumper(yaml.SafeDumper):
            pass

        def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
            style = "|" if "\n" in value else None  # the definition: a block, as written
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        Dumper.add_representer(str, text)
        return str(yaml.dump(template, Dumper=Dumper, sort_keys=False, width=100))
    return json.dumps(template, indent=2) + "\n"
