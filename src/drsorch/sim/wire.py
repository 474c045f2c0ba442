"""The simulator's wire: AWS protocols in, model calls, AWS protocols out (issue 3, point 5).

:func:`dispatch` takes one HTTP request as a client sends it — DRS rest-json
(``POST /<Operation>``, a JSON body), EC2 query (``POST /`` with ``Action=...``) or STS
query (the same, with ``Version=2011-06-15``) — and returns the HTTP response DRS, EC2 or
STS would send, or :class:`Dropped` when a scripted fault drops the connection. Both ways
in share it:

- in-process, :func:`attach` registers a botocore ``before-send`` handler on a boto3
  session or client, so requests are signed and serialized and responses parsed by botocore
  itself, with no socket; a dropped connection raises botocore's own connection errors;
- over HTTP, :mod:`drsorch.sim.server` hands each request to :func:`dispatch`.

Order of work for a call: bring every account up to ``clock.now()``; tell who signed it
(the access key id of the SigV4 ``Authorization`` header, see
:mod:`drsorch.sim.accounts`); decode; refuse unknown or expired credentials; request
faults of phase ``before``; validation against botocore's model; the handler, in the
signer's account; faults of phase ``after`` (the call took effect but its answer is lost);
record the call.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from drsorch.sim import drs_api, ec2_api, sts_api
from drsorch.sim.accounts import AuthProblem, Identity
from drsorch.sim.errors import SimApiError, validation_error
from drsorch.sim.faults import Fault, FaultKind
from drsorch.sim.jsonbody import body_writer, dumps
from drsorch.sim.recorder import Outcome, RecordedCall
from drsorch.sim.shapes import (
    check,
    decode_query,
    encode_query_xml,
    encode_xml,
    service_model,
    xml_text,
)

if TYPE_CHECKING:
    from drsorch.sim.model import RegionModel
    from drsorch.sim.region import SimRegion


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Dropped:
    """No response: the connection is dropped (``connection_reset``/``read_timeout``)."""

    kind: str


WireResult = WireResponse | Dropped


@dataclass(frozen=True, slots=True)
class DirectAnswer:
    """A successful answer of the direct transport (:mod:`drsorch.sim.direct`): what
    ``convert`` made of the handler's payload, in place of its HTTP encoding. ``wire``
    encodes the same payload as :func:`dispatch` would have (a reference for checks)."""

    status: int
    headers: dict[str, str]
    parsed: Any
    wire: Callable[[], WireResponse]


#: How the direct transport turns a handler's payload into botocore's parsed response:
#: ``convert(service, operation, payload, status, headers, wire)``.
Convert = Callable[[str, str, dict[str, Any], int, dict[str, str], Callable[[], WireResponse]], Any]
_DROPPED = frozenset(
    {FaultKind.CONNECTION_RESET, FaultKind.READ_TIMEOUT, FaultKind.ENDPOINT_UNREACHABLE}
)
STS_VERSION = "2011-06-15"
STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")

#: How each service refuses credentials it does not know, or that expired.
_AUTH_ERRORS: dict[tuple[str, AuthProblem], tuple[str, str, int]] = {
    ("drs", AuthProblem.UNRECOGNIZED): (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        403,
    ),
    ("drs", AuthProblem.EXPIRED): (
        "ExpiredTokenException",
        "The security token included in the request is expired",
        403,
    ),
    ("ec2", AuthProblem.UNRECOGNIZED): (
        "AuthFailure",
        "AWS was not able to validate the provided access credentials",
        401,
    ),
    ("ec2", AuthProblem.EXPIRED): ("RequestExpired", "Request has expired.", 400),
    ("sts", AuthProblem.UNRECOGNIZED): (
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        403,
    ),
    ("sts", AuthProblem.EXPIRED): (
        "ExpiredToken",
        "The security token included in the request is expired",
        403,
    ),
}


def _is_form(path: str, body: bytes) -> bool:
    return path.rstrip("/") == "" and (body.startswith(b"Action=") or b"&Action=" in body)


def detect_service(path: str, body: bytes) -> str:
    """DRS puts the operation in the path; EC2 and STS post ``Action=`` to ``/``, and STS
    says ``Version=2011-06-15``."""
    if not _is_form(path, body):
        return "drs"
    return "sts" if dict(parse_form(body)).get("Version") == STS_VERSION else "ec2"


@functools.lru_cache(maxsize=4)
def parse_form(body: bytes) -> tuple[tuple[str, str], ...]:
    """A query-protocol body's parameters, in order (kept for the few bodies last seen:
    the service is told from the form, then the same form is answered)."""
    return tuple(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def access_key_of(headers: dict[str, str]) -> str | None:
    """The access key id a SigV4 ``Authorization`` header names, if any."""
    auth = _header(headers, "authorization")
    match = _CREDENTIAL.search(auth) if auth else None
    return match.group(1) if match else None


def dispatch(
    region: SimRegion, method: str, path: str, headers: dict[str, str], body: bytes
) -> WireResult:
    """Answer one HTTP request the way DRS, EC2 or STS would. ``path`` may carry a query
    string (DRS's UntagResource sends ``?tagKeys=...``)."""
    result = answer(
        region,
        method,
        path,
        body,
        access_key_of(headers),
        _header(headers, "x-amz-security-token"),
    )
    assert not isinstance(result, DirectAnswer)
    return result


def answer(
    region: SimRegion,
    method: str,
    path: str,
    body: bytes,
    key: str | None,
    token: str | None,
    convert: Convert | None = None,
) -> WireResult | DirectAnswer:
    """:func:`dispatch` with the signer's access key id and session token already read;
    with ``convert`` (the direct transport), a successful DRS or EC2 answer is a
    :class:`DirectAnswer` instead of its HTTP encoding. Errors are always encoded."""
    path, _, query = path.partition("?")
    service = detect_service(path, body)
    with region.lock:
        now = region.clock.now()
        region.advance(now)
        identity, problem = region.directory.identify(key, token, now)
        call = _Call(region, service, now, identity, problem, convert)
        if service == "ec2":
            return call.ec2(body)
        if service == "sts":
            return call.sts(body)
        return call.drs(method, path, body, query)


class _Call:
    """One request in flight: decoding, faults, validation, handler, recording."""

    def __init__(
        self,
        region: SimRegion,
        service: str,
        now: float,
        identity: Identity | None = None,
        problem: AuthProblem | None = None,
        convert: Convert | None = None,
    ) -> None:
        self.region = region
        self.convert = convert
        self.service = service
        self.now = now
        self.identity = identity
        self.problem = problem
        self.account = identity.account_id if identity is not None else None
        self.operation = "?"
        self.params: dict[str, Any] = {}
        self.request_id = region.next_request_id()

    @property
    def model(self) -> RegionModel:
        """The signer's account (only asked once the credentials were accepted)."""
        assert self.account is not None
        return self.region.models[self.account]

    def record(
        self,
        result: WireResult | DirectAnswer,
        *,
        error: str | None,
        fault: Fault | None,
        done: bool,
    ) -> None:
        outcome: Outcome = "fault" if fault is not None else ("error" if error else "ok")
        self.region.recorder.record(
            RecordedCall(
                time=self.now,
                service=self.service,
                operation=self.operation,
                params=self.params,
                outcome=outcome,
                error_code=error,
                http_status=None if isinstance(result, Dropped) else result.status,
                fault=FaultKind(fault.kind).value if fault is not None else None,
                processed=done,
                account=self.account,
            )
        )

    def run(
        self,
        handler: Callable[[dict[str, Any]], dict[str, Any]],
        encode: Callable[[dict[str, Any]], WireResponse | DirectAnswer],
        error: Callable[[SimApiError], WireResponse],
    ) -> WireResult | DirectAnswer:
        """Credentials, faults, validation and the handler, shared by every protocol."""
        if self.problem is not None or self.identity is None:
            refusal = SimApiError(
                *_AUTH_ERRORS[(self.service, self.problem or AuthProblem.UNRECOGNIZED)]
            )
            refused = error(refusal)
            self.record(refused, error=refusal.code, fault=None, done=False)
            return refused
        faults = self.region.faults
        op, params, now, account = self.operation, self.params, self.now, self.account
        fault = faults.for_request(self.service, op, params, now, "before", account)
        if fault is not None:
            result, code = self.fault_result(fault, error)
            self.record(result, error=code, fault=fault, done=False)
            return result
        try:
            answered = encode(handler(self.params))
        except SimApiError as exc:
            result = error(exc)
            self.record(result, error=exc.code, fault=None, done=True)
            return result
        fault = faults.for_request(self.service, op, params, now, "after", account)
        if fault is not None:
            lost, code = self.fault_result(fault, error)
            self.record(lost, error=code, fault=fault, done=True)
            return lost
        self.record(answered, error=None, fault=None, done=True)
        return answered

    def fault_result(
        self, fault: Fault, error: Callable[[SimApiError], WireResponse]
    ) -> tuple[WireResult, str | None]:
        if fault.kind in _DROPPED:
            return Dropped(FaultKind(fault.kind).value), None
        exc = fault_error(self.service, fault, self.identity, self.operation, self.params)
        return error(exc), exc.code

    # --- DRS: rest-json -----------------------------------------------------------------

    def encoded(
        self,
        status: int,
        headers: dict[str, str],
        payload: dict[str, Any],
        body: Callable[[], bytes],
    ) -> WireResponse | DirectAnswer:
        """A successful answer: HTTP, or, for the direct transport, ``convert``'s."""

        def wire() -> WireResponse:
            return WireResponse(status, headers, body())

        if self.convert is None:
            return wire()
        parsed = self.convert(self.service, self.operation, payload, status, headers, wire)
        return DirectAnswer(status, headers, parsed, wire)

    def drs(
        self, method: str, path: str, body: bytes, query: str = ""
    ) -> WireResult | DirectAnswer:
        self.operation = path.strip("/").split("/")[0] or "?"
        uri: dict[str, Any] = {}
        if self.operation == "tags" and path.count("/") >= 2:
            # TagResource / UntagResource / ListTagsForResource: the operation is the method.
            self.operation = drs_api.TAG_OPERATIONS.get(method, "?")
            method = "POST" if self.operation != "?" else method
            uri["resourceArn"] = unquote(path.split("/", 2)[2])
            keys = parse_qs(query, keep_blank_values=True).get("tagKeys")
            if keys is not None:
                uri["tagKeys"] = keys
        handler = drs_api.HANDLERS.get(self.operation)
        if method != "POST" or handler is None:
            exc = SimApiError(
                "UnknownOperationException", f"Unknown operation {method} {path}", 404
            )
            result = self.drs_error(exc)
            self.record(result, error=exc.code, fault=None, done=False)
            return result
        op = service_model("drs").operation_model(self.operation)
        status = int(op.http.get("responseCode", 200))
        try:
            decoded = json.loads(body or b"{}")
            if not isinstance(decoded, dict):
                raise ValueError("not an object")
            self.params = {**decoded, **uri}
        except ValueError:
            exc = validation_error("Could not parse the request body", reason="cannotParse")
            result = self.drs_error(exc)
            self.record(result, error=exc.code, fault=None, done=False)
            return result

        def validated(params: dict[str, Any]) -> dict[str, Any]:
            problems = check(op.input_shape, params)
            if problems:
                first = problems[0]
                raise validation_error(
                    f"Invalid request: {first['name']} {first['message']}", fields=problems
                )
            return handler(self.model, params)

        shape = op.output_shape
        write = dumps if shape is None else body_writer(shape, drs_api.ENCODED_SHAPES)

        def encode(payload: dict[str, Any]) -> WireResponse | DirectAnswer:
            return self.encoded(
                status,
                self.headers("application/json"),
                payload,
                lambda: write(payload).encode(),
            )

        return self.run(validated, encode, self.drs_error)

    def headers(self, content_type: str) -> dict[str, str]:
        return {"Content-Type": content_type, "x-amzn-RequestId": self.request_id}

    def drs_error(self, exc: SimApiError) -> WireResponse:
        headers = self.headers("application/json")
        headers["x-amzn-ErrorType"] = exc.code
        headers.update(exc.headers)
        payload = {"message": exc.message, **exc.fields}
        return WireResponse(exc.status, headers, json.dumps(payload).encode())

    # --- EC2: query / XML ---------------------------------------------------------------

    def query_action(
        self,
        body: bytes,
        handlers: Mapping[str, Any],
        unknown: str,
        error: Callable[[SimApiError], WireResponse],
    ) -> tuple[dict[str, str], Any, WireResponse | None]:
        """A query-protocol request (EC2, STS): its form and handler, or, for an action the
        simulator does not implement, the recorded ``InvalidAction`` answer (``unknown``
        words it; ``{action}`` is the action asked for)."""
        form = dict(parse_form(body))
        self.operation = form.get("Action", "?")
        handler = handlers.get(self.operation)
        if handler is not None:
            return form, handler, None
        exc = SimApiError(
            "InvalidAction",
            unknown.format(action=self.operation)
            + " (the simulator implements "
            + ", ".join(sorted(handlers))
            + ")",
            400,
        )
        result = error(exc)
        self.record(result, error=exc.code, fault=None, done=False)
        return form, None, result

    def ec2(self, body: bytes) -> WireResult | DirectAnswer:
        form, handler, refused = self.query_action(
            body,
            ec2_api.HANDLERS,
            "The action {action} is not valid for this web service",
            self.ec2_error,
        )
        if refused is not None:
            return refused
        op = service_model("ec2").operation_model(self.operation)
        self.params = decode_query(op.input_shape, form)

        def encode(payload: dict[str, Any]) -> WireResponse | DirectAnswer:
            root = f"{self.operation}Response"
            return self.encoded(
                200,
                self.headers("text/xml;charset=UTF-8"),
                payload,
                lambda: encode_xml(op.output_shape, payload, root, self.request_id),
            )

        return self.run(lambda params: handler(self.model, params), encode, self.ec2_error)

    def ec2_error(self, exc: SimApiError) -> WireResponse:
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{xml_text(exc.code)}</Code><Message>{xml_text(exc.message)}</Message>"
            f"</Error></Errors><RequestID>{self.request_id}</RequestID></Response>"
        )
        headers = self.headers("text/xml;charset=UTF-8")
        headers.update(exc.headers)
        return WireResponse(exc.status, headers, xml.encode())

    # --- STS: query / XML ---------------------------------------------------------------

    def sts(self, body: bytes) -> WireResult | DirectAnswer:
        form, handler, refused = self.query_action(
            body,
            sts_api.HANDLERS,
            f"Could not find operation {{action}} for version {STS_VERSION}",
            self.sts_error,
        )
        if refused is not None:
            return refused
        op = service_model("sts").operation_model(self.operation)
        self.params = decode_query(op.input_shape, form, protocol="query")

        def handle(params: dict[str, Any]) -> dict[str, Any]:
            sts_api.validate(op.input_shape, params)
            assert self.identity is not None
            answer: dict[str, Any] = handler(self.region.directory, self.identity, params, self.now)
            return answer

        def encode(payload: dict[str, Any]) -> WireResponse:
            xml = encode_query_xml(
                op.output_shape, payload, self.operation, self.request_id, STS_XMLNS
            )
            return WireResponse(200, self.headers("text/xml"), xml)

        return self.run(handle, encode, self.sts_error)

    def sts_error(self, exc: SimApiError) -> WireResponse:
        kind = "Receiver" if exc.status >= 500 else "Sender"
        xml = (
            f'<ErrorResponse xmlns="{STS_XMLNS}"><Error><Type>{kind}</Type>'
            f"<Code>{xml_text(exc.code)}</Code><Message>{xml_text(exc.message)}</Message>"
            f"</Error><RequestId>{self.request_id}</RequestId></ErrorResponse>"
        )
        headers = self.headers("text/xml")
        headers.update(exc.headers)
        return WireResponse(exc.status, headers, xml.encode())


