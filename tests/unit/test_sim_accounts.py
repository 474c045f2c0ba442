"""Accounts, access keys and roles of a scenario, and the simulator's STS directory
(issue 8, point 2): validation that names the file and the field, who signs as whom,
and AssumeRole's checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drsorch.errors import ScenarioError
from drsorch.sim import Fault, Scenario, SimRegion
from drsorch.sim import accounts as accounts_module
from drsorch.sim.accounts import DEFAULT_ACCOUNT, AuthProblem, Directory, Identity
from drsorch.sim.errors import SimApiError
from drsorch.sim.faults import FaultBook
from drsorch.sim.scenario import MAX_ACCOUNTS, MAX_KEYS, MAX_ROLES, MAX_TRUSTED

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "cross-account.yaml"
CALLER, DR, OTHER = "111111111111", "222222222222", "333333333333"
ROLE = f"arn:aws:iam::{DR}:role/DrsOrchestratorRole"
CROSS = f"""\
accounts:
  - id: "{CALLER}"
  - id: "{DR}"
    access_keys: [{{id: AKIADRADMIN000000001, user: dr-admin}}]
  - id: "{OTHER}"
    access_keys: [{{id: AKIAOTHER00000000001}}]
roles:
  - arn: {ROLE}
    trust: {{accounts: ["{CALLER}"], external_id: dr-2026}}
    max_session_seconds: 7200
  - arn: arn:aws:iam::{DR}:role/ops/NoExternalId
    trust: {{accounts: ["{CALLER}", "{DR}"]}}
