"""Drill clean-up (issue 11.7) on the in-process simulator and a virtual clock: a drill's
recovery instances are terminated through DRS TERMINATE jobs and the record says so; what
could not be terminated is recorded with its reason; a RECOVERY is refused; ``run
--cleanup-after`` does it end to end; and the simulator enforces DRS's rules across job
types (409 between LAUNCH and TERMINATE, TERMINATE jobs counting toward L-05AFA8C6)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.utils.engine import FAST_TIMING, run_plan
from tests.utils.plans import make_plan

from drsorch.cleanup import POLL_SECONDS, clean_up, recovery_instance_ids
from drsorch.cli import main
from drsorch.cli.render import record_json
from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.errors import ConflictError, QuotaExceededError, RefusedError
from drsorch.plan import parse_plan
from drsorch.sim import Quotas, Scenario
from drsorch.store import SqliteStore
from drsorch.wiring import World, simulated

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "three-tier.yaml"


def drill(servers: int = 4):  # type: ignore[no-untyped-def]
    return run_plan(make_plan(3, waves=2, servers_per_wave=servers // 2))


def test_a_drills_instances_are_terminated_and_the_record_says_so() -> None:
    out = drill()
    assert out.record.Status == "COMPLETED"
    ids = recovery_instance_ids(out.record)
    assert len(ids) == 4
    ec2_ids = [s.Ec2InstanceId for w in out.record.WaveStatus for s in w.ServerResults]
    model = out.sim.account()
    assert all(model.instances[i].state == "running" for i in ec2_ids)
    start = out.clock.now()
    logged: list[str] = []

    record = clean_up(out.record, out.world.drs, out.clock, store=out.store, log=logged.append)

    entry = record.Cleanup
    assert entry is not None and entry.Status == "COMPLETED"
    assert entry.Terminated == ids and entry.Failures == [] and entry.AlreadyGone == []
    assert entry.StartTime == start and entry.EndTime > start
    assert len(entry.JobIds) == 1
    # the simulator's view: the recovery instances are gone, the EC2 instances terminated
    assert not set(ids) & set(model.recovery_instances)
    assert all(model.instances[i].state == "terminated" for i in ec2_ids)
    (job,) = [j for j in out.sim.jobs if j.type == "TERMINATE"]
    assert job.id == entry.JobIds[0] and job.status == "COMPLETED"
    # polled every 30 s of the virtual clock until the job ended
    calls = out.calls("TerminateRecoveryInstances")
    assert len(calls) == 1
    polls = [c for c in out.calls("DescribeJobs") if c.time > start]
    assert polls and all(
        b.time - a.time == pytest.approx(POLL_SECONDS) for a, b in itertools.pairwise(polls)
    )
    # saved: the record the store returns has the clean-up; the rest is unchanged
    stored = out.store.get(record.ExecutionId)
    assert stored == record
    assert stored.model_copy(update={"Cleanup": None}) == out.record
    assert any("COMPLETED" in line for line in logged)


def test_a_second_clean_up_keeps_what_the_first_did() -> None:
    """Run again, the clean-up finds nothing left and records nothing less: what the first
    one terminated stays terminated (not "already gone"), with its jobs."""
    out = drill()
    first = clean_up(out.record, out.world.drs, out.clock)
    second = clean_up(first, out.world.drs, out.clock)
    assert first.Cleanup is not None and second.Cleanup is not None
    assert second.Cleanup.Status == "COMPLETED" and second.Cleanup.AlreadyGone == []
    assert second.Cleanup.Terminated == first.Cleanup.Terminated
    assert sorted(second.Cleanup.Terminated) == sorted(recovery_instance_ids(out.record))
    assert second.Cleanup.JobIds == first.Cleanup.JobIds
    assert second.Cleanup.StartTime == first.Cleanup.StartTime
    assert len(out.calls("TerminateRecoveryInstances")) == 1


def test_an_instance_already_being_terminated_is_recorded_as_a_failure() -> None:
    out = drill()
    ids = recovery_instance_ids(out.record)
    out.world.drs.terminate_recovery_instances([ids[0]])  # someone else is terminating it

    record = clean_up(out.record, out.world.drs, out.clock)

    entry = record.Cleanup
    assert entry is not None and entry.Status == "PARTIAL"
    assert entry.Terminated == ids[1:]
    (failure,) = entry.Failures
    assert failure.RecoveryInstanceId == ids[0]
    assert "409" in failure.Message and "already being terminated" in failure.Message
    # the batch was refused, then each instance was tried on its own
    calls = out.calls("TerminateRecoveryInstances")
    assert [c.outcome == "ok" for c in calls] == [True, False, False, True, True, True]


def test_jobs_that_do_not_end_in_time_are_failures() -> None:
    out = drill()
    record = clean_up(out.record, out.world.drs, out.clock, timeout=0)
    entry = record.Cleanup
    assert entry is not None and entry.Status == "FAILED" and entry.Terminated == []
    assert len(entry.Failures) == 4
    assert all("still" in f.Message and entry.JobIds[0] in f.Message for f in entry.Failures)


def test_a_failed_drill_is_cleaned_up_too() -> None:
    plan = make_plan(5, waves=2, servers_per_wave=2)
    failing = plan["Waves"][1]["ServerIds"][0]
    out = run_plan(plan, faults=[{"kind": "launch_failure", "server_id": failing}])
    assert out.record.Status == "FAILED"
    ids = recovery_instance_ids(out.record)
    assert ids  # the servers that did launch
    record = clean_up(out.record, out.world.drs, out.clock)
    assert record.Cleanup is not None and record.Cleanup.Status == "COMPLETED"
    assert record.Cleanup.Terminated == ids
    assert record.Status == "FAILED"  # the drill's own outcome stands


def test_a_recovery_is_refused_and_nothing_is_terminated() -> None:
    out = drill()
    recovery = out.record.model_copy(update={"ExecutionType": "RECOVERY"})
    with pytest.raises(RefusedError, match="RECOVERY"):
        clean_up(recovery, out.world.drs, out.clock, store=out.store)
    assert out.calls("TerminateRecoveryInstances") == []
    stored = out.store.get(out.record.ExecutionId)
    assert stored is not None and stored.Cleanup is None


# -- the simulator's rules across job types ---------------------------------------------------


def world_of(servers: int, **quotas: int) -> tuple[World, VirtualClock, list[str]]:
    plan = parse_plan(make_plan(7, waves=1, servers_per_wave=servers))
    clock = VirtualClock(start=DEFAULT_EPOCH)
    scenario = Scenario(timing=FAST_TIMING, quotas=Quotas(**quotas))
    world = simulated(plan, clock=clock, scenario=scenario)
    return world, clock, plan.all_server_ids()


def launched(world: World, clock: VirtualClock, server_ids: list[str]) -> list[str]:
    """Drill ``server_ids`` to their end; their recovery instance ids."""
    job = world.drs.start_recovery(server_ids, is_drill=True, tags={})
    clock.advance(3600)
    (done,) = world.drs.describe_jobs([job.job_id]).values()
    assert done.status == "COMPLETED"
    ids = [p.recovery_instance_id for p in done.participants]
    assert all(ids)
    return [i for i in ids if i]


def test_sim_refuses_to_terminate_an_instance_whose_server_is_launching() -> None:
    world, clock, servers = world_of(1)
    (ri,) = launched(world, clock, servers)
    world.drs.start_recovery(servers, is_drill=True, tags={})  # a new drill of that server
    with pytest.raises(ConflictError, match="active job"):
        world.drs.terminate_recovery_instances([ri])


def test_sim_refuses_to_launch_a_server_being_terminated() -> None:
    world, clock, servers = world_of(1)
    (ri,) = launched(world, clock, servers)
    world.drs.terminate_recovery_instances([ri])
    with pytest.raises(ConflictError, match="active job"):
        world.drs.start_recovery(servers, is_drill=True, tags={})
    clock.advance(3600)  # the TERMINATE job ended: the server may launch again
    world.drs.start_recovery(servers, is_drill=True, tags={})


def test_sim_counts_terminate_jobs_toward_the_servers_in_active_jobs_quota() -> None:
    world, clock, servers = world_of(3, servers_in_active_jobs=2)
    ris = launched(world, clock, servers[:2])
    world.drs.terminate_recovery_instances(ris)  # 2 servers in an active TERMINATE job
    with pytest.raises(QuotaExceededError, match="L-05AFA8C6"):
        world.drs.start_recovery(servers[2:], is_drill=True, tags={})
    clock.advance(3600)
    world.drs.start_recovery(servers[2:], is_drill=True, tags={})


def test_sim_refuses_a_terminate_beyond_the_servers_in_active_jobs_quota() -> None:
    world, clock, servers = world_of(3, servers_in_active_jobs=2)
    ris = launched(world, clock, servers[:2])
    world.drs.start_recovery(servers[2:], is_drill=True, tags={})  # 1 server launching
    with pytest.raises(QuotaExceededError, match="L-05AFA8C6"):
        world.drs.terminate_recovery_instances(ris)


# -- the command line --------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_run_cleanup_after_terminates_the_drills_instances(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    code, out, err = cli("run", str(EXAMPLE), "--cleanup-after", "--json", "--store", str(db))
    assert code == 0, err
    record = json.loads(out)
    assert record["Status"] == "COMPLETED"
    cleanup = record["Cleanup"]
    assert cleanup["Status"] == "COMPLETED" and len(cleanup["Terminated"]) == 6
    assert cleanup["Failures"] == [] and len(cleanup["JobIds"]) == 1
    assert cleanup["StartTime"] >= record["EndTime"]
    with SqliteStore(db) as store:
        stored = store.get(record["ExecutionId"])
    assert stored is not None and record_json(stored) == record  # the record, ISO times added
    # `show` prints it
    code, shown, _ = cli("show", record["ExecutionId"][:8], "--store", str(db))
    assert code == 0 and "Clean-up" in shown and "6 terminated" in shown


def test_run_cleanup_after_text_output_says_so(tmp_path: Path) -> None:
    code, out, _ = cli("run", str(EXAMPLE), "--cleanup-after", "--store", str(tmp_path / "h.db"))
    assert code == 0
    assert "clean-up COMPLETED: 6 terminated" in out
    assert "Clean-up" in out


def test_run_cleanup_after_on_a_failed_drill(tmp_path: Path) -> None:
    scenario = tmp_path / "fail.yaml"
    scenario.write_text(
        yaml.safe_dump({"faults": [{"kind": "launch_failure", "server_id": "s-1a2b3c4d5e6f7a8b9"}]})
    )
    code, out, _ = cli(
        "run", str(EXAMPLE), "--sim", str(scenario), "--cleanup-after", "--json",
        "--store", str(tmp_path / "h.db"),
    )  # fmt: skip
    assert code == 1
    record = json.loads(out)
    assert record["Status"] == "FAILED"
    launched_ids = [
        s["RecoveryInstanceId"]
        for w in record["WaveStatus"]
        for s in w["ServerResults"]
        if s["RecoveryInstanceId"]
    ]
    assert launched_ids and record["Cleanup"]["Terminated"] == launched_ids


def test_run_without_cleanup_after_leaves_no_cleanup(tmp_path: Path) -> None:
    code, out, _ = cli("run", str(EXAMPLE), "--json", "--store", str(tmp_path / "h.db"))
    assert code == 0 and json.loads(out)["Cleanup"] is None


def test_run_cleanup_after_refuses_a_recovery_plan(tmp_path: Path) -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["ExecutionType"] = "RECOVERY"
    plan = tmp_path / "recovery.yaml"
    plan.write_text(yaml.safe_dump(raw))
    db = tmp_path / "h.db"
    for extra in ([], ["--recovery", "--yes"]):
        code, _, err = cli("run", str(plan), "--cleanup-after", *extra, "--store", str(db))
        assert code == 2
        assert "--cleanup-after" in err and "nothing was launched" in err
    assert not db.exists() or SqliteStore(db).query() == []


def test_cleanup_of_a_simulated_execution_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    code, out, _ = cli("run", str(EXAMPLE), "--json", "--store", str(db))
    execution = json.loads(out)["ExecutionId"]
    code, _, err = cli("cleanup", execution[:8], "--store", str(db))
    assert code == 2
    assert "simulator" in err and "--cleanup-after" in err
    code, _, err = cli("cleanup", "ffffffff", "--store", str(db))
    assert code == 2 and "no execution" in err


def test_cleanup_of_a_recovery_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    out = drill()
    with SqliteStore(db) as store:
        store.put(out.record.model_copy(update={"ExecutionType": "RECOVERY"}))
    code, _, err = cli("cleanup", out.record.ExecutionId, "--aws", "--store", str(db))
    assert code == 2 and "RECOVERY" in err


def aws_like_drill(db: Path) -> tuple[World, str]:
    """A drill recorded as an AWS run (state kept, Environment aws) on a simulated world."""
    from drsorch.runner import Runner

    plan = parse_plan(make_plan(3, waves=2, servers_per_wave=2))
    world = simulated(
        plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=Scenario(timing=FAST_TIMING)
    )
    world.options.environment, world.options.keep_state = "aws", True
    with SqliteStore(db) as store:
        record = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock).run(
            plan, world.options
        )
    assert record.Environment is not None and record.Environment.Kind == "aws"
    return world, record.ExecutionId


def test_cleanup_aws_builds_the_world_from_the_saved_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "h.db"
    world, execution = aws_like_drill(db)
    seen: dict[str, object] = {}

    def fake_real_aws(plan: object, **kw: object) -> World:
        seen.update(kw, plan=plan)
        return world

    monkeypatch.setattr("drsorch.cli.cleanup.real_aws", fake_real_aws)
    code, _, err = cli("cleanup", execution[:8], "--store", str(db))
    assert code == 2 and "pass --aws" in err  # it ran against AWS
    code, out, err = cli(
        "cleanup", execution[:8], "--aws", "--region", "us-east-1", "--store", str(db)
    )
    assert code == 0, err
    assert "clean-up of" in err and "COMPLETED" in err and "4 terminated" in err
    assert seen["region"] == "us-east-1" and seen["execution_id"] == execution
    with SqliteStore(db) as store:
        stored = store.get(execution)
    assert stored is not None and stored.Cleanup is not None
    assert stored.Cleanup.Status == "COMPLETED" and len(stored.Cleanup.Terminated) == 4
    # again: nothing left, still exit 0
    code, out, err = cli("cleanup", execution, "--aws", "--json", "--store", str(db))
    again = json.loads(out)["Cleanup"]
    assert code == 0 and again["AlreadyGone"] == []
    assert again["Terminated"] == stored.Cleanup.Terminated


def test_cleanup_aws_exits_1_when_instances_are_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "h.db"
    world, execution = aws_like_drill(db)
    monkeypatch.setattr("drsorch.cli.cleanup.real_aws", lambda plan, **kw: world)
    code, _, err = cli("cleanup", execution, "--aws", "--timeout", "0", "--store", str(db))
    assert code == 1
    assert "FAILED" in err and "not terminated:" in err


def test_cleanup_aws_refuses_other_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "h.db"
    world, execution = aws_like_drill(db)
    world.options.region = "eu-west-1"
    monkeypatch.setattr("drsorch.cli.cleanup.real_aws", lambda plan, **kw: world)
    code, _, err = cli("cleanup", execution, "--aws", "--store", str(db))
    assert code == 2 and "eu-west-1" in err


def _unfollowed(out: Any) -> tuple[Any, str, str]:
    """The drill's record as an engine stopped during wave 2's first launch leaves it: that
    server has its JobId and no recovery instance. With the instance id and the job id."""
    from drsorch.history import ExecutionRecord

    data = out.record.to_dict()
    server = data["WaveStatus"][1]["ServerResults"][0]
    hidden, job_id = server["RecoveryInstanceId"], server["JobId"]
    server.update(
        Status="FAILED",
        RecoveryInstanceId=None,
        Ec2InstanceId=None,
        LaunchedTime=None,
        HealthyTime=None,
        Error="execution ended while launching",
    )
    data.update(Status="FAILED", FailedServerCount=1)
    data["WaveStatus"][1]["Status"] = "FAILED"
    return ExecutionRecord.model_validate(data), hidden, job_id


def test_a_launch_still_running_is_followed_to_its_end_then_cleaned_up() -> None:
    """At clean-up time the unfollowed LAUNCH job still runs (DRS says STARTED, nothing
    launched yet): it is polled on the clock until it ends, then what it launched is
    terminated."""
    import dataclasses

    out = drill()
    unfollowed, hidden, job_id = _unfollowed(out)
    drs = out.world.drs
    real = drs.describe_jobs
    asked: list[float] = []

    def describe_jobs(job_ids: Any) -> Any:
        found = dict(real(job_ids))
        if job_id in found and len(asked) < 3:  # still launching the first three times
            asked.append(out.clock.now())
            found[job_id] = dataclasses.replace(found[job_id], status="STARTED", participants=())
        return found

    drs.describe_jobs = describe_jobs  # type: ignore[method-assign]
    said: list[str] = []
    record = clean_up(unfollowed, drs, out.clock, log=said.append)

    assert len(asked) == 3 and all(
        b - a == pytest.approx(POLL_SECONDS) for a, b in itertools.pairwise(asked)
    )
    assert any(f"waiting for LAUNCH job(s) {job_id}" in line for line in said), said
    assert record.Cleanup is not None and record.Cleanup.Status == "COMPLETED"
    assert hidden in record.Cleanup.Terminated
    assert hidden not in out.sim.account().recovery_instances


def test_what_a_launch_the_engine_did_not_follow_launched_is_terminated_too() -> None:
    """The engine stopped while a server's LAUNCH job ran: the record has its JobId and no
    recovery instance. The job launched one anyway; the clean-up reads it from the job and
    terminates it, so exit 0 still means nothing is left running."""
    out = drill()
    unfollowed, hidden, _ = _unfollowed(out)
    assert hidden not in recovery_instance_ids(unfollowed)

    record = clean_up(unfollowed, out.world.drs, out.clock)

    assert record.Cleanup is not None and record.Cleanup.Status == "COMPLETED"
    assert sorted(record.Cleanup.Terminated) == sorted(recovery_instance_ids(out.record))
    assert hidden not in out.sim.account().recovery_instances