def fault_error(
    service: str,
    fault: Fault,
    caller: Identity | None = None,
    operation: str = "?",
    params: dict[str, Any] | None = None,
) -> SimApiError:
    """The error answer of a request fault, as the real service words it (``caller``,
    ``operation`` and ``params`` word an ``access_denied``)."""
    kind = FaultKind(fault.kind)
    if kind is FaultKind.ACCESS_DENIED:
        return _denied(service, fault, caller, operation, params or {})
    if kind is FaultKind.THROTTLE:
        retry_after = fault.retry_after if fault.retry_after is not None else 1
        if service == "sts":
            return SimApiError("Throttling", fault.message or "Rate exceeded", 400)
        if service == "ec2":
            message = fault.message or "Request limit exceeded."
            return SimApiError("RequestLimitExceeded", message, 503)
        return SimApiError(
            "ThrottlingException",
            fault.message or "Rate exceeded",
            429,
            fields={"serviceCode": "drs"},
            headers={"Retry-After": str(retry_after)},
        )
    if kind is FaultKind.INTERNAL_ERROR:
        if service == "sts":
            message = fault.message or "An internal error occurred."
            return SimApiError("InternalFailure", message, 500)
        if service == "ec2":
            message = fault.message or "An internal error has occurred"
            return SimApiError("InternalError", message, 500)
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        return SimApiError(
            "InternalServerException",
            fault.message or "Internal server error",
            500,
            headers=headers,
        )
    if kind is FaultKind.EXPIRED_CREDENTIALS:
        code, message, status = _AUTH_ERRORS[(service, AuthProblem.EXPIRED)]
        return SimApiError(code, fault.message or message, status)
    raise ValueError(f"{kind} is not answered with an error")  # pragma: no cover


