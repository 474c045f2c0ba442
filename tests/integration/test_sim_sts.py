"""The simulator speaks STS (issue 8, point 2): boto3 clients in-process and over HTTP see
GetCallerIdentity and AssumeRole as STS answers them, DRS and EC2 answer in the account
whose credentials signed the call, and role credentials expire on the simulated clock."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import ClientError, ConnectionClosedError, ParamValidationError

from drsorch.clock import VirtualClock
from drsorch.sim import Fault, Scenario, SimRegion, attach
from drsorch.sim.server import SimServer
from drsorch.sim.testing import clients, sts_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CALLER, DR, OTHER = "111111111111", "222222222222", "333333333333"
ROLE = f"arn:aws:iam::{DR}:role/DrsOrchestratorRole"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SERVERS = ["s-1111111111111111a", "s-2222222222222222b"]
SCENARIO = f"""\
seed: 9
accounts:
  - id: "{CALLER}"
  - id: "{DR}"
    access_keys: [{{id: AKIADRADMIN000000001, secret: s, user: dr-admin}}]
  - id: "{OTHER}"
    access_keys: [{{id: AKIAOTHER00000000001}}]
roles:
  - arn: {ROLE}
    trust: {{accounts: ["{CALLER}"], external_id: dr-2026}}
    max_session_seconds: 14400
servers_account: "{DR}"
source_servers:
  - {{id: {SERVERS[0]}, hostname: db01}}
  - {{id: {SERVERS[1]}, hostname: app01}}
