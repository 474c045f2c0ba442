"""The domain view of DRS and EC2 responses, and the parsers that build it.

Adapters hand the engine these frozen dataclasses and nothing else: no boto3 dict, no
botocore type leaks past ``drsorch.aws``. Each ``parse_*`` function checks the fields the
engine relies on and raises :class:`~drsorch.errors.MalformedResponseError` naming the
operation and the field path when the service answers something we cannot read
(seed Property 30), never a bare ``KeyError``/``TypeError``.

Botocore does not check response types for rest-json services: a ``launchStatus`` of 3
comes through as the int 3, so the checks here are the only ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from drsorch.drs_terms import INSTANCE_RUNNING, STATUS_OK
from drsorch.errors import MalformedResponseError

__all__ = [
    "InstanceHealth",
    "JobInfo",
    "JobLogItem",
    "ParticipantInfo",
    "RecoveryInstanceInfo",
    "SourceServerInfo",
    "parse_instance_health",
    "parse_iso_time",
    "parse_job",
    "parse_job_log_item",
    "parse_recovery_instance",
    "parse_source_server",
    "read_items",
    "read_job_field",
]


@dataclass(frozen=True)
class SourceServerInfo:
    """A DRS source server as the preflight needs it."""

    server_id: str
    arn: str | None
    hostname: str | None
    replication_state: str  # dataReplicationInfo.dataReplicationState; "" when DRS omits it
    tags: dict[str, str] = field(default_factory=dict)
    last_launch_job_id: str | None = None


@dataclass(frozen=True)
class ParticipantInfo:
    """One server's part in a DRS job."""

    server_id: str
    launch_status: str  # PENDING / IN_PROGRESS / LAUNCHED / FAILED / TERMINATED; "" if absent
    recovery_instance_id: str | None


@dataclass(frozen=True)
class JobInfo:
    """A DRS job. ``status`` is PENDING / STARTED / COMPLETED (or any other string DRS sends)."""

    job_id: str
    status: str
    type: str | None = None
    initiated_by: str | None = None
    created: float | None = None  # epoch seconds
    ended: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    participants: tuple[ParticipantInfo, ...] = ()

    def participant(self, server_id: str) -> ParticipantInfo | None:
        """This server's entry in the job, if it takes part."""
        for p in self.participants:
            if p.server_id == server_id:
                return p
        return None


@dataclass(frozen=True)
class JobLogItem:
    """One DescribeJobLogItems entry."""

    time: float | None
    event: str
    server_id: str | None
    raw_error: str | None
    target_instance_id: str | None


@dataclass(frozen=True)
class RecoveryInstanceInfo:
    """A DRS recovery instance: the bridge from a job to the EC2 instance to health-check."""

    recovery_instance_id: str
    ec2_instance_id: str | None
    source_server_id: str | None
    job_id: str | None
    ec2_state: str | None  # PENDING / RUNNING / ... / NOT_FOUND, as DRS spells it
    is_drill: bool | None


@dataclass(frozen=True)
class InstanceHealth:
    """EC2's view of an instance: state name plus the two status checks."""

    instance_id: str
    state: str  # pending / running / shutting-down / terminated / stopping / stopped / not-found
    instance_status: str | None = None  # ok / impaired / insufficient-data / initializing / ...
    system_status: str | None = None

    @property
    def status_ok(self) -> bool:
        """Running with both status checks ``ok``."""
        return (
            self.state == INSTANCE_RUNNING
            and self.instance_status == STATUS_OK
            and self.system_status == STATUS_OK
        )


# --- field readers -------------------------------------------------------------------------


class _Reader:
    """Reads typed fields of one response object, naming the path in every complaint."""

    def __init__(self, operation: str, obj: object, path: str) -> None:
        self.operation = operation
        self.path = path
        if not isinstance(obj, Mapping):
            self.fail(path, f"expected an object, got {_kind(obj)}")
        self.obj: Mapping[str, Any] = obj

    def fail(self, path: str, problem: str) -> NoReturn:
        raise MalformedResponseError(
            f"{self.operation}: malformed response: {path}: {problem}",
            operation=self.operation,
        )

    def _at(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def req_str(self, name: str) -> str:
        value = self.obj.get(name)
        if value is None:
            self.fail(self._at(name), "required field is missing")
        if not isinstance(value, str) or not value:
            self.fail(self._at(name), f"expected a non-empty string, got {_kind(value)}")
        return value

    def opt_str(self, name: str) -> str | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(self._at(name), f"expected a string, got {_kind(value)}")
        return value

    def opt_bool(self, name: str) -> bool | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.fail(self._at(name), f"expected a boolean, got {_kind(value)}")
        return value

    def opt_time(self, name: str) -> float | None:
        value = self.opt_str(name)
        if value is None or value == "":
            return None
        try:
            return parse_iso_time(value)
        except ValueError:
            self.fail(self._at(name), f"not an ISO-8601 date-time: {value[:40]!r}")

    def opt_list(self, name: str) -> list[Any]:
        value = self.obj.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(self._at(name), f"expected a list, got {_kind(value)}")
        return value

    def sub(self, name: str) -> _Reader | None:
        value = self.obj.get(name)
        if value is None:
            return None
        return _Reader(self.operation, value, self._at(name))

    def tags(self, name: str = "tags") -> dict[str, str]:
        value = self.obj.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(self._at(name), f"expected a string map, got {_kind(value)}")
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str):
                self.fail(self._at(name), f"expected a string map, got {k!r}: {_kind(v)}")
            out[k] = v
        return out


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def parse_iso_time(text: str) -> float:
    """Epoch seconds of a DRS ISO-8601 date-time (``...Z`` or ``...+00:00``; naive = UTC)."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_iso_time(epoch: float) -> str:
    """The ``YYYY-MM-DDTHH:MM:SSZ`` form DRS date filters accept."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- parsers -------------------------------------------------------------------------------