def _denied(
    service: str, fault: Fault, caller: Identity | None, operation: str, params: dict[str, Any]
) -> SimApiError:
    if service == "ec2":
        message = fault.message or "You are not authorized to perform this operation."
        return SimApiError("UnauthorizedOperation", message, 403)
    who = caller.arn if caller is not None else "anonymous"
    if service == "sts":
        role = params.get("RoleArn") if operation == "AssumeRole" else None
        on = f" on resource: {role}" if role else ""
        message = f"User: {who} is not authorized to perform: sts:{operation}{on}"
        return SimApiError("AccessDenied", fault.message or message, 403)
    message = f"User: {who} is not authorized to perform: drs:{operation}"
    return SimApiError("AccessDeniedException", fault.message or message, 403)


def request_id(seed: int, n: int) -> str:
    """A deterministic request id (a UUID built from the seed and the call number)."""
    raw = bytearray(hashlib.blake2b(f"{seed}:{n}".encode(), digest_size=16).digest())
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()  # as str(uuid.UUID(bytes=digest, version=4)) writes it, without the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --- in-process: botocore before-send ----------------------------------------------------


class _RawBody(io.BytesIO):
    """What botocore's AWSResponse reads a body from."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self.read()
        while data:
            yield data
            data = self.read()


def _before_send(region: SimRegion, request: Any, **_: Any) -> Any:
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import (
        ConnectionClosedError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    url = request.url
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = body.read()
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    result = dispatch(region, request.method, path, dict(request.headers), body)
    if isinstance(result, Dropped):
        if result.kind == FaultKind.READ_TIMEOUT.value:
            raise ReadTimeoutError(endpoint_url=url)
        if result.kind == FaultKind.ENDPOINT_UNREACHABLE.value:
            raise EndpointConnectionError(endpoint_url=url)
        raise ConnectionClosedError(endpoint_url=url)
    return AWSResponse(url, result.status, result.headers, _RawBody(result.body))


_UNIQUE = "drsorch-sim-{}"
#: The services the simulator answers (botocore's event names).
SERVICES = ("drs", "ec2", "sts")


def _emitter(target: Any) -> Any:
    meta = getattr(target, "meta", None)
    if meta is not None and hasattr(meta, "events"):
        return meta.events  # a client
    if hasattr(target, "events"):
        return target.events  # a boto3.Session
    if hasattr(target, "get_component"):
        return target.get_component("event_emitter")  # a botocore Session
    raise TypeError(f"cannot attach the simulator to {type(target).__name__}")


def attach(target: Any, region: SimRegion) -> None:
    """Route DRS, EC2 and STS calls of ``target`` (a boto3 Session, botocore Session or
    client) to ``region``. Clients made from a session *after* this call are routed; attach
    an existing client directly. Attaching again replaces the region."""
    events = _emitter(target)

    def handler(request: Any, **kwargs: Any) -> Any:
        return _before_send(region, request, **kwargs)

    for service in SERVICES:
        unique = _UNIQUE.format(service)
        events.unregister(f"before-send.{service}", unique_id=unique)
        events.register_first(f"before-send.{service}", handler, unique_id=unique)


def detach(target: Any) -> None:
    """Undo :func:`attach`: ``target``'s calls go to the real endpoints again."""
    events = _emitter(target)
    for service in SERVICES:
        events.unregister(f"before-send.{service}", unique_id=_UNIQUE.format(service))
