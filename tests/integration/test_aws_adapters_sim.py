"""The adapters against the simulated region, through real boto3 clients.

Same code path as against AWS (design invariant 1): adapters -> boto3 -> the simulator at
the wire, on one virtual clock, so back-off sleeps are asserted exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

sim = pytest.importorskip("drsorch.sim")

from drsorch.aws import (  # noqa: E402
    NOT_FOUND,
    TOKEN_TAG,
    DrsAdapter,
    Ec2Adapter,
    RetryPolicy,
    make_clients,
)
from drsorch.clock import VirtualClock  # noqa: E402
from drsorch.errors import (  # noqa: E402
    CredentialsError,
    NotFoundError,
    RetriesExhaustedError,
)

pytestmark = pytest.mark.integration

try:
    from drsorch.sim import Fault, SimRegion, sim_session
except ImportError as exc:  # pragma: no cover - the simulator's API moved
    pytest.skip(f"drsorch.sim lacks what these tests use: {exc}", allow_module_level=True)


class Env:
    def __init__(self, seed: int = 7, servers: int = 4) -> None:
        self.clock = VirtualClock()
        self.region = SimRegion(clock=self.clock, seed=seed)
        self.ids = self.region.generate_source_servers(servers)
        drs_client, ec2_client = make_clients(sim_session(self.region))
        self.retries: list[tuple[str, int, float]] = []
        policy = RetryPolicy(
            self.clock, on_retry=lambda op, n, delay, _err: self.retries.append((op, n, delay))
        )
        self.drs = DrsAdapter(drs_client, policy)
        self.ec2 = Ec2Adapter(ec2_client, policy)

    def fault(self, **kw: Any) -> None:
        self.region.add_fault(Fault(**kw))

    def launch_jobs(self) -> list[Any]:
        return [j for j in self.region.jobs if getattr(j, "type", "LAUNCH") == "LAUNCH"]


@pytest.fixture
def env() -> Env:
    return Env()


def test_drill_from_preflight_to_healthy_instances(env: Env) -> None:
    servers = env.drs.require_source_servers(env.ids[:2])
    assert all(s.replication_state == "CONTINUOUS" for s in servers.values())

    job = env.drs.start_recovery(env.ids[:2], is_drill=True, tags={"drsorch:execution": "e-1"})
    assert job.initiated_by == "START_DRILL"
    assert job.tags["drsorch:execution"] == "e-1" and TOKEN_TAG in job.tags

    env.region.run_until_idle()
    done = env.drs.describe_jobs([job.job_id])[job.job_id]
    assert done.status == "COMPLETED"
    assert {p.launch_status for p in done.participants} == {"LAUNCHED"}

    rids = [p.recovery_instance_id for p in done.participants if p.recovery_instance_id]
    instances = env.drs.describe_recovery_instances(rids)
    assert {ri.source_server_id for ri in instances.values()} == set(env.ids[:2])
    ec2_ids = [ri.ec2_instance_id for ri in instances.values() if ri.ec2_instance_id]
    health = env.ec2.describe_instance_status([*ec2_ids, "i-0123456789abcdef0"])
    assert all(health[i].status_ok for i in ec2_ids)
    assert health["i-0123456789abcdef0"].state == NOT_FOUND

    events = [item.event for item in env.drs.job_log(job.job_id)]
    assert events[0] == "JOB_START" and "JOB_END" in events
    assert env.clock.sleeps == []


def test_unknown_server_is_named(env: Env) -> None:
    """Req 2.5, against the simulator's notion of an unknown server."""
    unknown = "s-0000000000000dead"
    with pytest.raises(NotFoundError, match=unknown):
        env.drs.require_source_servers([env.ids[0], unknown])
    # Like DRS, the simulator accepts the job and skips the unknown server: the adapter
    # surfaces that server's FAILED launch and the log item naming it.
    job = env.drs.start_recovery([unknown], is_drill=True, tags={})
    env.region.run_until_idle()
    done = env.drs.describe_jobs([job.job_id])[job.job_id]
    participant = done.participant(unknown)
    assert participant is not None and participant.launch_status == "FAILED"
    skipped = [i for i in env.drs.job_log(job.job_id) if i.event == "SERVER_SKIPPED"]
    assert [i.server_id for i in skipped] == [unknown]


def test_lost_start_recovery_answer_adopts_the_one_job(env: Env) -> None:
    """Req 9.3 / Property 28 with the simulator's read_timeout after processing."""
    env.fault(kind="read_timeout", operation="StartRecovery", phase="after", times=1)
    job = env.drs.start_recovery(env.ids[:3], is_drill=False, tags={})
    jobs = env.launch_jobs()
    assert len(jobs) == 1
    assert job.job_id == jobs[0].id
    assert job.initiated_by == "START_RECOVERY"


def test_internal_error_after_processing_adopts_the_job(env: Env) -> None:
    env.fault(kind="internal_error", operation="StartRecovery", phase="after", times=1)
    job = env.drs.start_recovery(env.ids[:1], is_drill=True, tags={})
    assert len(env.launch_jobs()) == 1
    assert env.drs.describe_jobs([job.job_id]).keys() == {job.job_id}


def test_throttling_backs_off_by_retry_after(env: Env) -> None:
    env.fault(kind="throttle", operation="DescribeSourceServers", times=2, retry_after=5)
    env.drs.describe_source_servers(env.ids)
    assert env.clock.sleeps == [5.0, 5.0]  # max(2, 5), max(4, 5)
    assert env.retries == [("DescribeSourceServers", 1, 5.0), ("DescribeSourceServers", 2, 5.0)]


def test_connection_resets_exhaust_after_2_4_8(env: Env) -> None:
    """Property 13 / Req 9.5 end to end."""
    env.fault(kind="connection_reset", operation="DescribeSourceServers")
    with pytest.raises(RetriesExhaustedError) as info:
        env.drs.describe_source_servers(env.ids[:1])
    assert env.clock.sleeps == [2.0, 4.0, 8.0]
    assert "DescribeSourceServers" in str(info.value)
    assert "failed after 4 attempts (3 retries over 14 s)" in str(info.value)


def test_ec2_throttling_is_retried(env: Env) -> None:
    env.drs.start_recovery(env.ids[:1], is_drill=True, tags={})
    env.region.run_until_idle()
    (job,) = env.drs.describe_jobs([j.id for j in env.region.jobs]).values()
    (rid,) = [p.recovery_instance_id for p in job.participants]
    assert rid is not None
    env.fault(kind="throttle", service="ec2", operation="DescribeInstanceStatus", times=1)
    health = env.ec2.describe_instance_status([rid])
    assert health[rid].state == "running"
    assert env.clock.sleeps == [2.0]


def test_expired_credentials_fail_at_once(env: Env) -> None:
    env.fault(kind="expired_credentials", operation="DescribeJobs", times=1)
    with pytest.raises(CredentialsError, match="DescribeJobs"):
        env.drs.describe_jobs(["drsjob-0000000000000dead"])
    assert env.clock.sleeps == []


def test_terminate_drill_instances(env: Env) -> None:
    job = env.drs.start_recovery(env.ids[:2], is_drill=True, tags={})
    env.region.run_until_idle()
    done = env.drs.describe_jobs([job.job_id])[job.job_id]
    rids = [p.recovery_instance_id for p in done.participants if p.recovery_instance_id]
    (term,) = env.drs.terminate_recovery_instances(rids)
    assert term.type == "TERMINATE"
    env.region.run_until_idle()
    assert env.drs.describe_recovery_instances(rids) == {}
