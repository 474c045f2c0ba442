"""The things a simulated region holds: source servers, jobs, recovery and EC2 instances.

Plain mutable dataclasses owned by :class:`drsorch.sim.model.RegionModel`; the API
handlers read them to build responses. Status values are the strings DRS and EC2 use, and
each lifecycle has a rank so that "statuses only move forward" can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drsorch.sim.faults import Fault
from drsorch.sim.jsonbody import Encoded
from drsorch.sim.timing import Timing

# Job.status order (DRS has no FAILED job status)
JOB_RANK = {"PENDING": 0, "STARTED": 1, "COMPLETED": 2}
# ParticipatingServer.launchStatus order; TERMINATED follows LAUNCHED once DRS terminates it
LAUNCH_RANK = {"PENDING": 0, "IN_PROGRESS": 1, "LAUNCHED": 2, "FAILED": 2, "TERMINATED": 3}
# EC2 instance state order and codes
EC2_RANK = {"pending": 0, "running": 1, "shutting-down": 2, "terminated": 3}
EC2_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48}
# status-check summary order (checks never go back to initializing)
CHECK_RANK = {"initializing": 0, "ok": 1, "impaired": 1}
# EC2 state as DescribeRecoveryInstances spells it
RI_EC2_STATE = {
    "pending": "PENDING",
    "running": "RUNNING",
    "shutting-down": "SHUTTING-DOWN",
    "terminated": "TERMINATED",
}
# replication states DRS cannot launch from (no consistent recovery point)
NOT_LAUNCHABLE = frozenset({"STOPPED", "INITIATING", "INITIAL_SYNC", "DISCONNECTED"})


@dataclass(slots=True)
class SourceServer:
    id: str
    arn: str
    hostname: str
    tags: dict[str, str]
    replication_state: str
    instance_type: str
    timing: Timing
    added_at: float
    launches: int = 0  # launch attempts so far (keys the per-launch random stream)
    active_job: str | None = None  # its active LAUNCH or TERMINATE job (one per server)
    recovery_instance_id: str | None = None
    last_launch_result: str = "NOT_STARTED"  # NOT_STARTED | PENDING | SUCCEEDED | FAILED
    last_launch: dict[str, Any] | None = None  # lifeCycle.lastLaunch


@dataclass(slots=True)
class LogItem:
    time: float
    event: str
    data: dict[str, str]


@dataclass(slots=True)
class Participant:
    server_id: str
    launch_status: str = "PENDING"
    recovery_instance_id: str | None = None
    #: (launch_status, recovery_instance_id, entry, its JSON) of its last rendering
    rendered: tuple[str, str | None, dict[str, Any], str] | None = None


@dataclass(slots=True)
class Job:
    id: str
    arn: str
    type: str  # LAUNCH | TERMINATE
    initiated_by: str  # START_DRILL | START_RECOVERY | TERMINATE_RECOVERY_INSTANCES
    created: float
    tags: dict[str, str]
    participants: dict[str, Participant]
    is_drill: bool = False
    status: str = "PENDING"
    ended: float | None = None
    log: list[LogItem] = field(default_factory=list)
    seq: int = 0  # creation order, to sort jobs created at the same instant
    status_fault: Fault | None = None  # unknown_job_status fault
    terminating: list[str] = field(default_factory=list)  # TERMINATE: recovery instance ids
    version: int = 0  # bumped on every participant change (keys the rendering cache)
    rendered: tuple[int, Encoded] | None = None  # participatingServers cache

    @property
    def active(self) -> bool:
        return self.status != "COMPLETED"


@dataclass(slots=True)
class RecoveryInstance:
    id: str
    arn: str
    ec2_id: str
    source_server_id: str
    job_id: str
    is_drill: bool
    created: float
    point_in_time: float
    tags: dict[str, str]
    terminate_job: str | None = None  # the active TERMINATE job working on it


@dataclass(slots=True)
class Ec2Instance:
    id: str
    image_id: str
    instance_type: str
    launch_time: float
    private_ip: str
    tags: dict[str, str]
    state: str = "pending"
    instance_checks: str = "initializing"  # initializing | ok | impaired (when running)
    system_checks: str = "initializing"
    impaired_since: float | None = None
    terminated_at: float | None = None
    reason: str = ""  # StateTransitionReason
