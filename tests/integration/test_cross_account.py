"""Cross-account recovery (issue 8.3; Req 6.1-6.5, Properties 19-22): the engine assumes
the plan's role before any DRS/EC2 call, uses only its credentials, refreshes them on the
injected clock, fails cleanly when the role is refused, keeps secrets out of everything it
writes, and assumes the role again on resume. Run through the simulator's STS, in-process
(``simulated``) and over HTTP (``real_aws`` with ``--endpoint-url``), on the virtual clock."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.utils.plans import make_plan

from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.plan import Plan, parse_plan
from drsorch.runner import Runner
from drsorch.sim import Scenario, SimRegion
from drsorch.sim.server import SimServer
from drsorch.store import MemoryStore
from drsorch.wiring import World, real_aws, simulated

pytestmark = pytest.mark.integration

CALLER, DR = "111111111111", "222222222222"
ROLE = f"arn:aws:iam::{DR}:role/DrsOrchestratorRole"
SECRET = "dr-2026-Very-Secret"


def scenario(servers: list[str], *, max_session: int = 3600, seed: int = 3) -> Scenario:
    return Scenario.model_validate(
        {
            "seed": seed,
            "accounts": [{"id": CALLER}, {"id": DR}],
            "roles": [
                {
                    "arn": ROLE,
                    "trust": {"accounts": [CALLER], "external_id": SECRET},
                    "max_session_seconds": max_session,
                }
            ],
            "servers_account": DR,
            "source_servers": [{"id": sid} for sid in servers],
            "timing": {
                "job_start": {"min": 1, "max": 5},
                "launch": {"min": 60, "max": 180},
                "running": {"min": 10, "max": 30},
                "status_ok": {"min": 10, "max": 30},
                "job_end": {"min": 1, "max": 5},
            },
        }
    )


def cross_account_plan(seed: int, *, external_id: str = SECRET, **kw: Any) -> Plan:
    raw = make_plan(seed, **kw)
    raw["Target"] = {
        "AccountId": DR,
        "Region": "us-east-1",
        "RoleArn": ROLE,
        "ExternalId": external_id,
    }
    return parse_plan(raw)


def run(world: World, plan: Plan, store: Any | None = None) -> Any:
    store = store or MemoryStore()
    runner = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock)
    return runner.run(plan, world.options), store


def calls(region: SimRegion) -> list[Any]:
    return list(region.recorder.calls)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1000), waves=st.integers(1, 3))
def test_every_drs_and_ec2_call_uses_only_the_role(seed: int, waves: int) -> None:
    """P19/P20: the role is assumed (with the ExternalId and a session name that names the
    execution) before any DRS/EC2 call, and every one of them is signed by the target."""
    plan = cross_account_plan(seed, waves=waves, servers_per_wave=2)
    world = simulated(plan, scenario=scenario(plan.all_server_ids()), seed=seed)
    record, _ = run(world, plan)
    assert record.Status == "COMPLETED", record.Errors
    assert (record.SourceAccountId, record.TargetAccountId) == (CALLER, DR)
    seen = calls(world.sim)
    first_assume = next(i for i, c in enumerate(seen) if c.operation == "AssumeRole")
    assert all(c.service == "sts" for c in seen[:first_assume])
    for c in seen:
        if c.service in ("drs", "ec2"):
            assert c.account == DR and c.outcome == "ok", c
    assume = next(c for c in seen if c.operation == "AssumeRole")
    assert assume.params["ExternalId"] == SECRET and assume.params["RoleArn"] == ROLE
    session = assume.params["RoleSessionName"]
    assert session == f"drsorch-{record.ExecutionId}"[:64]
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", session)
    assert assume.params["DurationSeconds"] >= 3600


def test_credentials_are_refreshed_through_a_five_hour_execution() -> None:
    """P21: one-hour credentials, a five-hour execution, no failed call."""
    raw_plan = cross_account_plan(7, waves=6, servers_per_wave=1).to_dict()
    for wave in raw_plan["Waves"][:-1]:
        wave["WaitTimeSeconds"] = 3600
    raw_plan["TimeoutSeconds"] = 86_400
    plan = parse_plan(raw_plan)
    world = simulated(plan, scenario=scenario(plan.all_server_ids()), seed=7)
    record, _ = run(world, plan)
    assert record.Status == "COMPLETED", record.Errors
    assert record.Duration is not None and record.Duration > 5 * 3600
    seen = calls(world.sim)
    assert [c for c in seen if c.outcome != "ok"] == []
    assert sum(c.operation == "AssumeRole" for c in seen) >= 5


def test_a_refused_role_fails_the_execution_before_anything_is_launched() -> None:
    """P22 (Req 6.3): the error names the role and AWS's reason; nothing is launched."""
    plan = cross_account_plan(2, waves=2, servers_per_wave=2, external_id="wrong-external-id")
    world = simulated(plan, scenario=scenario(plan.all_server_ids()), seed=2)
    record, _ = run(world, plan)
    assert record.Status == "FAILED"
    assert any(ROLE in e.Message and "not authorized" in e.Message for e in record.Errors)
    assert not [c for c in calls(world.sim) if c.operation == "StartRecovery"]
    assert all(w.Status in ("SKIPPED", "CANCELLED", "FAILED") for w in record.WaveStatus)