servers_account: "{DR}"
"""


def load(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return Scenario.from_file(path)


def rejected(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "scenario.yaml") + ": "), message
    assert "\n" not in message
    return message


# --- the scenario format ------------------------------------------------------------------


def test_the_example_declares_a_caller_a_dr_account_and_a_role() -> None:
    scenario = Scenario.from_file(EXAMPLE)
    assert [a.id for a in scenario.accounts] == [CALLER, DR]
    assert scenario.servers_account == DR
    (role,) = scenario.roles
    assert (role.arn, role.account_id, role.name) == (ROLE, DR, "DrsOrchestratorRole")
    assert role.trust.external_id == "dr-2026" and role.max_session_seconds == 3600
    region = SimRegion(scenario=scenario)
    assert region.account_id == DR and region.account_ids == [CALLER, DR]
    assert len(region.model.servers) == 6 and not region.account(CALLER).servers


def test_a_role_path_is_not_part_of_its_name(tmp_path: Path) -> None:
    scenario = load(tmp_path, CROSS)
    assert scenario.roles[1].name == "NoExternalId"
    assert scenario.roles[1].max_session_seconds == 3600  # IAM's default


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('accounts: [{id: "12345"}]\n', "accounts.0.id", "12 digits"),
        ("accounts: [{id: 111111111111}]\n", "accounts.0.id", "in quotes"),
        ("accounts: [{id: 11111111111111}]\n", "accounts.0.id", "12 digits"),
        ('accounts: [{id: "111111111111", bogus: 1}]\n', "accounts.0.bogus", ""),
        (
            'accounts: [{id: "111111111111"}, {id: "111111111111"}]\n',
            "accounts.1.id",
            "declared twice",
        ),
        (
            'accounts: [{id: "111111111111", access_keys: [{id: "akia-lower-case-1"}]}]\n',
            "accounts.0.access_keys.0.id",
            "not an access key id",
        ),
        (
            'accounts: [{id: "111111111111", access_keys: [{id: ASIAISSUEDBYSTS00001}]}]\n',
            "accounts.0.access_keys.0.id",
            "STS issues",
        ),
        (
            'accounts: [{id: "111111111111", access_keys: [{id: AKIA0000000000000001}]},\n'
            '           {id: "222222222222", access_keys: [{id: AKIA0000000000000001}]}]\n',
            "accounts.1.access_keys.0.id",
            "listed twice",
        ),
        (
            'accounts: [{id: "111111111111", access_keys: '
            '[{id: AKIA0000000000000001, user: "no spaces"}]}]\n',
            "accounts.0.access_keys.0.user",
            "IAM user name",
        ),
        (
            f"roles: [{{arn: {ROLE}, trust: {{accounts: ['{CALLER}']}}}}]\n",
            "roles",
            "need accounts",
        ),
        (f'servers_account: "{DR}"\n', "servers_account", "needs accounts"),
        (
            f'accounts: [{{id: "{CALLER}"}}]\nservers_account: "{DR}"\n',
            "servers_account",
            "not declared",
        ),
        (
            f'accounts: [{{id: "{CALLER}"}}]\n'
            f"roles: [{{arn: {ROLE}, trust: {{accounts: ['{CALLER}']}}}}]\n",
            "roles.0.arn",
            f"account {DR} is not declared",
        ),
        (
            f'accounts: [{{id: "{DR}"}}]\n'
            f"roles: [{{arn: {ROLE}, trust: {{accounts: ['{CALLER}']}}}}]\n",
            "roles.0.trust.accounts.0",
            f"account {CALLER} is not declared",
        ),
        (
            f'accounts: [{{id: "{DR}"}}]\n'
            f"roles: [{{arn: {ROLE}, trust: {{accounts: ['{DR}']}}}},\n"
            f"        {{arn: {ROLE}, trust: {{accounts: ['{DR}']}}}}]\n",
            "roles.1.arn",
            "declared twice",
        ),
        (
            f'accounts: [{{id: "{DR}"}}]\n'
            f"roles: [{{arn: 'arn:aws:iam::{DR}:user/bob', trust: {{accounts: ['{DR}']}}}}]\n",
            "roles.0.arn",
            "not an IAM role ARN",
        ),
        (
            f'accounts: [{{id: "{DR}"}}]\nroles: [{{arn: {ROLE}, trust: {{accounts: []}}}}]\n',
            "roles.0.trust.accounts",
            "at least 1",
        ),
        (
            f'accounts: [{{id: "{DR}"}}]\n'
            f"roles: [{{arn: {ROLE}, trust: {{accounts: ['{DR}'], external_id: 'a b'}}}}]\n",
            "roles.0.trust.external_id",
            "ExternalId",
        ),
        (
            f'accounts: [{{id: "{DR}"}}]\n'
            f"roles: [{{arn: {ROLE}, trust: {{accounts: ['{DR}']}}, max_session_seconds: 900}}]\n",
            "roles.0.max_session_seconds",
            "3600",
        ),
        (
            f'accounts: [{{id: "{DR}"}}]\n'
            f"roles: [{{arn: {ROLE}, trust: {{accounts: ['{DR}']}}, "
            "max_session_seconds: 50000}]\n",
            "roles.0.max_session_seconds",
            "43200",
        ),
        ("faults: [{kind: throttle, service: sts, account: 111111111111}]\n", "faults.0", ""),
        ("faults: [{kind: throttle, service: iam}]\n", "faults.0.service", ""),
    ],
)
def test_a_bad_account_or_role_names_its_field(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    message = rejected(tmp_path, text)
    assert f": {field}" in message, message
    assert words in message, message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "accounts: [" + ", ".join(['{id: "111111111111"}'] * (MAX_ACCOUNTS + 1)) + "]\n",
            "accounts",
        ),
        (
            'accounts: [{id: "111111111111", access_keys: ['
            + ", ".join([f"{{id: AKIA{i:016d}}}" for i in range(MAX_KEYS + 1)])
            + "]}]\n",
            "accounts.0.access_keys",
        ),
        (
            f'accounts: [{{id: "{DR}"}}]\nroles: ['
            + ", ".join([f"{{arn: {ROLE}, trust: {{accounts: ['{DR}']}}}}"] * (MAX_ROLES + 1))
            + "]\n",
            "roles",
        ),
        (
            f'accounts: [{{id: "{DR}"}}]\nroles: [{{arn: {ROLE}, trust: {{accounts: ['
            + ", ".join([f"'{DR}'"] * (MAX_TRUSTED + 1))
            + "]}}]\n",
            "roles.0.trust.accounts",
        ),
    ],
    ids=["accounts", "keys", "roles", "trusted"],
)
def test_sizes_are_bounded(tmp_path: Path, text: str, field: str) -> None:
    assert f": {field}: " in rejected(tmp_path, text)


def test_an_account_fault_targets_one_account() -> None:
    fault = Fault(kind="throttle", service="sts", account=DR)
    book = FaultBook(faults=[fault])
    assert book.for_request("sts", "AssumeRole", {}, 0.0, "before", CALLER) is None
    assert book.for_request("sts", "AssumeRole", {}, 0.0, "before", None) is None
    assert book.for_request("sts", "AssumeRole", {}, 0.0, "before", DR) is fault


# --- the region's accounts ----------------------------------------------------------------


def test_without_accounts_there_is_one_account_that_accepts_any_key() -> None:
    region = SimRegion()
    assert region.account_id == DEFAULT_ACCOUNT and region.account_ids == [DEFAULT_ACCOUNT]
    assert SimRegion(account_id=DR).account_ids == [DR]  # as before issue 8
    d = region.directory
    for key in (None, "", "x", "AKIASIMULATOR0000000", "ASIAWHATEVER00000000"):
        identity, problem = d.identify(key, "token", 0.0)
        assert problem is None and identity is not None
        assert identity.account_id == DEFAULT_ACCOUNT
        assert identity.arn == f"arn:aws:iam::{DEFAULT_ACCOUNT}:user/simulator"


def test_account_id_must_be_a_declared_account_and_defaults_to_servers_account(
    tmp_path: Path,
) -> None:
    scenario = load(tmp_path, CROSS)
    assert SimRegion(scenario=scenario).account_id == DR
    assert SimRegion(scenario=scenario, account_id=OTHER).account_id == OTHER
    with pytest.raises(ValueError, match="not one of the scenario's accounts"):
        SimRegion(scenario=scenario, account_id=DEFAULT_ACCOUNT)
    first = load(tmp_path, f'accounts: [{{id: "{CALLER}"}}, {{id: "{DR}"}}]\n')
    assert SimRegion(scenario=first).account_id == CALLER


def test_each_account_has_its_own_servers_and_ids(tmp_path: Path) -> None:
    region = SimRegion(scenario=load(tmp_path, CROSS), seed=3)
    region.add_source_servers(["s-1234567890abcdef0"])
    region.add_source_servers(["s-1234567890abcdef1"], account_id=OTHER)
    assert list(region.model.servers) == ["s-1234567890abcdef0"]
    assert list(region.account(OTHER).servers) == ["s-1234567890abcdef1"]
    assert not region.account(CALLER).servers
    with pytest.raises(KeyError, match="not simulated"):
        region.account("999999999999")
    job_dr = region.model.start_recovery(["s-1234567890abcdef0"], True, {})
    job_other = region.account(OTHER).start_recovery(["s-1234567890abcdef1"], True, {})
    assert job_dr.id != job_other.id
    assert f":{OTHER}:" in job_other.arn and f":{DR}:" in job_dr.arn
    assert region.next_event_time() is not None
    region.run_until_idle()
    assert region.model.jobs[job_dr.id].ended is not None
    assert region.account(OTHER).jobs[job_other.id].ended is not None


# --- the directory ------------------------------------------------------------------------


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    return Directory(load(tmp_path, CROSS), seed=1)


def _caller(d: Directory, key: str | None = "AKIAANYTHING") -> Identity:
    identity, problem = d.identify(key, None, 0.0)
    assert problem is None and identity is not None
    return identity


def test_static_keys_sign_as_their_user_and_other_keys_as_the_first_account(
    directory: Directory,
) -> None:
    admin = _caller(directory, "AKIADRADMIN000000001")
    assert admin.account_id == DR and admin.arn == f"arn:aws:iam::{DR}:user/dr-admin"
    assert admin.user_id.startswith("AIDA") and len(admin.user_id) == 21
    anyone = _caller(directory, "AKIASOMETHINGELSE000")
    assert anyone.account_id == CALLER and anyone.arn.endswith(":user/simulator")
    assert _caller(directory, None).account_id == CALLER  # unsigned, too


def test_when_the_first_account_lists_keys_unknown_keys_are_refused(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        f'accounts: [{{id: "{CALLER}", access_keys: [{{id: AKIACALLER0000000001}}]}},'
        f' {{id: "{DR}"}}]\n',
    )
    d = Directory(scenario)
    assert d.identify("AKIACALLER0000000001", None, 0.0)[0] is not None
    assert d.identify("AKIASOMETHINGELSE000", None, 0.0) == (None, AuthProblem.UNRECOGNIZED)
    assert d.identify(None, None, 0.0) == (None, AuthProblem.UNRECOGNIZED)


def _assume(d: Directory, caller: Identity, now: float = 1000.0, **params: Any) -> Any:
    body = {"RoleArn": ROLE, "RoleSessionName": "drill", "ExternalId": "dr-2026"}
    body.update(params)
    return d.assume_role(caller, {k: v for k, v in body.items() if v is not None}, now)


def test_assume_role_issues_credentials_of_the_role_until_they_expire(
    directory: Directory,
) -> None:
    answer = _assume(directory, _caller(directory), now=1000.4, DurationSeconds=3600)
    creds, user = answer["Credentials"], answer["AssumedRoleUser"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40 and creds["SessionToken"]
    assert creds["Expiration"] == 4600.0  # whole seconds, as STS writes them
    assert user["Arn"] == f"arn:aws:sts::{DR}:assumed-role/DrsOrchestratorRole/drill"
    assert user["AssumedRoleId"].startswith("AROA") and user["AssumedRoleId"].endswith(":drill")
    key, token = creds["AccessKeyId"], creds["SessionToken"]
    identity, problem = directory.identify(key, token, 4599.9)
    assert problem is None and identity is not None
    assert (identity.account_id, identity.arn) == (DR, user["Arn"])
    assert identity.user_id == user["AssumedRoleId"] and identity.assumed
    assert directory.identify(key, token, 4600.0) == (identity, AuthProblem.EXPIRED)
    assert directory.identify(key, token + "x", 10.0) == (None, AuthProblem.UNRECOGNIZED)
    assert directory.identify(key, None, 10.0) == (None, AuthProblem.UNRECOGNIZED)
    assert [c.access_key_id for c in directory.issued] == [key]


def test_issued_keys_replay_with_the_seed(tmp_path: Path) -> None:
    def keys(seed: int) -> list[str]:
        d = Directory(load(tmp_path, CROSS), seed=seed)
        caller = _caller(d)
        return [_assume(d, caller)["Credentials"]["AccessKeyId"] for _ in range(3)]

    assert keys(4) == keys(4)
    assert keys(4) != keys(5)
    assert len(set(keys(4))) == 3


def _refusal(d: Directory, caller: Identity, **params: Any) -> SimApiError:
    with pytest.raises(SimApiError) as caught:
        _assume(d, caller, **params)
    return caught.value


def test_assume_role_refusals_are_worded_as_sts_words_them(directory: Directory) -> None:
    caller = _caller(directory)
    denial = (
        f"User: arn:aws:iam::{CALLER}:user/simulator is not authorized to perform: "
        "sts:AssumeRole on resource: "
    )
    for params, resource in [
        ({"RoleArn": f"arn:aws:iam::{DR}:role/Nope"}, f"arn:aws:iam::{DR}:role/Nope"),
        ({"ExternalId": None}, ROLE),
        ({"ExternalId": "dr-2025"}, ROLE),
    ]:
        exc = _refusal(directory, caller, **params)
        assert (exc.code, exc.status, exc.message) == ("AccessDenied", 403, denial + resource)
    other = _caller(directory, "AKIAOTHER00000000001")  # account 333 is not trusted
    exc = _refusal(directory, other)
    assert exc.code == "AccessDenied" and exc.message.startswith(
        f"User: arn:aws:iam::{OTHER}:user/simulator is not authorized"
    )
    exc = _refusal(directory, caller, DurationSeconds=7201)
    assert (exc.code, exc.status) == ("ValidationError", 400)
    assert exc.message == (
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    )
    assert _assume(directory, caller, DurationSeconds=7200)["Credentials"]["Expiration"] == 8200
    exc = _refusal(directory, caller, RoleArn="arn:aws:iam::222222222222:user/DrsOrchestrator")
    assert (exc.code, exc.message) == (
        "ValidationError",
        "arn:aws:iam::222222222222:user/DrsOrchestrator is invalid",
    )


def test_a_role_without_external_id_takes_any_and_role_chaining_is_capped_at_an_hour(
    directory: Directory,
) -> None:
    plain = f"arn:aws:iam::{DR}:role/ops/NoExternalId"
    caller = _caller(directory)
    answer = _assume(directory, caller, RoleArn=plain, ExternalId="whatever")
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{DR}:assumed-role/NoExternalId/drill"
    creds = _assume(directory, caller)["Credentials"]
    chained, _ = directory.identify(creds["AccessKeyId"], creds["SessionToken"], 1000.0)
    assert chained is not None and chained.account_id == DR
    exc = _refusal(directory, chained, RoleArn=plain, DurationSeconds=3601)
    assert exc.message == (
        "The requested DurationSeconds exceeds the 1 hour session limit "
        "for roles assumed by role chaining."
    )
    again = _assume(directory, chained, RoleArn=plain, DurationSeconds=3600)
    assert again["AssumedRoleUser"]["Arn"].endswith("assumed-role/NoExternalId/drill")


def test_issued_credentials_are_bounded(
    directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts_module, "MAX_ISSUED", 3)
    caller = _caller(directory)
    keys = [_assume(directory, caller)["Credentials"] for _ in range(5)]
    assert [c.access_key_id for c in directory.issued] == [k["AccessKeyId"] for k in keys[2:]]
    forgotten = keys[0]
    assert directory.identify(forgotten["AccessKeyId"], forgotten["SessionToken"], 0.0)[0] == (
        caller  # an unknown key again: the open caller account takes it
    )
