"""A tiny DRS + EC2 fake at the wire, for the adapter tests.

It hooks botocore's ``before-send`` event on real boto3 clients, so every request goes
through real serialization and every answer through real parsing and real error classes;
no socket is ever opened (an operation the fake does not know fails the test instead).

    wire = Wire()
    drs, ec2 = wire.clients()
    wire.drs.add_server("s-...")
    wire.fail("StartRecovery", lost())      # processed, then the answer is lost

Faults are consumed in order per operation, before the fake handles the request.
"""

from __future__ import annotations

import itertools
import json
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from drsorch.aws.session import make_clients
from drsorch.clock import VirtualClock

EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """What to do instead of (or after) handling one request."""

    kind: str  # "reply" (send this reply), "reset" (drop before), "lost" (handle, then drop)
    status: int = 400
    code: str = ""
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    body: bytes | None = None


def throttle(retry_after: float | str | None = None) -> Fault:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Fault("reply", 429, "ThrottlingException", "Rate exceeded", headers)


def server_error(retry_after: int | None = None) -> Fault:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Fault("reply", 500, "InternalServerException", "Internal failure", headers)


def error(status: int, code: str, message: str = "", **fields: Any) -> Fault:
    return Fault("reply", status, code, message, fields=fields)


def reset() -> Fault:
    """The connection drops before the service saw the request."""
    return Fault("reset")


def lost() -> Fault:
    """The service processes the request, then the answer never arrives (read timeout)."""
    return Fault("lost")


def raw_body(body: bytes, status: int = 200) -> Fault:
    """Answer with exactly these bytes (for malformed-response tests)."""
    return Fault("reply", status, body=body)


@dataclass
class Call:
    operation: str
    params: dict[str, Any]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def _ident(prefix: str, n: int, alphabet: str = string.digits + "abcdef") -> str:
    digits = []
    for _ in range(17):
        n, r = divmod(n, len(alphabet))
        digits.append(alphabet[r])
    return prefix + "".join(reversed(digits))


def server_id(n: int) -> str:
    return _ident("s-", n)


def instance_id(n: int) -> str:
    return _ident("i-", n)


