"""Each class of invalid plan is reported with its exact field path and a clear message, and
all of a plan's problems are reported together (issue 2)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.utils.plans import fixture_path, make_plan

from drsorch.errors import PlanError
from drsorch.plan import load_plan, parse_plan, validate_data

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]  # a hang fails, not blocks

A, B, C, D = (f"s-{c * 17}" for c in "abcd")


def wave(n: int, *servers: str, **fields: Any) -> dict[str, Any]:
    return {"WaveNumber": n, "ServerIds": list(servers) or [f"s-{abs(n):017d}"], **fields}


def problems(*waves: dict[str, Any], **top: Any) -> list[str]:
    data = {"PlanId": "p", "PlanName": "test", "Waves": list(waves), **top}
    plan, found = validate_data(data)
    assert (plan is None) == bool(found)
    return found


def only(found: list[str]) -> str:
    assert len(found) == 1, found
    return found[0]


# -- shape: unknown and missing fields -------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (
            {"Owner": "x"},
            "Owner: unknown field (fields here: PlanId, PlanName, Description, ExecutionType, "
            "TimeoutSeconds, RtoTargetSeconds, ApprovalTimeoutSeconds, Target, Notifications, "
            "Defaults, Waves)",
        ),
        (
            {"Target": {"AccountId": "111122223333", "Acount": 1}},
            "Target.Acount: unknown field; did you mean AccountId?",
        ),
        (
            {"Defaults": {"HealthCheck": {"Retries": 3}}},
            "Defaults.HealthCheck.Retries: unknown field "
            "(fields here: Enabled, PollIntervalSeconds, MaxPolls, Require)",
        ),
        (
            {"Notifications": {"Email": "a@b"}},
            "Notifications.Email: unknown field (fields here: SnsTopicArn)",
        ),
        ({"Defaults": {"healthcheck": {}}}, "Defaults.healthcheck: unknown field; did you mean "),
    ],
)
def test_unknown_fields_at_any_depth(where: dict[str, Any], expected: str) -> None:
    assert only(problems(wave(1), **where)).startswith(expected)


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("WaitTime", "WaitTimeSeconds"),
        ("WaitTimeSecond", "WaitTimeSeconds"),
        ("waitTimeSeconds", "WaitTimeSeconds"),
        ("wait_time_seconds", "WaitTimeSeconds"),
        ("Dependency", "Dependencies"),
        ("ServerID", "ServerIds"),
        ("pausebefore", "PauseBefore"),
    ],
)
def test_unknown_field_in_a_wave_names_the_closest_field(key: str, meant: str) -> None:
    """Issue 11.6: a typo is answered with the field at that level it is closest to."""
    assert only(problems(wave(1), wave(2, **{key: 5}))) == (
        f"Waves[1].{key}: unknown field; did you mean {meant}?"
    )


@pytest.mark.parametrize("field", ["PlanId", "PlanName", "Waves"])
def test_missing_required_plan_fields(field: str) -> None:
    data: dict[str, Any] = {"PlanId": "p", "PlanName": "n", "Waves": [wave(1)]}
    del data[field]
    assert validate_data(data)[1] == [f"{field}: required field is missing"]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("WaveNumber", "Waves[1].WaveNumber: required field is missing"),
        # ServerTags may stand in for ServerIds (issue 12): one of the two is required.
        (
            "ServerIds",
            "Waves[1].ServerIds: required field is missing: a wave needs ServerIds, ServerTags "
            "(servers selected by their tags) or both",
        ),
    ],
)
def test_missing_required_wave_fields(field: str, expected: str) -> None:
    w = wave(2)
    del w[field]
    assert expected in problems(wave(1), w)


def test_missing_target_account() -> None:
    found = problems(wave(1), Target={"Region": "us-east-1"})
    assert only(found) == "Target.AccountId: required field is missing"


# -- identifiers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["s-123", "s-" + "a" * 18, "S-" + "a" * 17, "i-" + "a" * 17, "s-" + "a" * 16 + "_", "a" * 19],
)
def test_server_ids_must_be_s_dash_17_alphanumerics(bad: str) -> None:
    assert only(problems(wave(1, A, bad))) == (
        f"Waves[0].ServerIds[1]: {bad!r} is not a DRS source server id "
        "('s-' followed by 17 letters or digits)"
    )


def test_server_id_of_the_wrong_type() -> None:
    assert only(problems(wave(1, A, 42))) == "Waves[0].ServerIds[1]: must be text, not 42"  # type: ignore[arg-type]


@pytest.mark.parametrize("good", ["s-3d75cdc0d9a28a725", "s-ABCDEF0123456789a", "s-" + "0" * 17])
def test_valid_server_ids(good: str) -> None:
    assert problems(wave(1, good)) == []


@pytest.mark.parametrize("plan_id", ["bad plan!", "", "x" * 65, "a/b"])
def test_plan_id_pattern(plan_id: str) -> None:
    assert only(problems(wave(1), PlanId=plan_id)).startswith("PlanId: ")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("AccountId", "12345", "is not an AWS account id (12 digits)"),
        ("AccountId", "11112222333a", "is not an AWS account id"),
        ("AccountId", 1234567890123, "is not an AWS account id"),
        ("Region", "moon-base-1", "is not an AWS region name"),
        ("Region", "US-EAST-1", "is not an AWS region name"),
        ("RoleArn", "arn:aws:iam::role/NoAccount", "is not an IAM role ARN"),
        ("RoleArn", "arn:aws:iam::111122223333:user/bob", "is not an IAM role ARN"),
        ("ExternalId", "x", "is not a valid ExternalId"),
    ],
)
def test_malformed_target_fields(field: str, value: Any, fragment: str) -> None:
    target = {"AccountId": "111122223333", field: value}
    found = only(problems(wave(1), Target=target))
    assert found.startswith(f"Target.{field}: ") and fragment in found


def test_role_in_another_account_than_the_target() -> None:
    target = {"AccountId": "111122223333", "RoleArn": "arn:aws:iam::999988887777:role/Dr"}
    assert only(problems(wave(1), Target=target)) == (
        "Target.RoleArn: the role is in account 999988887777, but Target.AccountId is 111122223333"
    )


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sqs:us-east-1:111122223333:queue",
        "arn:aws:sns:us-east-1:1111:topic",
        "arn:aws:sns:us-east-1:111122223333:",
        "dr-events",
    ],
)
def test_malformed_topic_arn(arn: str) -> None:
    found = only(problems(wave(1), Notifications={"SnsTopicArn": arn}))
    assert found.startswith("Notifications.SnsTopicArn: ") and "is not an SNS topic ARN" in found


def test_valid_target_and_topic_in_other_partitions() -> None:
    target = {
        "AccountId": "111122223333",
        "Region": "us-gov-west-1",
        "RoleArn": "arn:aws-us-gov:iam::111122223333:role/path/Dr",
        "ExternalId": "ext-id",
    }
    topic = {"SnsTopicArn": "arn:aws-us-gov:sns:us-gov-west-1:111122223333:dr.fifo"}
    assert problems(wave(1), Target=target, Notifications=topic) == []


# -- waves and servers ----------------------------------------------------------------------


def test_duplicate_wave_numbers() -> None:
    found = problems(wave(1, A), wave(2, B), wave(1, C))
    assert only(found) == "Waves[2].WaveNumber: wave 1 is already defined at Waves[0]"


def test_a_server_in_two_waves() -> None:
    found = problems(wave(1, A, B), wave(2, C, A))
    assert only(found) == f"Waves[1].ServerIds[1]: {A} is already in wave 1"


def test_a_server_twice_in_one_wave() -> None:
    found = problems(wave(1, A, B, A))
    assert only(found) == f"Waves[0].ServerIds[2]: {A} is already earlier in this wave"


def test_empty_server_list() -> None:
    assert only(problems(wave(1), wave(2, ServerIds=[]))) == "Waves[1].ServerIds: must not be empty"


def test_no_waves() -> None:
    assert problems() == ["Waves: must not be empty"]


@pytest.mark.parametrize("n", [0, -1, 10_001])
def test_wave_number_range(n: int) -> None:
    assert only(problems(wave(n))).startswith("Waves[0].WaveNumber: must be at ")


def test_more_than_100_servers_in_a_parallel_wave_is_valid() -> None:
    servers = [f"s-{i:017x}" for i in range(250)]
    assert problems(wave(1, *servers)) == []


# -- dependencies ---------------------------------------------------------------------------


def test_dependency_on_a_missing_wave() -> None:
    found = problems(wave(1), wave(2), wave(3, Dependencies=[1, 7]))
    assert only(found) == "Waves[2].Dependencies[1]: wave 7 does not exist"


def test_dependency_on_a_missing_wave_by_name() -> None:
    found = problems(wave(1), wave(2, Dependencies=["Wave-9"]))
    assert only(found) == "Waves[1].Dependencies[0]: wave 9 does not exist"


def test_dependency_that_is_not_a_wave_reference() -> None:
    found = problems(wave(1), wave(2, Dependencies=["database"]))
    assert only(found) == (
        "Waves[1].Dependencies[0]: 'database' is not a wave reference (a WaveNumber or 'Wave-N')"
    )


def test_wave_depending_on_itself() -> None:
    found = problems(wave(1), wave(2, Dependencies=[1, "Wave-2"]))
    assert only(found) == "Waves[1].Dependencies[1]: wave 2 depends on itself"


def test_two_wave_cycle_is_named_whole() -> None:
    found = problems(wave(1), wave(2, Dependencies=[3]), wave(3, Dependencies=[2]))
    assert only(found) == "Waves: dependency cycle 2 -> 3 -> 2"


def test_longer_cycle_is_named_whole_starting_at_its_lowest_wave() -> None:
    found = problems(
        wave(1, Dependencies=[]),
        wave(4, Dependencies=[6]),
        wave(5, Dependencies=[4]),
        wave(6, Dependencies=[5]),
    )
    assert only(found) == "Waves: dependency cycle 4 -> 5 -> 6 -> 4"


def test_cycle_through_an_omitted_dependency() -> None:
    # Wave 2 omits Dependencies, so it waits for wave 1; wave 1 waits for wave 2.
    found = problems(wave(1, Dependencies=[2]), wave(2))
    assert only(found) == "Waves: dependency cycle 1 -> 2 -> 1"


def test_every_cycle_of_a_file_is_reported() -> None:
    found = load_plan_problems("invalid/cycle.yaml")
    assert found == [
        "Waves: dependency cycle 2 -> 3 -> 2",
        "Waves: dependency cycle 4 -> 5 -> 6 -> 4",
    ]


# -- execution order ------------------------------------------------------------------------


@pytest.mark.parametrize("order", [[1, 1], [1], [1, 2, 3], [0, 1], [2, 3], []])
def test_execution_order_must_be_a_permutation(order: list[int]) -> None:
    found = problems(wave(1, A, B, ExecutionType="SEQUENTIAL", ExecutionOrder=order))
    assert only(found) == (
        f"Waves[0].ExecutionOrder: {order} is not a permutation of 1..2 "
        "(one 1-based position per server in ServerIds)"
    )


def test_execution_order_on_a_parallel_wave() -> None:
    found = problems(wave(1, A, B, ExecutionOrder=[2, 1]))
    assert only(found) == (
        "Waves[0].ExecutionOrder: only a SEQUENTIAL wave has a launch order (this wave is PARALLEL)"
    )


def test_execution_type_must_be_known() -> None:
    found = only(problems(wave(1, ExecutionType="SERIAL")))
    assert found.startswith("Waves[0].ExecutionType: ") and "SEQUENTIAL" in found


# -- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wait", "message"),
    [(-1, "must be at least 0"), (86_401, "must be at most 86400"), (10**9, "must be at most")],
)
def test_wait_time_range(wait: int, message: str) -> None:
    found = only(problems(wave(1), wave(2, WaitTimeSeconds=wait)))
    assert found.startswith("Waves[1].WaitTimeSeconds: ") and message in found


@pytest.mark.parametrize("wait", [0, 300, 86_400])
def test_wait_time_bounds_are_inclusive(wait: int) -> None:
    assert problems(wave(1, WaitTimeSeconds=wait)) == []


@pytest.mark.parametrize(
    ("timeout", "message"),
    [(0, "must be at least 1"), (-60, "must be at least 1"), (7 * 86_400 + 1, "at most 604800")],
)
def test_timeout_range(timeout: int, message: str) -> None:
    found = only(problems(wave(1), TimeoutSeconds=timeout))
    assert found.startswith("TimeoutSeconds: ") and message in found


def test_fractional_wait_is_rejected() -> None:
    found = only(problems(wave(1, WaitTimeSeconds=1.5)))
    assert found.startswith("Waves[0].WaitTimeSeconds: ") and "integer" in found


@pytest.mark.parametrize(
    ("field", "value"), [("PollIntervalSeconds", 0), ("MaxPolls", 0), ("MaxPolls", 1001)]
)
def test_health_check_ranges(field: str, value: int) -> None:
    found = only(problems(wave(1, HealthCheck={field: value})))
    assert found.startswith(f"Waves[0].HealthCheck.{field}: must be at ")


def test_health_requirement_must_be_known() -> None:
    found = only(problems(wave(1), Defaults={"HealthCheck": {"Require": "HEALTHY"}}))
    assert found.startswith("Defaults.HealthCheck.Require: ") and "STATUS_OK" in found


# -- all at once ----------------------------------------------------------------------------


def load_plan_problems(name: str) -> list[str]:
    with pytest.raises(PlanError) as info:
        load_plan(fixture_path(name))
    return info.value.problems


MANY_PROBLEMS = [
    "PlanId: 'bad plan!' is not a plan id ([A-Za-z0-9_-], 1-64 characters)",
    "TimeoutSeconds: must be at most 604800",
    "Owner: unknown field (fields here: PlanId, PlanName, Description, ExecutionType, "
    "TimeoutSeconds, RtoTargetSeconds, ApprovalTimeoutSeconds, Target, Notifications, "
    "Defaults, Waves)",
    "Target.AccountId: '12345' is not an AWS account id (12 digits)",
    "Target.Region: 'moon-base-1' is not an AWS region name (like us-east-1)",
    "Target.RoleArn: 'arn:aws:iam::role/NoAccount' is not an IAM role ARN "
    "(arn:aws:iam::<account>:role/<name>)",
    "Notifications.SnsTopicArn: 'arn:aws:sqs:us-east-1:111122223333:not-a-topic' is not an "
    "SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)",
    "Waves[0].ServerIds[1]: 's-123' is not a DRS source server id "
    "('s-' followed by 17 letters or digits)",
    "Waves[0].WaitTimeSeconds: must be at least 0",
    "Waves[0].ExecutionOrder: [1, 1] is not a permutation of 1..2 "
    "(one 1-based position per server in ServerIds)",
    "Waves[1].WaitTimeSeconds: must be at most 86400",
    "Waves[1].ServerIds[1]: s-3d75cdc0d9a28a725 is already in wave 1",
    "Waves[1].ExecutionOrder: only a SEQUENTIAL wave has a launch order (this wave is PARALLEL)",
    "Waves[2].Dependencies[1]: wave 7 does not exist",
    "Waves[3].WaveNumber: wave 3 is already defined at Waves[2]",
    "Waves[3].ServerIds: must not be empty",
    "Waves[4].Dependencies[0]: wave 5 depends on itself",
    "Waves[4].HealthCheck.Require: 'HEALTHY' is not accepted: must be one of RUNNING, STATUS_OK",
    "Waves[4].HealthCheck.Retries: unknown field "
    "(fields here: Enabled, PollIntervalSeconds, MaxPolls, Require)",
    "Waves[5].WaveNumber: required field is missing",
    "Waves: dependency cycle 2 -> 3 -> 2",
]


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    found = load_plan_problems("invalid/many-problems.yaml")
    assert sorted(found) == sorted(MANY_PROBLEMS)


def test_plan_error_message_counts_the_problems() -> None:
    with pytest.raises(PlanError, match=r"many-problems\.yaml: 21 problems$"):
        load_plan(fixture_path("invalid/many-problems.yaml"))


def test_parse_plan_raises_with_every_problem() -> None:
    data = {"PlanId": "p", "PlanName": "n", "Waves": [wave(1, A), wave(1, A)]}
    with pytest.raises(PlanError) as info:
        parse_plan(data)
    assert info.value.problems == [
        "Waves[1].WaveNumber: wave 1 is already defined at Waves[0]",
        f"Waves[1].ServerIds[0]: {A} is already in wave 1",
    ]


def test_cross_field_checks_still_run_when_field_types_are_wrong() -> None:
    found = problems(wave(1, A, WaitTimeSeconds="soon"), wave(2, A, Dependencies=[9]))
    assert "Waves[1].Dependencies[0]: wave 9 does not exist" in found
    assert f"Waves[1].ServerIds[0]: {A} is already in wave 1" in found
    assert any(p.startswith("Waves[0].WaitTimeSeconds: ") for p in found)


@pytest.mark.parametrize("waves", ["all", 3, [1, None], {"WaveNumber": 1}])
def test_waves_of_the_wrong_shape_do_not_crash(waves: Any) -> None:
    plan, found = validate_data({"PlanId": "p", "PlanName": "n", "Waves": waves})
    assert plan is None and found and all(p.startswith("Waves") for p in found)


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"WaitTimeSeconds": True}, "Waves[0].WaitTimeSeconds"),
        ({"WaveNumber": True}, "Waves[0].WaveNumber"),
        ({"Dependencies": [False]}, "Waves[0].Dependencies[0]"),
        ({"HealthCheck": {"MaxPolls": True}}, "Waves[0].HealthCheck.MaxPolls"),
    ],
)
def test_yes_and_no_are_not_numbers(fields: dict[str, Any], path: str) -> None:
    w = {"WaveNumber": 1, "ServerIds": [A], **fields}
    found = problems(w)
    assert any(p.startswith(f"{path}: must be a number, not ") for p in found), found


def test_a_cycle_through_a_10000_wave_chain_is_reported_not_a_crash() -> None:
    data = make_plan(3, waves=10_000, servers_per_wave=1)
    data["Waves"][0]["Dependencies"] = [10_000]  # 1 waits for 10000, which waits for ...
    plan, found = validate_data(data)
    assert plan is None
    assert found == ["Waves: dependency cycle " + " -> ".join(map(str, [*range(1, 10_001), 1]))]


def test_snake_case_field_names_are_unknown_in_a_file() -> None:
    """Plan files use the PascalCase names only; a lowercase key is reported (with the name
    meant), never silently accepted."""
    from drsorch.plan import validate_data

    data = {
        "PlanId": "p",
        "PlanName": "p",
        "Waves": [{"WaveNumber": 1, "ServerIds": ["s-3d75cdc0d9a28a725"], "dependencies": []}],
    }
    plan, problems = validate_data(data)
    assert plan is None
    assert problems == ["Waves[0].dependencies: unknown field; did you mean Dependencies?"]
