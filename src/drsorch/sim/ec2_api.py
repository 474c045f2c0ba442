"""The simulated EC2 API: the three operations a DR engine needs (issue 3, point 4).

``DescribeInstanceStatus``, ``DescribeInstances`` and ``TerminateInstances`` over the
recovery instances the simulated DRS launched. Handlers return dicts keyed by botocore
member names; the wire layer writes them as EC2 query-protocol XML. Errors use EC2's codes:
``InvalidInstanceID.NotFound`` / ``.Malformed``, ``InvalidParameterValue``,
``InvalidParameterCombination``, ``DryRunOperation``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from drsorch.sim.entities import EC2_CODES, Ec2Instance
from drsorch.sim.errors import SimApiError
from drsorch.sim.model import RegionModel

_ID_RE = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
MAX_IDS = 100

Handler = Callable[[RegionModel, dict[str, Any]], dict[str, Any]]


def _error(code: str, message: str) -> SimApiError:
    return SimApiError(code, message, 400)


def _dry_run(params: dict[str, Any]) -> None:
    if params.get("DryRun"):
        raise SimApiError(
            "DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412
        )


def _lookup(m: RegionModel, ids: list[str]) -> list[Ec2Instance]:
    """The named instances, or EC2's error for malformed or unknown ids."""
    for ident in ids:
        if not _ID_RE.fullmatch(ident):
            raise _error("InvalidInstanceID.Malformed", f'Invalid id: "{ident}"')
    found = []
    missing = []
    for ident in dict.fromkeys(ids):
        inst = m.instances.get(ident)
        if inst is None or not m.ec2_visible(inst):
            missing.append(ident)
        else:
            found.append(inst)
    if len(missing) == 1:
        raise _error("InvalidInstanceID.NotFound", f"The instance ID '{missing[0]}' does not exist")
    if missing:
        raise _error(
            "InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(missing)}' do not exist"
        )
    return found


def _visible(m: RegionModel) -> list[Ec2Instance]:
    return [i for i in m.instances.values() if m.ec2_visible(i)]


def _paged(
    items: list[Any], params: dict[str, Any], ids: list[str] | None
) -> tuple[list[Any], str | None]:
    size = params.get("MaxResults")
    if size is not None and ids:
        raise _error(
            "InvalidParameterCombination",
            "The parameter instancesSet cannot be used with the parameter maxResults",
        )
    # (a MaxResults that is no integer stays the text the form gave: refused the same way)
    if size is not None and (type(size) is not int or not 5 <= size <= 1000):
        raise _error(
            "InvalidParameterValue", f"Value ( {size} ) for parameter maxResults is invalid."
        )
    token = params.get("NextToken")
    offset = 0
    if token:
        if not token.startswith("ec2:") or not token[4:].isdigit():
            raise _error("InvalidParameterValue", f"Invalid value '{token}' for nextToken")
        offset = int(token[4:])
    limit = size or 1000
    chunk = items[offset : offset + limit]
    nxt = offset + limit
    return chunk, (f"ec2:{nxt}" if nxt < len(items) else None)


def _state(inst: Ec2Instance) -> dict[str, Any]:
    return {"Code": EC2_CODES[inst.state], "Name": inst.state}


def _checks(inst: Ec2Instance, summary: str) -> dict[str, Any]:
    if inst.state != "running":
        return {"Status": "not-applicable", "Details": []}
    detail: dict[str, Any] = {"Name": "reachability"}
    detail["Status"] = {"initializing": "initializing", "ok": "passed"}.get(summary, "failed")
    if summary == "impaired" and inst.impaired_since is not None:
        detail["ImpairedSince"] = inst.impaired_since
    return {"Status": summary, "Details": [detail]}


def _status_fields(inst: Ec2Instance) -> dict[str, str]:
    instance, system = _checks(inst, inst.instance_checks), _checks(inst, inst.system_checks)
    return {
        "instance-state-name": inst.state,
        "instance-state-code": str(EC2_CODES[inst.state]),
        "instance-status.status": instance["Status"],
        "system-status.status": system["Status"],
        "instance-status.reachability": (instance["Details"] or [{"Status": ""}])[0]["Status"],
        "system-status.reachability": (system["Details"] or [{"Status": ""}])[0]["Status"],
    }