def parse_job(obj: object, *, operation: str, path: str = "job") -> JobInfo:
    """A DRS ``Job`` structure."""
    r = _Reader(operation, obj, path)
    participants = []
    for i, item in enumerate(r.opt_list("participatingServers")):
        participants.append(_participant(item) or _checked_participant(operation, item, path, i))
    return JobInfo(
        job_id=r.req_str("jobID"),
        status=r.opt_str("status") or "",
        type=r.opt_str("type"),
        initiated_by=r.opt_str("initiatedBy"),
        created=r.opt_time("creationDateTime"),
        ended=r.opt_time("endDateTime"),
        tags=r.tags(),
        participants=tuple(participants),
    )


def _participant(item: object) -> ParticipantInfo | None:
    """A well-formed ``ParticipatingServer``, read at once (a job of 100 servers is polled
    every 30 s); None when anything is off, for :func:`_checked_participant` to name."""
    if type(item) is not dict:
        return None
    sid, launch, instance = (
        item.get("sourceServerID"),
        item.get("launchStatus"),
        item.get("recoveryInstanceID"),
    )
    if (
        type(sid) is not str
        or not sid
        or (launch is not None and type(launch) is not str)
        or (instance is not None and type(instance) is not str)
    ):
        return None
    return ParticipantInfo(sid, launch or "", instance or None)


def _checked_participant(operation: str, item: object, path: str, i: int) -> ParticipantInfo:
    """A ``ParticipatingServer`` read field by field, each complaint naming its path."""
    p = _Reader(operation, item, f"{path}.participatingServers[{i}]")
    return ParticipantInfo(
        server_id=p.req_str("sourceServerID"),
        launch_status=p.opt_str("launchStatus") or "",
        recovery_instance_id=p.opt_str("recoveryInstanceID") or None,
    )


def parse_source_server(obj: object, *, operation: str, path: str) -> SourceServerInfo:
    """A DRS ``SourceServer`` structure."""
    r = _Reader(operation, obj, path)
    replication = r.sub("dataReplicationInfo")
    props = r.sub("sourceProperties")
    hints = props.sub("identificationHints") if props else None
    life = r.sub("lifeCycle")
    last_launch = life.sub("lastLaunch") if life else None
    initiated = last_launch.sub("initiated") if last_launch else None
    return SourceServerInfo(
        server_id=r.req_str("sourceServerID"),
        arn=r.opt_str("arn"),
        hostname=(hints.opt_str("hostname") or hints.opt_str("fqdn")) if hints else None,
        replication_state=(replication.opt_str("dataReplicationState") if replication else None)
        or "",
        tags=r.tags(),
        last_launch_job_id=initiated.opt_str("jobID") if initiated else None,
    )


def parse_job_log_item(obj: object, *, operation: str, path: str) -> JobLogItem:
    """A DRS ``JobLog`` entry."""
    r = _Reader(operation, obj, path)
    data = r.sub("eventData")
    return JobLogItem(
        time=r.opt_time("logDateTime"),
        event=r.opt_str("event") or "",
        server_id=data.opt_str("sourceServerID") if data else None,
        raw_error=data.opt_str("rawError") if data else None,
        target_instance_id=data.opt_str("targetInstanceID") if data else None,
    )


def parse_recovery_instance(obj: object, *, operation: str, path: str) -> RecoveryInstanceInfo:
    """A DRS ``RecoveryInstance`` structure."""
    r = _Reader(operation, obj, path)
    return RecoveryInstanceInfo(
        recovery_instance_id=r.req_str("recoveryInstanceID"),
        ec2_instance_id=r.opt_str("ec2InstanceID"),
        source_server_id=r.opt_str("sourceServerID"),
        job_id=r.opt_str("jobID"),
        ec2_state=r.opt_str("ec2InstanceState"),
        is_drill=r.opt_bool("isDrill"),
    )


def parse_instance_health(obj: object, *, operation: str, path: str) -> InstanceHealth:
    """An EC2 ``InstanceStatus`` entry."""
    r = _Reader(operation, obj, path)
    state = r.sub("InstanceState")
    inst = r.sub("InstanceStatus")
    system = r.sub("SystemStatus")
    return InstanceHealth(
        instance_id=r.req_str("InstanceId"),
        state=(state.opt_str("Name") if state else None) or "unknown",
        instance_status=inst.opt_str("Status") if inst else None,
        system_status=system.opt_str("Status") if system else None,
    )


def read_items(page: object, *, operation: str, key: str = "items") -> tuple[list[Any], str | None]:
    """The item list and the next-page token of one paginated response."""
    r = _Reader(operation, page, "")
    token_key = "NextToken" if key[:1].isupper() else "nextToken"
    token = r.opt_str(token_key)
    return r.opt_list(key), token or None


def read_job_field(response: object, *, operation: str) -> JobInfo:
    """The ``job`` member of a StartRecovery / TerminateRecoveryInstances response."""
    r = _Reader(operation, response, "")
    job = r.obj.get("job")
    if job is None:
        r.fail("job", "required field is missing")
    return parse_job(job, operation=operation)