class FakeDrs:
    """Just enough DRS state for the adapter: servers, jobs, recovery instances."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.servers: dict[str, dict[str, Any]] = {}
        self.jobs: list[dict[str, Any]] = []  # oldest first
        self.recovery_instances: dict[str, dict[str, Any]] = {}
        self.job_logs: dict[str, list[dict[str, Any]]] = {}
        self.page_size = 50
        self.conflicts = True  # False: no "one active job per server" guard (worst case)
        self._job_seq = itertools.count(1)

    def add_server(self, sid: str, state: str = "CONTINUOUS", **extra: Any) -> None:
        self.servers[sid] = {
            "sourceServerID": sid,
            "arn": f"arn:aws:drs:us-east-1:123456789012:source-server/{sid}",
            "dataReplicationInfo": {"dataReplicationState": state},
            "sourceProperties": {"identificationHints": {"hostname": f"host-{sid[-4:]}"}},
            "tags": {},
            **extra,
        }

    def add_job(self, created: float, tags: dict[str, str], **extra: Any) -> dict[str, Any]:
        job = {
            "jobID": _ident("drsjob-", next(self._job_seq)),
            "arn": "arn:aws:drs:us-east-1:123456789012:job/x",
            "type": "LAUNCH",
            "status": "PENDING",
            "creationDateTime": iso(created),
            "tags": dict(tags),
            "participatingServers": [],
            **extra,
        }
        self.jobs.append(job)
        return job

    def launch_jobs(self) -> list[dict[str, Any]]:
        return [j for j in self.jobs if j["type"] == "LAUNCH"]

    # --- operations ------------------------------------------------------------------------

    def StartRecovery(self, p: dict[str, Any]) -> Reply:
        ids = [s["sourceServerID"] for s in p["sourceServers"]]
        unknown = [s for s in ids if s not in self.servers]
        if unknown:
            return _drs_error(
                400,
                "ValidationException",
                f"Source server(s) not found: {', '.join(unknown)}",
                fieldList=[{"name": "sourceServerID", "message": f"{unknown[0]} not found"}],
            )
        busy = {
            ps["sourceServerID"]
            for j in self.jobs
            if j["status"] != "COMPLETED"
            for ps in j["participatingServers"]
        }
        if self.conflicts and busy & set(ids):
            return _drs_error(
                409,
                "ConflictException",
                "Server already in an active job",
                resourceId=sorted(busy & set(ids))[0],
            )
        job = self.add_job(
            self.clock.now(),
            p.get("tags") or {},
            initiatedBy="START_DRILL" if p.get("isDrill") else "START_RECOVERY",
            participatingServers=[{"sourceServerID": s, "launchStatus": "PENDING"} for s in ids],
        )
        return _json(202, {"job": job})

    def DescribeJobs(self, p: dict[str, Any]) -> Reply:
        filters = p.get("filters") or {}
        ids = filters.get("jobIDs") or []
        since = filters.get("fromDate")
        jobs = [j for j in reversed(self.jobs) if not ids or j["jobID"] in ids]
        if since:
            floor = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
            jobs = [
                j
                for j in jobs
                if datetime.fromisoformat(j["creationDateTime"]).timestamp() >= floor
            ]
        return self._page(jobs, p)

    def DescribeSourceServers(self, p: dict[str, Any]) -> Reply:
        ids = (p.get("filters") or {}).get("sourceServerIDs") or list(self.servers)
        return self._page([self.servers[s] for s in ids if s in self.servers], p)

    def DescribeJobLogItems(self, p: dict[str, Any]) -> Reply:
        return self._page(self.job_logs.get(p["jobID"], []), p)

    def DescribeRecoveryInstances(self, p: dict[str, Any]) -> Reply:
        ids = (p.get("filters") or {}).get("recoveryInstanceIDs") or list(self.recovery_instances)
        items = [self.recovery_instances[r] for r in ids if r in self.recovery_instances]
        return self._page(items, p)

    def TerminateRecoveryInstances(self, p: dict[str, Any]) -> Reply:
        job = self.add_job(
            self.clock.now(), {}, type="TERMINATE", initiatedBy="TERMINATE_RECOVERY_INSTANCES"
        )
        return _json(200, {"job": job})

    def _page(self, items: list[dict[str, Any]], p: dict[str, Any]) -> Reply:
        size = int(p.get("maxResults") or self.page_size)
        start = int(p.get("nextToken") or 0)
        body: dict[str, Any] = {"items": items[start : start + size]}
        if start + size < len(items):
            body["nextToken"] = str(start + size)
        return _json(200, body)


class FakeEc2:
    """Instance states and status checks; unknown ids fail the batch like EC2 does."""

    def __init__(self) -> None:
        self.instances: dict[str, tuple[str, str, str]] = {}
        self.name_missing_ids = True  # False: a NotFound message that lists no ids

    def add(self, iid: str, state: str = "running", inst: str = "ok", system: str = "ok") -> None:
        self.instances[iid] = (state, inst, system)

    def DescribeInstanceStatus(self, p: dict[str, Any]) -> Reply:
        ids = p.get("InstanceId", [])
        missing = [i for i in ids if i not in self.instances]
        if missing:
            listed = ", ".join(missing) if self.name_missing_ids else "(some)"
            noun = "ID" if len(missing) == 1 else "IDs"
            verb = "does" if len(missing) == 1 else "do"
            return _ec2_error(
                "InvalidInstanceID.NotFound", f"The instance {noun} '{listed}' {verb} not exist"
            )
        items = "".join(
            f"<item><instanceId>{i}</instanceId><availabilityZone>us-east-1a</availabilityZone>"
            f"<instanceState><code>16</code><name>{self.instances[i][0]}</name></instanceState>"
            f"<systemStatus><status>{self.instances[i][2]}</status></systemStatus>"
            f"<instanceStatus><status>{self.instances[i][1]}</status></instanceStatus></item>"
            for i in ids
        )
        return _xml(
            "DescribeInstanceStatusResponse",
            f"<instanceStatusSet>{items}</instanceStatusSet>",
        )

    def TerminateInstances(self, p: dict[str, Any]) -> Reply:
        ids = p.get("InstanceId", [])
        items = "".join(
            f"<item><instanceId>{i}</instanceId><currentState><code>32</code>"
            f"<name>shutting-down</name></currentState></item>"
            for i in ids
        )
        return _xml("TerminateInstancesResponse", f"<instancesSet>{items}</instancesSet>")


def _json(status: int, body: object) -> Reply:
    return Reply(status, json.dumps(body).encode(), {"content-type": "application/json"})


def _drs_error(status: int, code: str, message: str, **fields: Any) -> Reply:
    reply = _json(status, {"message": message, **fields})
    reply.headers["x-amzn-errortype"] = code
    return reply


def _xml(root: str, inner: str) -> Reply:
    body = f'<{root} xmlns="{EC2_NS}"><requestId>r-1</requestId>{inner}</{root}>'
    return Reply(200, body.encode(), {"content-type": "text/xml"})


def _ec2_error(code: str, message: str, status: int = 400) -> Reply:
    body = (
        f"<Response><Errors><Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"</Error></Errors><RequestID>r-1</RequestID></Response>"
    )
    return Reply(status, body.encode(), {"content-type": "text/xml"})


def _ec2_params(body: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in parse_qs(body.decode()).items():
        head = key.split(".")[0]
        if key != head and key.split(".")[-1].isdigit():
            out.setdefault(head, []).append(values[0])
        else:
            out[key] = values[0]
    return out


class Wire:
    """Answers every request of the attached clients from FakeDrs / FakeEc2 and faults."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.reset(clock)

    def reset(self, clock: VirtualClock | None = None) -> None:
        """Forget all state, calls and faults (attached clients stay attached)."""
        self.clock = clock or VirtualClock()
        self.drs = FakeDrs(self.clock)
        self.ec2 = FakeEc2()
        self.calls: list[Call] = []
        self.faults: dict[str, list[Fault]] = {}
        self.handlers: dict[str, Callable[[dict[str, Any]], Reply]] = {}

    def fail(self, operation: str, *faults: Fault) -> None:
        self.faults.setdefault(operation, []).extend(faults)

    def calls_to(self, operation: str) -> list[Call]:
        return [c for c in self.calls if c.operation == operation]

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send", self._on_send)
        return client

    def clients(self, *, fresh: bool = False) -> tuple[Any, Any]:
        """``(drs, ec2)`` boto3 clients answered by this wire.

        Building a client costs ~0.2 s, so by default one pair per process is shared and
        routed to the wire that asked last; ``fresh=True`` builds a private pair.
        """
        if fresh:
            drs, ec2 = make_clients(fake_session())
            return self.attach(drs), self.attach(ec2)
        global _SHARED
        if _SHARED is None:
            drs, ec2 = make_clients(fake_session())
            for client in (drs, ec2):
                client.meta.events.register("before-send", _route)
            _SHARED = (drs, ec2)
        _CURRENT[:] = [self]
        return _SHARED

    def _on_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        _, service, operation = event_name.split(".", 2)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        if service == "ec2":
            params = _ec2_params(body)
            params.pop("Action", None)
            params.pop("Version", None)
        else:
            params = json.loads(body or b"{}")
        self.calls.append(Call(operation, params))
        queue = self.faults.get(operation) or []
        fault = queue.pop(0) if queue else None
        if fault is not None and fault.kind == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        if fault is not None and fault.kind == "reply":
            if fault.body is not None:
                reply = Reply(fault.status, fault.body, {"content-type": "application/json"})
            elif service == "ec2":
                reply = _ec2_error(fault.code, fault.message, fault.status)
            else:
                reply = _drs_error(fault.status, fault.code, fault.message, **fault.fields)
            reply.headers.update(fault.headers)
            return AWSResponse(request.url, reply.status, reply.headers, _Raw(reply.body))
        handler = self.handlers.get(operation) or getattr(
            self.ec2 if service == "ec2" else self.drs, operation, None
        )
        if handler is None:
            raise AssertionError(f"the wire fake does not know {service}.{operation}")
        reply = handler(params)
        if fault is not None and fault.kind == "lost":
            raise ReadTimeoutError(endpoint_url=request.url)
        return AWSResponse(request.url, reply.status, reply.headers, _Raw(reply.body))


_SHARED: tuple[Any, Any] | None = None
_CURRENT: list[Wire] = []


def _route(**kwargs: Any) -> AWSResponse:
    return _CURRENT[-1]._on_send(**kwargs)


def fake_session() -> boto3.Session:
    """A session with fake credentials: nothing here can sign a request AWS would accept."""
    return boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name="us-east-1",
    )