"""
DENIED = (
    f"User: arn:aws:iam::{CALLER}:user/simulator is not authorized to perform: "
    f"sts:AssumeRole on resource: {ROLE}"
)


class Env:
    """A region with the caller, DR and other accounts, and how to reach it."""

    def __init__(self, region: SimRegion, kw: dict[str, Any], mode: str) -> None:
        self.region, self.kw, self.mode = region, kw, mode
        clock = region.clock
        assert isinstance(clock, VirtualClock)
        self.clock = clock

    def sts(self, credentials: Any = None) -> Any:
        return sts_client(credentials=credentials, **self.kw)

    def clients(self, credentials: Any = None) -> tuple[Any, Any]:
        return clients(credentials=credentials, **self.kw)

    def assume(self, **params: Any) -> dict[str, Any]:
        call = {"RoleArn": ROLE, "RoleSessionName": "drsorch-e1", "ExternalId": "dr-2026"}
        call.update(params)
        answer: dict[str, Any] = self.sts().assume_role(
            **{k: v for k, v in call.items() if v is not None}
        )
        return answer


def _region(text: str = SCENARIO) -> SimRegion:
    return SimRegion(clock=VirtualClock(start=START), scenario=Scenario.from_yaml(text))


@pytest.fixture(params=["in-process", "http"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    region = _region()
    if request.param == "in-process":
        yield Env(region, {"region": region}, "in-process")
        return
    with SimServer(region) as server:
        yield Env(region, {"endpoint_url": server.url}, "http")


def _code(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    error = response["Error"]
    return error["Code"], response["ResponseMetadata"]["HTTPStatusCode"], error["Message"]


# --- GetCallerIdentity --------------------------------------------------------------------


def test_get_caller_identity_names_whoever_signed(env: Env) -> None:
    me = env.sts().get_caller_identity()
    assert (me["Account"], me["Arn"]) == (CALLER, f"arn:aws:iam::{CALLER}:user/simulator")
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", me["UserId"])
    admin = env.sts(("AKIADRADMIN000000001", "s")).get_caller_identity()
    assert (admin["Account"], admin["Arn"]) == (DR, f"arn:aws:iam::{DR}:user/dr-admin")
    creds = env.assume()["Credentials"]
    role = env.sts(creds).get_caller_identity()
    assert role["Account"] == DR
    assert role["Arn"] == f"arn:aws:sts::{DR}:assumed-role/DrsOrchestratorRole/drsorch-e1"
    assert re.fullmatch(r"AROA[A-Z2-7]{17}:drsorch-e1", role["UserId"])
    calls = env.region.recorder.select("GetCallerIdentity", service="sts")
    assert [c.account for c in calls] == [CALLER, DR, DR]
    assert env.region.recorder.count(service="sts", account=CALLER) == 2  # + AssumeRole


# --- AssumeRole ---------------------------------------------------------------------------


def test_assume_role_answers_credentials_that_expire_on_the_virtual_clock(env: Env) -> None:
    env.clock.advance(10.5)
    answer = env.assume(DurationSeconds=7200)
    creds, user = answer["Credentials"], answer["AssumedRoleUser"]
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds["AccessKeyId"])
    assert len(creds["SecretAccessKey"]) == 40 and len(creds["SessionToken"]) > 100
    assert creds["Expiration"] == datetime.fromtimestamp(START + 10 + 7200, UTC)
    assert user["Arn"] == f"arn:aws:sts::{DR}:assumed-role/DrsOrchestratorRole/drsorch-e1"
    assert user["AssumedRoleId"].endswith(":drsorch-e1")
    (call,) = env.region.recorder.select("AssumeRole")
    assert (call.account, call.outcome, call.params["ExternalId"]) == (CALLER, "ok", "dr-2026")
    default = env.assume()["Credentials"]["Expiration"]
    assert default == datetime.fromtimestamp(START + 10 + 3600, UTC)  # 3600 by default


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"RoleArn": f"arn:aws:iam::{DR}:role/Missing"}, "AccessDenied", DENIED[: -len(ROLE)]),
        ({"ExternalId": None}, "AccessDenied", DENIED),
        ({"ExternalId": "dr-2025"}, "AccessDenied", DENIED),
        (
            {"RoleSessionName": "exec 1"},
            "ValidationError",
            "1 validation error detected: Value 'exec 1' at 'roleSessionName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        ),
        (
            {"RoleSessionName": "e" * 65},
            "ValidationError",
            f"1 validation error detected: Value '{'e' * 65}' at 'roleSessionName' failed to "
            "satisfy constraint: Member must have length less than or equal to 64",
        ),
        (
            {"RoleSessionName": "é1"},
            "ValidationError",
            "1 validation error detected: Value 'é1' at 'roleSessionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        ),
        (
            {"DurationSeconds": 14401},
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ),
        (
            {"DurationSeconds": 43201, "RoleSessionName": "a b"},
            "ValidationError",
            "2 validation errors detected: Value 'a b' at 'roleSessionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*; "
            "Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must "
            "have value less than or equal to 43200",
        ),
        (
            {"ExternalId": "not valid!"},
            "ValidationError",
            "1 validation error detected: at 'externalId' failed to satisfy constraint",
        ),
        (
            {"RoleArn": f"arn:aws:iam::{DR}:user/DrsOrchestratorRole"},
            "ValidationError",
            f"arn:aws:iam::{DR}:user/DrsOrchestratorRole is invalid",
        ),
    ],
    ids=[
        "no-such-role",
        "missing-external-id",
        "wrong-external-id",
        "session-name-characters",
        "session-name-length",
        "session-name-unicode",
        "over-role-maximum",
        "over-43200-and-bad-name",
        "external-id-characters",
        "not-a-role-arn",
    ],
)
def test_assume_role_refusals(env: Env, params: dict[str, Any], code: str, message: str) -> None:
    with pytest.raises(ClientError) as caught:
        env.assume(**params)
    got_code, status, got_message = _code(caught)
    assert (got_code, status) == (code, 403 if code == "AccessDenied" else 400)
    assert got_message.startswith(message), got_message
    if params.get("ExternalId"):
        assert params["ExternalId"] not in got_message  # never echoed
    assert env.region.directory.issued == []


def test_botocore_refuses_short_durations_and_the_simulator_does_too(env: Env) -> None:
    with pytest.raises(ParamValidationError):
        env.assume(DurationSeconds=899)
    form = (
        f"Action=AssumeRole&Version=2011-06-15&RoleArn={ROLE}&RoleSessionName=s1"
        "&ExternalId=dr-2026&DurationSeconds=899"
    ).encode()
    answer = env.region.handle("POST", "/", {"Authorization": "x"}, form)
    assert answer.status == 400  # type: ignore[union-attr]
    assert b"Member must have value greater than or equal to 900" in answer.body  # type: ignore[union-attr]


def test_an_untrusted_account_is_denied_naming_its_own_principal(env: Env) -> None:
    with pytest.raises(ClientError) as caught:
        env.sts(("AKIAOTHER00000000001", "s")).assume_role(
            RoleArn=ROLE, RoleSessionName="s1", ExternalId="dr-2026"
        )
    assert _code(caught) == (
        "AccessDenied",
        403,
        f"User: arn:aws:iam::{OTHER}:user/simulator is not authorized to perform: "
        f"sts:AssumeRole on resource: {ROLE}",
    )


# --- DRS and EC2 per account --------------------------------------------------------------


def test_drs_and_ec2_answer_in_the_signers_account(env: Env) -> None:
    caller_drs, caller_ec2 = env.clients()
    assert caller_drs.describe_source_servers()["items"] == []  # like real DRS: nothing
    creds = env.assume()["Credentials"]
    drs, ec2 = env.clients(creds)
    items = drs.describe_source_servers()["items"]
    assert sorted(i["sourceServerID"] for i in items) == SERVERS
    assert all(f":{DR}:source-server/" in i["arn"] for i in items)
    job = drs.start_recovery(sourceServers=[{"sourceServerID": SERVERS[0]}], isDrill=True)["job"]
    assert f":{DR}:job/" in job["arn"]
    env.clock.advance(1800)
    assert caller_drs.describe_jobs()["items"] == []
    assert [j["jobID"] for j in drs.describe_jobs()["items"]] == [job["jobID"]]
    (instance,) = [r["Instances"][0] for r in ec2.describe_instances()["Reservations"]]
    assert caller_ec2.describe_instances()["Reservations"] == []
    owner = ec2.describe_instances()["Reservations"][0]["OwnerId"]
    assert owner == DR
    # a static key of the DR account sees the same account; the caller still sees nothing
    admin_drs, _ = env.clients(("AKIADRADMIN000000001", "s"))
    assert len(admin_drs.describe_recovery_instances()["items"]) == 1
    assert caller_drs.describe_recovery_instances()["items"] == []
    with pytest.raises(ClientError) as caught:
        caller_ec2.describe_instance_status(InstanceIds=[instance["InstanceId"]])
    assert caught.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    accounts = {(c.service, c.account) for c in env.region.recorder.calls}
    assert ("drs", CALLER) in accounts and ("drs", DR) in accounts and ("ec2", DR) in accounts


def test_expired_role_credentials_are_refused_by_every_service(env: Env) -> None:
    creds = env.assume(DurationSeconds=900)["Credentials"]
    drs, ec2 = env.clients(creds)
    sts = env.sts(creds)
    env.clock.advance(899)
    assert drs.describe_source_servers()["items"]
    env.clock.advance(1)
    with pytest.raises(ClientError) as drs_error:
        drs.describe_source_servers()
    assert _code(drs_error) == (
        "ExpiredTokenException",
        403,
        "The security token included in the request is expired",
    )
    with pytest.raises(ClientError) as ec2_error:
        ec2.describe_instance_status()
    assert _code(ec2_error) == ("RequestExpired", 400, "Request has expired.")
    with pytest.raises(ClientError) as sts_error:
        sts.get_caller_identity()
    assert _code(sts_error) == (
        "ExpiredToken",
        403,
        "The security token included in the request is expired",
    )
    refused = env.region.recorder.select(outcome="error")[-3:]
    assert [(c.account, c.processed) for c in refused] == [(DR, False)] * 3
    fresh = env.assume()["Credentials"]  # the caller's own credentials never expire
    assert env.clients(fresh)[0].describe_source_servers()["items"]


def test_unknown_keys_and_forged_tokens_are_refused(env: Env) -> None:
    creds = dict(env.assume()["Credentials"])
    creds["SessionToken"] = "forged"
    drs, ec2 = env.clients(creds)
    with pytest.raises(ClientError) as drs_error:
        drs.describe_jobs()
    assert _code(drs_error) == (
        "UnrecognizedClientException",
        403,
        "The security token included in the request is invalid.",
    )
    with pytest.raises(ClientError) as ec2_error:
        ec2.describe_instances()
    assert _code(ec2_error) == (
        "AuthFailure",
        401,
        "AWS was not able to validate the provided access credentials",
    )
    with pytest.raises(ClientError) as sts_error:
        env.sts(creds).get_caller_identity()
    assert _code(sts_error) == (
        "InvalidClientTokenId",
        403,
        "The security token included in the request is invalid.",
    )
    assert [c.account for c in env.region.recorder.calls[-3:]] == [None] * 3


def test_when_the_caller_account_lists_keys_other_keys_are_unknown() -> None:
    text = SCENARIO.replace(
        f'  - id: "{CALLER}"\n',
        f'  - id: "{CALLER}"\n    access_keys: [{{id: AKIACALLER0000000001, user: ops}}]\n',
    )
    region = _region(text)
    drs, ec2 = clients(region)  # the shared placeholder key AKIASIMULATOR0000000
    with pytest.raises(ClientError) as caught:
        drs.describe_source_servers()
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as refused:
        ec2.describe_instances()
    assert refused.value.response["Error"]["Code"] == "AuthFailure"
    with pytest.raises(ClientError) as denied:
        sts_client(region).get_caller_identity()
    assert denied.value.response["Error"]["Code"] == "InvalidClientTokenId"
    me = sts_client(region, credentials=("AKIACALLER0000000001", "x")).get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{CALLER}:user/ops"


def test_credentials_refreshed_on_the_virtual_clock_last_a_five_hour_drill() -> None:
    """botocore's refreshable credentials, with the refresh decided on the simulated clock,
    keep a DRS client working across five hours of one-hour credentials."""
    import boto3
    import botocore.session

    region = _region()
    clock = region.clock
    assert isinstance(clock, VirtualClock)
    sts = sts_client(region)

    def refresh() -> dict[str, Any]:
        creds = sts.assume_role(
            RoleArn=ROLE, RoleSessionName="drsorch-e1", ExternalId="dr-2026", DurationSeconds=3600
        )["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials = DeferredRefreshableCredentials(
        refresh, "assume-role", time_fetcher=lambda: datetime.fromtimestamp(clock.now(), UTC)
    )
    core = botocore.session.Session()
    core._credentials = credentials  # the wiring pattern of ../shared/docs/aws-facts.md §10
    session = boto3.Session(botocore_session=core, region_name="us-east-1")
    attach(session, region)
    drs = session.client("drs", config=sts.meta.config)
    for _ in range(5 * 12):  # a poll every 5 minutes for 5 hours
        assert len(drs.describe_source_servers()["items"]) == 2
        clock.advance(300)
    calls = region.recorder
    assert calls.count(service="drs", outcome="error") == 0
    assert 5 <= calls.count("AssumeRole", outcome="ok") <= 7  # about one an hour


# --- faults on STS ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        ("throttle", "Throttling", 400),
        ("internal_error", "InternalFailure", 500),
        ("expired_credentials", "ExpiredToken", 403),
        ("access_denied", "AccessDenied", 403),
    ],
)
def test_sts_faults_are_sts_errors(env: Env, kind: str, code: str, status: int) -> None:
    fault = env.region.faults.add(Fault(kind=kind, service="sts", operation="AssumeRole"))  # type: ignore[arg-type]
    with pytest.raises(ClientError) as caught:
        env.assume()
    got_code, got_status, message = _code(caught)
    assert (got_code, got_status) == (code, status)
    if kind == "access_denied":
        assert message == DENIED
    assert env.sts().get_caller_identity()["Account"] == CALLER  # other operations: fine
    env.region.faults.remove(fault)
    assert env.assume()["Credentials"]
    (faulty, ok) = env.region.recorder.select("AssumeRole")
    assert (faulty.outcome, faulty.fault, faulty.error_code) == ("fault", kind, code)
    assert (ok.outcome, ok.account) == ("ok", CALLER)


def test_an_sts_answer_lost_after_the_fact_still_issued_credentials(env: Env) -> None:
    env.region.faults.add(Fault(kind="connection_reset", service="sts", phase="after", nth=1))
    with pytest.raises(ConnectionClosedError):
        env.assume()
    assert len(env.region.directory.issued) == 1
    (call,) = env.region.recorder.select("AssumeRole")
    assert (call.outcome, call.processed) == ("fault", True)


def test_faults_can_target_one_account(env: Env) -> None:
    env.region.faults.add(Fault(kind="throttle", service="drs", account=DR))
    caller_drs, _ = env.clients()
    assert caller_drs.describe_source_servers()["items"] == []
    drs, _ = env.clients(env.assume()["Credentials"])
    with pytest.raises(ClientError) as caught:
        drs.describe_source_servers()
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"


def test_model_faults_can_target_one_account() -> None:
    region = _region()
    region.add_source_servers([SERVERS[0]], account_id=OTHER)
    region.faults.add(Fault(kind="launch_failure", account=DR, raw_error="DR only"))
    dr_job = region.model.start_recovery([SERVERS[0]], True, {})
    other_job = region.account(OTHER).start_recovery([SERVERS[0]], True, {})
    region.run_until_idle()
    assert dr_job.participants[SERVERS[0]].launch_status == "FAILED"
    assert other_job.participants[SERVERS[0]].launch_status == "LAUNCHED"


# --- without accounts: as before ----------------------------------------------------------


def test_a_scenario_without_accounts_accepts_any_credentials_in_one_account() -> None:
    region = SimRegion(clock=VirtualClock(start=START), scenario=Scenario(generate_servers=2))
    for creds in (None, ("AKIAANYTHING0000001", "x"), ("ASIANOTISSUED000001", "x", "t")):
        drs, ec2 = clients(region, credentials=creds)
        assert len(drs.describe_source_servers()["items"]) == 2
        assert ec2.describe_instances()["Reservations"] == []
        me = sts_client(region, credentials=creds).get_caller_identity()
        assert (me["Account"], me["Arn"]) == (
            "123456789012",
            "arn:aws:iam::123456789012:user/simulator",
        )
    with pytest.raises(ClientError) as caught:
        sts_client(region).assume_role(RoleArn=ROLE, RoleSessionName="s1")
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert {c.account for c in region.recorder.calls} == {"123456789012"}


def test_an_unknown_sts_action_is_invalid_action(env: Env) -> None:
    with pytest.raises(ClientError) as caught:
        env.sts().get_session_token()
    code, status, message = _code(caught)
    assert (code, status) == ("InvalidAction", 400)
    assert message.startswith("Could not find operation GetSessionToken for version 2011-06-15")


# --- the AWS CLI against `drsorch sim serve` and the example scenario ----------------------


@pytest.mark.slow
def test_the_aws_cli_assumes_the_example_role_through_sim_serve(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    scenario = ROOT / "examples" / "scenarios" / "cross-account.yaml"
    cmd = [str(bin_dir / "drsorch"), "sim", "serve", "--port", "0", "--scenario", str(scenario)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert match, line + (proc.stderr.read() if proc.stderr else "")
    url = match.group(0)
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="AKIAEXAMPLECALLER01",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )

    def aws(*args: str, **extra: str) -> Any:
        out = subprocess.run(
            [str(bin_dir / "aws"), *args, "--endpoint-url", url, "--output", "json"],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(out.stdout)

    try:
        assert aws("sts", "get-caller-identity")["Account"] == CALLER
        assert aws("drs", "describe-source-servers")["items"] == []
        creds = aws(
            "sts",
            "assume-role",
            "--role-arn",
            ROLE,
            "--role-session-name",
            "drill",
            "--external-id",
            "dr-2026",
        )["Credentials"]
        role_env = {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }
        assert len(aws("drs", "describe-source-servers", **role_env)["items"]) == 6
        me = aws("sts", "get-caller-identity", **role_env)
        assert me["Arn"] == f"arn:aws:sts::{DR}:assumed-role/DrsOrchestratorRole/drill"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