def test_no_secret_reaches_the_record_or_the_saved_state() -> None:
    plan = cross_account_plan(4, waves=2, servers_per_wave=1)
    world = simulated(plan, scenario=scenario(plan.all_server_ids()), seed=4)
    world.options.keep_state = True
    record, store = run(world, plan)
    written = json.dumps(record.to_dict()) + json.dumps(store.get_state(record.ExecutionId))
    assert SECRET not in written
    assert not re.search(r"ASIA[A-Z0-9]{16}|IQoJb3JpZ2lu", written)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A simulated region over HTTP on the virtual clock, and caller credentials for it."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACALLER0000000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    clock = VirtualClock(start=DEFAULT_EPOCH)
    plan = cross_account_plan(5, waves=2, servers_per_wave=2)
    region = SimRegion(clock=clock, scenario=scenario(plan.all_server_ids()), seed=5)
    with SimServer(region).start() as server:
        yield plan, region, server.url, clock


def test_the_whole_aws_path_over_an_endpoint_url_with_a_resume(served: Any) -> None:
    """``--aws --endpoint-url``: STS, DRS and EC2 over HTTP, cross-account; a crash after
    the first launch, then a resume that assumes the role again and launches nothing twice."""
    plan, region, url, clock = served
    world = real_aws(plan, profile=None, region="us-east-1", clock=clock, endpoint_url=url)
    assert (world.options.source_account_id, world.options.target_account_id) == (CALLER, DR)
    store = MemoryStore()

    class Crash(BaseException):
        pass

    real_start = world.drs.start_recovery

    def start_then_die(*args: Any, **kwargs: Any) -> Any:
        real_start(*args, **kwargs)
        raise Crash

    world.drs.start_recovery = start_then_die  # type: ignore[method-assign]
    first = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=clock)
    first._break = lambda state, message: None  # type: ignore[method-assign]
    with pytest.raises(Crash):
        first.run(plan, world.options)
    clock.advance(600)
    again = real_aws(
        plan,
        profile=None,
        region="us-east-1",
        clock=clock,
        endpoint_url=url,
        execution_id=world.options.execution_id,
    )
    again.options.takeover = True
    again.options.external_id = SECRET
    before = region.recorder.count("AssumeRole")
    record = Runner(drs=again.drs, ec2=again.ec2, store=store, clock=clock).resume(again.options)
    assert record.Status == "COMPLETED", record.Errors
    assert region.recorder.count("AssumeRole") > before  # the role was assumed anew
    launched = Counter(
        sid for job in region.jobs if job.type == "LAUNCH" for sid in job.participants
    )
    assert launched == Counter(dict.fromkeys(plan.all_server_ids(), 1))


def test_a_role_that_cannot_be_assumed_is_refused_up_front_when_asked(served: Any) -> None:
    """``resume`` and ``cleanup`` assume the role before touching a recorded execution: a
    mistyped ``--external-id`` is refused (CredentialsError, exit 2) instead of ending the
    execution FAILED with its launches under way unfollowed."""
    from drsorch.errors import CredentialsError
    from drsorch.outcomes import EXIT_BAD_INPUT, exit_code_for_error

    plan, region, url, clock = served
    wrong = cross_account_plan(5, waves=2, servers_per_wave=2, external_id="mistyped")
    before = region.recorder.count("AssumeRole")
    real_aws(wrong, profile=None, region="us-east-1", clock=clock, endpoint_url=url)
    assert region.recorder.count("AssumeRole") == before  # a new run assumes at its first call
    with pytest.raises(
        CredentialsError, match=f"cannot assume {ROLE}, so nothing was changed"
    ) as no:
        real_aws(
            wrong, profile=None, region="us-east-1", clock=clock, endpoint_url=url, assume_now=True
        )
    assert exit_code_for_error(no.value) == EXIT_BAD_INPUT
    assert region.recorder.count("AssumeRole") == before + 1
    world = real_aws(
        plan, profile=None, region="us-east-1", clock=clock, endpoint_url=url, assume_now=True
    )
    assert world.options.target_account_id == DR
