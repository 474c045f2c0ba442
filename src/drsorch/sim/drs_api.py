"""The simulated Elastic Disaster Recovery API (issue 3, point 3).

One function per operation: it takes the region model and the request parameters (already
checked against botocore's DRS model by the wire layer) and returns the response body, or
raises :class:`~drsorch.sim.errors.SimApiError`. Bodies use the field names and shapes of
botocore's model; date-times are written as real DRS responses show them
(``2025-11-25T11:26:40.000000+00:00``).

Behaviour chosen where DRS is not documented (see docs/simulator.md):
- StartRecovery with an unknown (well-formed) server id creates the job anyway; that
  server is skipped with a ``SERVER_SKIPPED`` log item and launchStatus ``FAILED``.
- the same server twice in one StartRecovery is a ValidationException.
- a server already in an active job: 409 ConflictException; quotas: 402
  ServiceQuotaExceededException with the quota's code.
- DescribeJobLogItems of an unknown job returns no items.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from drsorch.sim.entities import RI_EC2_STATE, Job, Participant, RecoveryInstance, SourceServer
from drsorch.sim.errors import SimApiError, validation_error
from drsorch.sim.jsonbody import Encoded, strings
from drsorch.sim.model import RegionModel
from drsorch.sim.shapes import iso_drs

T = TypeVar("T")
DEFAULT_PAGE = 1000  # page size when maxResults is absent (and the most one page holds)
GIB = 1024**3

Handler = Callable[[RegionModel, dict[str, Any]], dict[str, Any]]


def page(items: Sequence[T], params: dict[str, Any], kind: str) -> tuple[Sequence[T], str | None]:
    """One page of ``items`` and the token of the next, from maxResults/nextToken."""
    size = min(int(params.get("maxResults") or DEFAULT_PAGE), DEFAULT_PAGE)
    offset = 0
    token = params.get("nextToken")
    if token:
        try:
            tkind, _, raw = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            offset = int(raw)
            if tkind != kind or offset < 0:
                raise ValueError(token)
        except ValueError as exc:
            raise validation_error(
                "Invalid pagination token",
                fields=[{"name": "nextToken", "message": "is not a token this API issued"}],
            ) from exc
    chunk = items[offset : offset + size]
    nxt = offset + size
    if nxt >= len(items):
        return chunk, None
    return chunk, base64.urlsafe_b64encode(f"{kind}:{nxt}".encode()).decode()


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        body["nextToken"] = token
    return body


# --- rendering --------------------------------------------------------------------------


def render_server(m: RegionModel, s: SourceServer) -> dict[str, Any]:
    continuous = s.replication_state == "CONTINUOUS"
    disk = 100 * GIB
    item: dict[str, Any] = {
        "sourceServerID": s.id,
        "arn": s.arn,
        "tags": s.tags,
        "lastLaunchResult": s.last_launch_result,
        "dataReplicationInfo": {
            "dataReplicationState": s.replication_state,
            "lagDuration": "PT0S" if continuous else "PT2H",
            "replicatedDisks": [
                {
                    "deviceName": "/dev/xvda",
                    "totalStorageBytes": disk,
                    "replicatedStorageBytes": disk if continuous else disk // 2,
                    "rescannedStorageBytes": 0,
                    "backloggedStorageBytes": 0 if continuous else disk // 2,
                    "volumeStatus": "REGULAR",
                }
            ],
            "stagingAvailabilityZone": f"{m.region_name}a",
        },
        "lifeCycle": {
            "addedToServiceDateTime": iso_drs(s.added_at - 30 * 86400),
            "firstByteDateTime": iso_drs(s.added_at - 30 * 86400 + 60),
            "elapsedReplicationDuration": "P30D",
            "lastSeenByServiceDateTime": iso_drs(m.now),
        },
        "sourceProperties": {
            "lastUpdatedDateTime": iso_drs(s.added_at),
            "recommendedInstanceType": s.instance_type,
            "identificationHints": {"hostname": s.hostname, "fqdn": f"{s.hostname}.corp.example"},
            "disks": [{"deviceName": "/dev/xvda", "bytes": disk}],
            "cpus": [{"cores": 2, "modelName": "Intel(R) Xeon(R) Platinum 8259CL"}],
            "ramBytes": 8 * GIB,
            "os": {"fullString": "Linux version 5.10 (Amazon Linux 2)"},
            "supportsNitroInstances": True,
            "architecture": "x86_64",
        },
        "replicationDirection": "FAILOVER",
        "stagingArea": {"status": "NOT_EXTENDED"},
        "agentVersion": "4.7.0",
    }
    if s.last_launch is not None:
        initiated = dict(s.last_launch["initiated"])
        initiated["apiCallDateTime"] = iso_drs(initiated["apiCallDateTime"])
        last = {"initiated": initiated, "status": s.last_launch["status"]}
        item["lifeCycle"]["lastLaunch"] = last
    if s.recovery_instance_id is not None:
        item["recoveryInstanceId"] = s.recovery_instance_id  # lower-case d, as DRS spells it
    return item


def _participants(job: Job) -> Encoded:
    """participatingServers, rebuilt only when a participant changed (jobs are polled a
    lot), with its JSON text (the wire writes it as it is: see :mod:`drsorch.sim.jsonbody`).
    A participant's entry is remade only when its status or recovery instance changed (it
    depends on nothing else); entries are shared between renderings, never changed."""
    if job.rendered is not None and job.rendered[0] == job.version:
        return job.rendered[1]
    entries, texts = [], []
    for p in job.participants.values():
        cached = p.rendered
        if cached is None or cached[0] != p.launch_status or cached[1] != p.recovery_instance_id:
            cached = p.rendered = _participant(p)
        entries.append(cached[2])
        texts.append(cached[3])
    servers = Encoded(entries, texts)
    job.rendered = (job.version, servers)
    return servers


def _participant(p: Participant) -> tuple[str, str | None, dict[str, Any], str]:
    entry: dict[str, Any] = {"sourceServerID": p.server_id, "launchStatus": p.launch_status}
    if p.recovery_instance_id is not None:
        entry["recoveryInstanceID"] = p.recovery_instance_id
    return p.launch_status, p.recovery_instance_id, entry, strings(entry)


def render_job(m: RegionModel, job: Job) -> dict[str, Any]:
    servers = _participants(job)
    item: dict[str, Any] = {
        "jobID": job.id,
        "arn": job.arn,
        "type": job.type,
        "initiatedBy": job.initiated_by,
        "creationDateTime": iso_drs(job.created),
        "status": m.job_status(job),
        "participatingServers": servers,
        "tags": job.tags,
    }
    if job.ended is not None:
        item["endDateTime"] = iso_drs(job.ended)
    return item


def render_recovery_instance(m: RegionModel, ri: RecoveryInstance) -> dict[str, Any]:
    inst = m.instances.get(ri.ec2_id)
    state = RI_EC2_STATE[inst.state] if inst is not None and m.ec2_visible(inst) else "NOT_FOUND"
    server = m.servers.get(ri.source_server_id)
    hostname = server.hostname if server is not None else ri.source_server_id
    return {
        "ec2InstanceID": ri.ec2_id,
        "ec2InstanceState": state,
        "jobID": ri.job_id,
        "recoveryInstanceID": ri.id,
        "sourceServerID": ri.source_server_id,
        "arn": ri.arn,
        "tags": ri.tags,
        "isDrill": ri.is_drill,
        "pointInTimeSnapshotDateTime": iso_drs(ri.point_in_time),
        "originEnvironment": "ON_PREMISES",
        "failback": {"state": "FAILBACK_NOT_STARTED"},
        "dataReplicationInfo": {"dataReplicationState": "NOT_STARTED"},
        "recoveryInstanceProperties": {
            "lastUpdatedDateTime": iso_drs(ri.created),
            "identificationHints": {"hostname": hostname, "awsInstanceID": ri.ec2_id},
            "ramBytes": 8 * GIB,
            "cpus": [{"cores": 2, "modelName": "Intel(R) Xeon(R) Platinum 8259CL"}],
        },
        "agentVersion": "4.7.0",
    }


# --- operations -------------------------------------------------------------------------


def describe_source_servers(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    filters = params.get("filters") or {}
    servers: list[SourceServer] = list(m.servers.values())
    ids = filters.get("sourceServerIDs")
    if ids:
        wanted = set(ids)
        servers = [s for s in servers if s.id in wanted]
    if filters.get("hardwareId"):
        servers = []  # simulated servers carry no hardware id
    if filters.get("stagingAccountIDs"):
        servers = []  # simulated servers are not extended from staging accounts
    chunk, token = page(servers, params, "servers")
    return _with_token({"items": [render_server(m, s) for s in chunk]}, token)


def start_recovery(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    ids = [entry["sourceServerID"] for entry in params["sourceServers"]]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise validation_error(
            f"Source server {dup} is listed more than once",
            fields=[{"name": "sourceServers", "message": f"duplicate sourceServerID {dup}"}],
        )
    job = m.start_recovery(ids, bool(params.get("isDrill", False)), params.get("tags") or {})
    return {"job": render_job(m, job)}


def _parse_date(value: str, name: str) -> float:
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError as exc:
        raise validation_error(
            f"Invalid date {value!r}", fields=[{"name": name, "message": "is not a date"}]
        ) from exc


def describe_jobs(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    filters = params.get("filters") or {}
    ids = filters.get("jobIDs")
    # the named ones are found by id, not among all jobs (an engine names the few it runs)
    jobs = m.jobs_newest_first(ids or None)
    if filters.get("fromDate"):
        start = _parse_date(filters["fromDate"], "filters.fromDate")
        jobs = [j for j in jobs if j.created >= start]
    if filters.get("toDate"):
        end = _parse_date(filters["toDate"], "filters.toDate")
        jobs = [j for j in jobs if j.created <= end]
    chunk, token = page(jobs, params, "jobs")
    return _with_token({"items": [render_job(m, j) for j in chunk]}, token)


def describe_job_log_items(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    job = m.jobs.get(params["jobID"])
    log = job.log if job is not None else []
    chunk, token = page(log, params, "log")
    items = []
    for entry in chunk:
        item: dict[str, Any] = {"logDateTime": iso_drs(entry.time), "event": entry.event}
        if entry.data:
            item["eventData"] = entry.data
        items.append(item)
    return _with_token({"items": items}, token)


def describe_recovery_instances(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    filters = params.get("filters") or {}
    if filters.get("recoveryInstanceIDs"):  # the named ones, in creation order
        known, rank = m.recovery_instances, m.recovery_instance_rank
        named = {i for i in filters["recoveryInstanceIDs"] if i in known}
        instances = [known[i] for i in sorted(named, key=rank.__getitem__)]
    else:
        instances = list(m.recovery_instances.values())
    if filters.get("sourceServerIDs"):
        servers = set(filters["sourceServerIDs"])
        instances = [ri for ri in instances if ri.source_server_id in servers]
    chunk, token = page(instances, params, "recovery-instances")
    return _with_token({"items": [render_recovery_instance(m, ri) for ri in chunk]}, token)


def terminate_recovery_instances(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    ids = list(dict.fromkeys(params["recoveryInstanceIDs"]))
    job = m.terminate_recovery_instances(ids)
    return {"job": render_job(m, job)}


# --- tags (TagResource / UntagResource / ListTagsForResource, REST: /tags/{resourceArn}) ---

#: Tags one resource may carry (AWS's general limit; DRS does not model its own).
MAX_RESOURCE_TAGS = 50


def _tagged(m: RegionModel, arn: str) -> dict[str, str]:
    """The live tag map of the source server, job or recovery instance ``arn`` names."""
    for pool in (m.servers, m.jobs, m.recovery_instances):
        for entity in pool.values():
            if entity.arn == arn:
                tags: dict[str, str] = entity.tags
                return tags
    kind = arn.rsplit(":", 1)[-1].split("/", 1)[0] if ":" in arn else "resource"
    raise SimApiError(
        "ResourceNotFoundException",
        f"Resource {arn} not found",
        404,
        fields={"code": "RESOURCE_NOT_FOUND", "resourceId": arn, "resourceType": kind},
    )


def tag_resource(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    tags = _tagged(m, params["resourceArn"])
    new: dict[str, str] = params["tags"]
    if len({**tags, **new}) > MAX_RESOURCE_TAGS:
        raise validation_error(
            f"A resource may have at most {MAX_RESOURCE_TAGS} tags",
            fields=[{"name": "tags", "message": f"more than {MAX_RESOURCE_TAGS} tags"}],
        )
    tags.update(new)
    return {}


def untag_resource(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    tags = _tagged(m, params["resourceArn"])
    for key in params["tagKeys"]:
        tags.pop(key, None)  # an absent key is no error, as on AWS
    return {}


def list_tags_for_resource(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    return {"tags": dict(_tagged(m, params["resourceArn"]))}


#: Lists handlers give as :class:`~drsorch.sim.jsonbody.Encoded` (by shape name).
ENCODED_SHAPES = frozenset({"ParticipatingServers"})

#: REST tag operations by HTTP method, all on ``/tags/{resourceArn}``.
TAG_OPERATIONS = {"POST": "TagResource", "DELETE": "UntagResource", "GET": "ListTagsForResource"}

HANDLERS: dict[str, Handler] = {
    "DescribeSourceServers": describe_source_servers,
    "StartRecovery": start_recovery,
    "DescribeJobs": describe_jobs,
    "DescribeJobLogItems": describe_job_log_items,
    "DescribeRecoveryInstances": describe_recovery_instances,
    "TerminateRecoveryInstances": terminate_recovery_instances,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}

__all__ = ["HANDLERS", "TAG_OPERATIONS", "page", "render_job", "render_server"]
