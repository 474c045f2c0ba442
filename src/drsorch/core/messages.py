"""The core's vocabulary: events it is told (what happened) and commands it gives (what to do).

Both are small frozen dataclasses that convert to and from plain JSON (``to_dict`` /
``message_from_dict``), so an execution's event log can be stored, shipped to a Step
Functions Lambda, and replayed through the core to get the same commands again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from drsorch.core.state_types import InstanceHealth

# -- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Start(Message):
    """Begin the execution (preflight first)."""

    kind: ClassVar[str] = "Start"


@dataclass(frozen=True)
class Tick(Message):
    """Time has passed; check timers."""

    kind: ClassVar[str] = "Tick"


@dataclass(frozen=True)
class ServersDescribed(Message):
    """Preflight answer: replication state per server DRS knows; absent ids are unknown.
    ``hostnames``: what DRS calls each server (its hostname, else its FQDN), for people;
    servers DRS gives neither for are absent (and events logged before it was kept)."""

    kind: ClassVar[str] = "ServersDescribed"
    replication: dict[str, str]
    hostnames: dict[str, str] = field(default_factory=dict)
    #: str(WaveNumber) -> the ids its ServerTags matched, in id order (every wave the
    #: command named, matched or not); empty when the command named no selectors.
    matched: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class LaunchStarted(Message):
    """StartRecovery (or the adoption of its job) succeeded."""

    kind: ClassVar[str] = "LaunchStarted"
    token: str
    job_id: str


@dataclass(frozen=True)
class LaunchFailed(Message):
    """StartRecovery failed for good; ``requeue`` when DRS said to come back later (quota)."""

    kind: ClassVar[str] = "LaunchFailed"
    token: str
    message: str
    requeue: bool = False


@dataclass(frozen=True)
class JobsPolled(Message):
    """DescribeJobs answer. ``jobs[job_id] = {"status": str, "participants": {server_id:
    {"launch_status": str, "recovery_instance_id": str|None}}, "reasons": {server_id: str}}``;
    ``reasons`` carries the job log's failure text for servers whose launch failed."""

    kind: ClassVar[str] = "JobsPolled"
    jobs: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class InstancesResolved(Message):
    """DescribeRecoveryInstances answer: recovery instance id -> EC2 instance id (None: absent)."""

    kind: ClassVar[str] = "InstancesResolved"
    instances: dict[str, str | None]


@dataclass(frozen=True)
class HealthPolled(Message):
    """DescribeInstanceStatus answer: ``{ec2_id: {"state", "instance_status",
    "system_status"}}``; state ``not-found`` when EC2 does not know the instance (yet)."""

    kind: ClassVar[str] = "HealthPolled"
    instances: dict[str, InstanceHealth]


@dataclass(frozen=True)
class ApiFailed(Message):
    """A read call failed after retries; ``fatal`` when retrying cannot help (access, creds)."""

    kind: ClassVar[str] = "ApiFailed"
    operation: str
    message: str
    fatal: bool = False


@dataclass(frozen=True)
class Cancel(Message):
    """Stop: launch nothing new, let started jobs finish, record CANCELLED."""

    kind: ClassVar[str] = "Cancel"
    reason: str = "cancelled by the user"


@dataclass(frozen=True)
class Resume(Message):
    """The engine restarted from a saved state (after a crash): take stock and go on.

    Launches whose StartRecovery may have gone out are sent again only after looking for
    their job by its token (``StartRecovery.adopt_existing``), so nothing launches twice."""

    kind: ClassVar[str] = "Resume"


@dataclass(frozen=True)
class Approve(Message):
    """Release a wave that waits for approval (PauseBefore)."""

    kind: ClassVar[str] = "Approve"
    wave: int
    by: str | None = None  # who approved (``drsorch approve``, the prompt, --approve-all)


# -- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DescribeServers(Message):
    kind: ClassVar[str] = "DescribeServers"
    server_ids: list[str]
    #: str(WaveNumber) -> ServerTags to resolve: every source server is listed (paginated,
    #: no cap) and those carrying all of a wave's tags are returned as matched. Empty: only
    #: ``server_ids`` are described.
    selectors: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class StartRecovery(Message):
    """Launch these servers as one DRS job; ``tags`` find the job again after a lost reply."""

    kind: ClassVar[str] = "StartRecovery"
    token: str
    wave: int
    server_ids: list[str]
    is_drill: bool
    tags: dict[str, str] = field(default_factory=dict)
    #: This launch may already have a job (sent before a crash): look for it first, by
    #: its token among the jobs created since ``since``.
    adopt_existing: bool = False
    since: float | None = None


@dataclass(frozen=True)
class PollJobs(Message):
    """Describe these jobs (one DescribeJobs call) and, for failed servers, read the job log."""

    kind: ClassVar[str] = "PollJobs"
    job_ids: list[str]


@dataclass(frozen=True)
class ResolveInstances(Message):
    kind: ClassVar[str] = "ResolveInstances"
    recovery_instance_ids: list[str]


@dataclass(frozen=True)
class CheckHealth(Message):
    kind: ClassVar[str] = "CheckHealth"
    instance_ids: list[str]


@dataclass(frozen=True)
class AwaitApproval(Message):
    kind: ClassVar[str] = "AwaitApproval"
    wave: int


@dataclass(frozen=True)
class WakeAt(Message):
    kind: ClassVar[str] = "WakeAt"
    time: float


@dataclass(frozen=True)
class Finish(Message):
    kind: ClassVar[str] = "Finish"
    status: str


Event = (
    Start
    | Tick
    | ServersDescribed
    | LaunchStarted
    | LaunchFailed
    | JobsPolled
    | InstancesResolved
    | HealthPolled
    | ApiFailed
    | Cancel
    | Resume
    | Approve
)
Command = (
    DescribeServers
    | StartRecovery
    | PollJobs
    | ResolveInstances
    | CheckHealth
    | AwaitApproval
    | WakeAt
    | Finish
)

_ALL: dict[str, type[Message]] = {cls.kind: cls for cls in Message.__subclasses__()}


def message_from_dict(data: dict[str, Any]) -> Message:
    """Rebuild an event or command from its ``to_dict`` form."""
    cls = _ALL[data["type"]]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
