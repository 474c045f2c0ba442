"""The simulator's direct transport against its wire (issue 12, item 3): the same plans,
seeds and faults through both give the same execution records and the same simulator call
logs, and the same client calls give the same answers and raise the same exceptions.

The direct side runs with ``verify=True``: every successful answer is also encoded as the
wire encodes it and parsed by botocore, and must be identical to the direct one, value and
type (:func:`drsorch.sim.direct.same`), else the call raises ``DirectMismatch``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from tests.integration.test_cross_account import CALLER, DR, ROLE, SECRET, cross_account_plan
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.plan import Plan, load_plan, parse_plan
from drsorch.runner import EngineError, Runner
from drsorch.sim import Fault, Scenario, SimRegion, attach
from drsorch.sim.direct import attach_direct, detach_direct, same
from drsorch.store import MemoryStore
from drsorch.wiring import SimClients, simulated

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WIRE = SimClients()
DIRECT = SimClients(direct=True, verify=True)


@contextmanager
def fixed_uuids() -> Iterator[None]:
    """uuid4 from a counter: execution ids and StartRecovery tokens repeat from run to run."""
    counter = itertools.count(1)
    real = uuid.uuid4
    uuid.uuid4 = lambda: uuid.UUID(int=next(counter), version=4)  # type: ignore[assignment]
    try:
        yield
    finally:
        uuid.uuid4 = real  # type: ignore[assignment]


def run(
    plan: Plan, scenario: Scenario, seed: int, faults: list[Fault], clients: SimClients
) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
    with fixed_uuids():
        world = simulated(
            plan, scenario=scenario, seed=seed, clock=VirtualClock(DEFAULT_EPOCH), clients=clients
        )
        assert world.sim is not None
        for fault in faults:
            world.sim.add_fault(fault)
        runner = Runner(
            drs=world.drs,
            ec2=world.ec2,
            store=MemoryStore(),
            clock=world.clock,
            approve=lambda wave: True,
        )
        try:
            record = runner.run(plan, world.options)
        except EngineError as exc:
            assert exc.record is not None
            record = exc.record
    return record.to_dict(), list(world.sim.recorder.calls), world.sim.summary()


def _tagged_three_tier() -> Plan:
    return parse_plan(
        {
            "PlanId": "tagged",
            "PlanName": "Waves by tag",
            "Waves": [
                {"WaveNumber": 1, "WaveName": "db", "ServerTags": {"Tier": "database"}},
                {"WaveNumber": 2, "WaveName": "app", "ServerTags": {"Tier": "app"}},
                {"WaveNumber": 3, "WaveName": "web", "ServerTags": {"Tier": "web"}},
            ],
        }
    )


def _rough_day() -> Scenario:
    return Scenario.from_file(EXAMPLES / "scenarios" / "rough-day.yaml")


def _cross_account(max_session: int = 3600) -> Scenario:
    from tests.integration.test_cross_account import scenario

    plan = cross_account_plan(5, waves=4, servers_per_wave=3)
    base = scenario(plan.all_server_ids(), max_session=max_session)
    # DRS's default timings: four waves take well over the role's hour, so its credentials
    # are refreshed (AssumeRole again) in the middle of the run.
    return base.model_copy(update={"timing": Scenario().timing})


FAULTS = [
    Fault(kind="throttle", operation="DescribeJobs", nth=3, retry_after=4),
    Fault(kind="endpoint_unreachable", service="ec2", nth=2),
    Fault(kind="throttle", service="ec2", probability=0.2),
    Fault(kind="internal_error", operation="StartRecovery", nth=1),
    Fault(kind="internal_error", operation="StartRecovery", phase="after", nth=2),
    Fault(kind="read_timeout", operation="DescribeRecoveryInstances", nth=1),
    Fault(kind="connection_reset", operation="DescribeJobs", phase="after", nth=5),
    Fault(kind="launch_failure", probability=0.15),
    Fault(kind="impaired", probability=0.1),
    Fault(kind="unknown_job_status", status="SUSPENDED", nth=1),
    Fault(kind="access_denied", operation="DescribeInstanceStatus", nth=7),
]

CASES = {
    "chain-seed-0": (parse_plan(make_plan(0, waves=3, servers_per_wave=4)), Scenario(), 0, []),
    "dag-seed-1": (parse_plan(make_plan(1, waves=4, servers_per_wave=3)), Scenario(), 1, []),
    "faults-seed-2": (parse_plan(make_plan(2, waves=3, servers_per_wave=5)), Scenario(), 2, FAULTS),
    "faults-seed-3": (parse_plan(make_plan(3, waves=2, servers_per_wave=6)), Scenario(), 3, FAULTS),
    "rough-day": (load_plan(EXAMPLES / "three-tier.yaml"), _rough_day(), 2026, []),
    "rough-day-tags": (_tagged_three_tier(), _rough_day(), 7, []),
    "cross-account-refresh": (
        cross_account_plan(5, waves=4, servers_per_wave=3),
        _cross_account(),
        5,
        [Fault(kind="throttle", service="sts", nth=2)],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_whole_plans_run_the_same_through_both_transports(case: str) -> None:
    plan, scenario, seed, faults = CASES[case]
    wire_record, wire_calls, wire_summary = run(plan, scenario, seed, faults, WIRE)
    direct_record, direct_calls, direct_summary = run(plan, scenario, seed, faults, DIRECT)
    assert direct_calls == wire_calls
    assert direct_record == wire_record
    assert direct_summary == wire_summary
    assert same(direct_record, wire_record) is None
    assert len(wire_calls) > 10


def test_the_cases_exercise_what_they_are_for() -> None:
    """The differential above is only as good as what its runs meet."""
    _, calls, _ = run(*CASES["faults-seed-2"][:3], FAULTS, WIRE)
    outcomes = {(c.outcome, c.error_code, c.fault) for c in calls}
    assert ("fault", "ThrottlingException", "throttle") in outcomes
    assert ("fault", "InternalServerException", "internal_error") in outcomes
    assert ("fault", None, "read_timeout") in outcomes
    assert ("fault", None, "endpoint_unreachable") in outcomes
    _, calls, _ = run(*CASES["cross-account-refresh"][:3], [], WIRE)
    assert sum(c.operation == "AssumeRole" for c in calls) >= 2  # refreshed mid-run
    assert {c.account for c in calls if c.service == "drs"} == {DR}
    rough, _, _ = run(*CASES["rough-day"][:3], [], WIRE)
    statuses = {r["Status"] for w in rough["WaveStatus"] for r in w["ServerResults"]}
    assert {"COMPLETED", "FAILED"} <= statuses, statuses


# --- call by call ----------------------------------------------------------------------


def _pair(scenario: Scenario, seed: int = 4) -> tuple[SimRegion, SimRegion]:
    return (
        SimRegion(clock=VirtualClock(DEFAULT_EPOCH), scenario=scenario, seed=seed),
        SimRegion(clock=VirtualClock(DEFAULT_EPOCH), scenario=scenario, seed=seed),
    )


def _clients(region: SimRegion, direct: bool, **credentials: str) -> dict[str, Any]:
    session = boto3.Session(
        aws_access_key_id=credentials.get("key", "AKIASIMULATOR0000000"),
        aws_secret_access_key="secret",
        aws_session_token=credentials.get("token"),
        region_name=region.region_name,
    )
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=1)
    out = {name: session.client(name, config=config) for name in ("drs", "ec2", "sts")}
    for client in out.values():
        if direct:
            attach_direct(client, region, verify=True)
        else:
            attach(client, region)
    return out


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:
        response = getattr(exc, "response", None)
        # each client has its own modeled exception classes: compare what they are called
        kind = f"{type(exc).__module__}.{type(exc).__name__}"
        return "raised", (kind, str(exc), response, getattr(exc, "kwargs", None))


def _differential(scenario: Scenario, script: Any, faults: Iterable[Fault] = ()) -> list[Any]:
    """Run ``script(clients, region, make)`` against two identical regions, one per
    transport (``make(**credentials)``: more clients of the same transport), step by step,
    and compare every step's outcome; returns the wire's outcomes."""
    wire_region, direct_region = _pair(scenario)
    for fault in faults:
        wire_region.add_fault(fault)
        direct_region.add_fault(fault)

    def steps(region: SimRegion, direct: bool) -> Iterator[Any]:
        def make(**credentials: str) -> dict[str, Any]:
            return _clients(region, direct, **credentials)

        return iter(script(make(), region, make))

    wire_steps, direct_steps = steps(wire_region, False), steps(direct_region, True)
    outcomes = []
    for i, (w, d) in enumerate(zip(wire_steps, direct_steps, strict=True)):
        left, right = _outcome(w), _outcome(d)
        assert left[0] == right[0], (i, left, right)
        if left[0] == "ok":
            assert same(right[1], left[1]) is None, (i, same(right[1], left[1]))
        else:
            assert right[1][:2] == left[1][:2], i
            assert same(right[1][2], left[1][2]) is None, (i, same(right[1][2], left[1][2]))
        outcomes.append(left)
    assert direct_region.recorder.calls == wire_region.recorder.calls
    return outcomes


def test_calls_answer_and_fail_the_same_through_both_transports() -> None:
    def script(c: dict[str, Any], region: SimRegion, make: Any) -> Iterator[Any]:
        drs, ec2, sts = c["drs"], c["ec2"], c["sts"]
        ids = region.source_server_ids
        yield lambda: drs.describe_source_servers()
        yield lambda: drs.describe_source_servers(filters={"sourceServerIDs": ids[:1]})
        yield lambda: drs.start_recovery(sourceServers=[{"sourceServerID": ids[0]}] * 2)
        yield lambda: drs.start_recovery(sourceServers=[{"sourceServerID": "s-bad"}])
        yield lambda: drs.start_recovery(
            sourceServers=[{"sourceServerID": i} for i in ids[:2]], isDrill=True, tags={"k": "v"}
        )
        yield lambda: drs.start_recovery(sourceServers=[{"sourceServerID": ids[0]}])  # 409
        yield lambda: drs.describe_jobs()  # throttled (nth=2)
        yield lambda: drs.describe_jobs(maxResults=1)
        yield lambda: drs.describe_jobs(nextToken="not-a-token")
        yield lambda: region.clock.advance(3600)
        yield lambda: drs.describe_jobs()
        yield lambda: drs.describe_job_log_items(jobID=drs.describe_jobs()["items"][0]["jobID"])
        yield lambda: drs.describe_recovery_instances()
        yield lambda: drs.list_tags_for_resource(resourceArn=region.account().servers[ids[0]].arn)
        yield lambda: drs.tag_resource(
            resourceArn=region.account().servers[ids[0]].arn, tags={"Tier": "db"}
        )
        yield lambda: drs.untag_resource(
            resourceArn=region.account().servers[ids[0]].arn, tagKeys=["Tier", "none"]
        )
        yield lambda: drs.list_tags_for_resource(resourceArn="arn:aws:drs:us-east-1:1:x/y")
        yield lambda: ec2.describe_instance_status(IncludeAllInstances=True)
        yield lambda: ec2.describe_instances()
        yield lambda: ec2.describe_instance_status(InstanceIds=["i-0123456789abcdef0"])
        yield lambda: ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
        )
        yield lambda: ec2.terminate_instances(
            InstanceIds=[r["ec2InstanceID"] for r in drs.describe_recovery_instances()["items"][:1]]
        )
        yield lambda: drs.terminate_recovery_instances(recoveryInstanceIDs=["i-0123456789abcdef0"])
        yield lambda: ec2.describe_instance_status(DryRun=True)
        yield lambda: drs.describe_jobs()  # 500 (internal_error, nth=4)
        yield lambda: drs.describe_recovery_instances()  # connection reset (nth=3)
        yield lambda: drs.describe_recovery_instances()  # answered, then lost (read timeout)
        yield lambda: ec2.describe_instances()  # unreachable
        yield lambda: sts.get_caller_identity()
        yield lambda: sts.assume_role(
            RoleArn="arn:aws:iam::123456789012:role/nobody", RoleSessionName="s1"
        )
        yield lambda: sts.assume_role(RoleArn="not-a-role-arn-at-all", RoleSessionName="bad name")

    faults = [
        Fault(kind="throttle", operation="DescribeJobs", nth=2, retry_after=5),
        Fault(kind="internal_error", operation="DescribeJobs", nth=6),
        Fault(kind="connection_reset", operation="DescribeRecoveryInstances", nth=3),
        Fault(kind="read_timeout", operation="DescribeRecoveryInstances", nth=3, phase="after"),
        Fault(kind="endpoint_unreachable", operation="DescribeInstances", nth=3),
    ]
    outcomes = _differential(Scenario(generate_servers=3), script, faults)
    kinds = [o[1][0].rsplit(".", 1)[1] for o in outcomes if o[0] == "raised"]
    for expected in (
        "ValidationException",
        "ConflictException",
        "ThrottlingException",
        "InternalServerException",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "EndpointConnectionError",
        "ResourceNotFoundException",
        "ClientError",
        "ParamValidationError",
    ):
        assert expected in kinds, (expected, kinds)
    codes = {o[1][2]["Error"]["Code"] for o in outcomes if o[0] == "raised" and o[1][2]}
    assert {"AccessDenied", "ValidationError", "DryRunOperation"} <= codes, codes


def test_accounts_and_expiry_are_told_apart_through_the_direct_transport() -> None:
    scenario = Scenario.model_validate(
        {
            "accounts": [
                {"id": CALLER, "access_keys": [{"id": "AKIAEXAMPLECALLER01", "secret": "x"}]},
                {"id": DR},
            ],
            "roles": [{"arn": ROLE, "trust": {"accounts": [CALLER], "external_id": SECRET}}],
            "servers_account": DR,
            "generate_servers": 2,
        }
    )

    def script(_: dict[str, Any], region: SimRegion, make: Any) -> Iterator[Any]:
        c = make(key="AKIAEXAMPLECALLER01")
        yield lambda: c["sts"].get_caller_identity()
        yield lambda: c["drs"].describe_source_servers()  # the caller's account: no servers
        role = c["sts"].assume_role(RoleArn=ROLE, RoleSessionName="drill", ExternalId=SECRET)
        keys = role["Credentials"]
        as_role = make(key=keys["AccessKeyId"], token=keys["SessionToken"])
        yield lambda: as_role["sts"].get_caller_identity()
        yield lambda: as_role["drs"].describe_source_servers()
        yield lambda: region.clock.advance(7200)
        yield lambda: as_role["drs"].describe_jobs()  # expired
        yield lambda: as_role["ec2"].describe_instances()  # expired
        stranger = make(key="AKIASTRANGER00000000")
        yield lambda: stranger["drs"].describe_jobs()  # unknown key
        yield lambda: stranger["ec2"].describe_instances()
        yield lambda: stranger["sts"].get_caller_identity()

    outcomes = _differential(scenario, script)
    codes = [o[1][2]["Error"]["Code"] for o in outcomes if o[0] == "raised"]
    assert codes == [
        "ExpiredTokenException",
        "RequestExpired",
        "UnrecognizedClientException",
        "AuthFailure",
        "InvalidClientTokenId",
    ]
    assert outcomes[2][1]["Account"] == DR


def test_detach_direct_falls_back_to_the_wire() -> None:
    region = SimRegion(clock=VirtualClock(DEFAULT_EPOCH), scenario=Scenario(generate_servers=1))
    drs = _clients(region, True)["drs"]
    seen: list[str] = []
    drs.meta.events.register("before-send.drs", lambda request, **_: seen.append(request.url))
    drs.describe_jobs()
    assert seen == []  # answered at before-call: nothing was sent
    detach_direct(drs)
    drs.describe_jobs()
    assert len(seen) == 1
    assert len(region.recorder.calls) == 2