def _filter(
    instances: list[Ec2Instance], filters: list[dict[str, Any]], fields: Callable[..., Any]
) -> list[Ec2Instance]:
    for flt in filters:
        name, values = flt.get("Name", ""), set(flt.get("Values", []))

        def keep(inst: Ec2Instance, name: str = name, values: set[str] = values) -> bool:
            if name.startswith("tag:"):
                return inst.tags.get(name[4:]) in values
            if name == "tag-key":
                return bool(values & set(inst.tags))
            known: dict[str, str] = fields(inst)
            if name not in known:
                raise _error("InvalidParameterValue", f"The filter '{name}' is invalid")
            return known[name] in values

        instances = [i for i in instances if keep(i)]
    return instances


def describe_instance_status(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    _dry_run(params)
    ids = params.get("InstanceIds") or []
    if len(ids) > MAX_IDS:
        raise _error(
            "InvalidParameterValue",
            f"The maximum number of instance IDs is {MAX_IDS}; {len(ids)} were given",
        )
    instances = _lookup(m, ids) if ids else _visible(m)
    if not params.get("IncludeAllInstances", False):
        instances = [i for i in instances if i.state == "running"]
    instances = _filter(instances, params.get("Filters") or [], _status_fields)
    chunk, token = _paged(instances, params, ids)
    statuses = [
        {
            "InstanceId": inst.id,
            "AvailabilityZone": f"{m.region_name}a",
            "InstanceState": _state(inst),
            "InstanceStatus": _checks(inst, inst.instance_checks),
            "SystemStatus": _checks(inst, inst.system_checks),
            "Events": [],
        }
        for inst in chunk
    ]
    return {"InstanceStatuses": statuses, "NextToken": token}


def _instance_fields(inst: Ec2Instance) -> dict[str, str]:
    return {
        "instance-id": inst.id,
        "instance-state-name": inst.state,
        "instance-state-code": str(EC2_CODES[inst.state]),
        "instance-type": inst.instance_type,
        "image-id": inst.image_id,
        "private-ip-address": inst.private_ip,
    }


def render_instance(m: RegionModel, inst: Ec2Instance) -> dict[str, Any]:
    dns = "ip-" + inst.private_ip.replace(".", "-") + f".{m.region_name}.compute.internal"
    live = inst.state != "terminated"
    item: dict[str, Any] = {
        "InstanceId": inst.id,
        "ImageId": inst.image_id,
        "State": _state(inst),
        "PrivateDnsName": dns if live else "",
        "PublicDnsName": "",
        "StateTransitionReason": inst.reason,
        "AmiLaunchIndex": 0,
        "InstanceType": inst.instance_type,
        "LaunchTime": inst.launch_time,
        "Placement": {"AvailabilityZone": f"{m.region_name}a", "Tenancy": "default"},
        "Monitoring": {"State": "disabled"},
        "Architecture": "x86_64",
        "RootDeviceType": "ebs",
        "RootDeviceName": "/dev/xvda",
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "Tags": [{"Key": k, "Value": v} for k, v in inst.tags.items()],
    }
    if live:
        item["PrivateIpAddress"] = inst.private_ip
        item["SubnetId"] = "subnet-0drsorchsim000001"
        item["VpcId"] = "vpc-0drsorchsim0000001"
    return item


def describe_instances(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    _dry_run(params)
    ids = params.get("InstanceIds") or []
    instances = _lookup(m, ids) if ids else _visible(m)
    instances = _filter(instances, params.get("Filters") or [], _instance_fields)
    chunk, token = _paged(instances, params, ids)
    reservations = [
        {
            "ReservationId": "r-" + hashlib.blake2b(inst.id.encode(), digest_size=9).hexdigest(),
            "OwnerId": m.account_id,
            "Groups": [],
            "Instances": [render_instance(m, inst)],
        }
        for inst in chunk
    ]
    return {"Reservations": reservations, "NextToken": token}


def terminate_instances(m: RegionModel, params: dict[str, Any]) -> dict[str, Any]:
    _dry_run(params)
    ids = params.get("InstanceIds") or []
    if not ids:
        raise _error("MissingParameter", "The request must contain the parameter InstanceId")
    changes = []
    for inst in _lookup(m, ids):
        previous = m.begin_ec2_terminate(inst, "User initiated (TerminateInstances)")
        changes.append(
            {
                "InstanceId": inst.id,
                "CurrentState": _state(inst),
                "PreviousState": {"Code": EC2_CODES[previous], "Name": previous},
            }
        )
    return {"TerminatingInstances": changes}


HANDLERS: dict[str, Handler] = {
    "DescribeInstanceStatus": describe_instance_status,
    "DescribeInstances": describe_instances,
    "TerminateInstances": terminate_instances,
}
