"""The simulator's direct transport: the same simulated region, answered at botocore's
``before-call`` event with the response already parsed (issue 12, item 3).

:func:`attach_direct` is for runs where the speed of the simulated world matters
(``drsorch estimate`` runs a plan hundreds of times). The engine, its adapters, retry
policy and error mapping run exactly as with :func:`~drsorch.sim.wire.attach`: through
real boto3 client method calls, whose parameters botocore validates and serializes as
always. What is skipped is below the client API, the way botocore's own ``Stubber``
answers: request signing, the HTTP request object, ``before-send`` and the parsing of an
HTTP body (together some 70 % of a simulated run's time).

For each call the handler

1. reads who signs it from the client's credentials (as botocore's signer would, refreshed
   the same way: an assumed role's credentials are renewed at the same moment), so the
   simulator tells accounts and expired credentials apart as over the wire;
2. hands the request botocore serialized (method, URL, body: the same bytes the wire
   carries) to :func:`~drsorch.sim.wire.answer`, the simulator's one way in: the same
   decoding, credentials check, faults, validation against botocore's model, handler and
   call recording as :func:`~drsorch.sim.wire.dispatch`;
3. answers a successful DRS or EC2 call with the dict botocore's parser would have made of
   the simulator's HTTP encoding of the handler's payload, converted directly from the
   payload (:func:`converter`); every error answer, and every STS answer, is encoded as
   over the wire and parsed by botocore's own parser, so botocore raises the same
   ``ClientError`` with the same parsed body; a dropped connection raises the same
   botocore exception as over the wire.

``verify=True`` also parses the wire encoding of every successful answer with botocore and
raises :class:`DirectMismatch` unless both are identical, values and types (the tests run
whole plans that way). Events the wire path emits after ``before-call`` (``request-created``,
``before-sign``, ``before-send``, ``needs-retry``, ``response-received``, ``before-parse``,
``after-call-error``) are not emitted, as with botocore's Stubber; drsorch's clients make
one attempt (botocore's retries are off) and listen to none of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from drsorch.sim.faults import FaultKind
from drsorch.sim.jsonbody import Encoded
from drsorch.sim.shapes import _xml_value, iso_z
from drsorch.sim.wire import SERVICES, DirectAnswer, Dropped, WireResponse, _emitter, answer

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape

    from drsorch.sim.region import SimRegion

__all__ = ["DirectMismatch", "attach_direct", "converter", "detach_direct", "same"]

_UNIQUE = "drsorch-sim-direct-{}"
_MISSING = object()
_COMPACT = (",", ":")

Convert = Callable[[Any], Any]


class DirectMismatch(AssertionError):
    """``verify=True``: the direct answer differs from botocore's parse of the wire answer."""


# --- who signs --------------------------------------------------------------------------


def _signer(request_signer: Any, context: dict[str, Any]) -> tuple[str | None, str | None]:
    """The access key id and session token the request would be signed with (None, None
    when unsigned), taken as botocore's signer takes them: ``get_frozen_credentials()``
    refreshes expiring credentials. No credentials for a signed request: botocore's own
    ``NoCredentialsError``, as its signer raises."""
    import botocore
    from botocore.exceptions import NoCredentialsError

    version = context.get("auth_type") or request_signer.signature_version
    if version is botocore.UNSIGNED:
        return None, None
    credentials = context.get("signing", {}).get("request_credentials")
    if credentials is None:
        credentials = request_signer._credentials  # what botocore's signer uses
    if credentials is None:
        raise NoCredentialsError()
    frozen = credentials.get_frozen_credentials()
    return frozen.access_key, frozen.token


def _wire_body(data: Any) -> bytes:
    """The body botocore's ``AWSRequestPreparer`` sends for ``request_dict["body"]``: a
    query protocol's dict is form-encoded (UTF-8), bytes and str as they are."""
    if isinstance(data, dict):
        pairs = [(_utf8(key), _utf8(value)) for key, value in data.items()]
        return urlencode(pairs, doseq=True).encode()
    if isinstance(data, str):
        return data.encode()
    if data is None:
        return b""
    if not isinstance(data, bytes):
        return bytes(data.read())
    return data


def _utf8(value: Any) -> Any:
    return value.encode("utf-8") if isinstance(value, str) else value


# --- parsed answers ---------------------------------------------------------------------


class _LazyBody:
    """The raw body of a direct answer's ``AWSResponse``: encoded only if someone reads it
    (an ``after-call`` handler may)."""

    def __init__(self, body: Callable[[], bytes]) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self._body()
        if data:
            yield data


def _http(url: str, status: int, headers: dict[str, str], body: Callable[[], bytes]) -> Any:
    from botocore.awsrequest import AWSResponse

    return AWSResponse(url, status, headers, _LazyBody(body))


def parse_wire(http: Any, model: OperationModel, factory: Any) -> dict[str, Any]:
    """What botocore's endpoint makes of an HTTP response (``_do_get_response``): the parse
    and the modeled error fields of an error (``needs-retry`` handlers and
    ``RetryAttempts`` come after, in :func:`_before_call` as in ``_send_request``)."""
    from botocore.endpoint import convert_to_response_dict

    response_dict = convert_to_response_dict(http, model)
    parser = factory.create_parser(model.service_model.resolved_protocol)
    parsed: dict[str, Any] = parser.parse(response_dict, model.output_shape)
    if http.status_code >= 300:
        code = parsed.get("Error", {}).get("Code")
        error_shape = None if code is None else model.service_model.shape_for_error_code(code)
        if error_shape is not None:
            parsed.update(parser.parse(response_dict, error_shape))
    return parsed


def _metadata(status: int, headers: dict[str, str], request_id: str) -> dict[str, Any]:
    return {
        "RequestId": request_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": {key.lower(): value for key, value in headers.items()},
    }


class _Converters:
    """Payload-to-parsed converters of one parser factory, per operation (compiled once)."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.parsers: dict[str, Any] = {}
        self.ops: dict[tuple[str, str, str], Callable[..., Any] | None] = {}

    def parser(self, protocol: str) -> Any:
        parser = self.parsers.get(protocol)
        if parser is None:
            parser = self.parsers[protocol] = self.factory.create_parser(protocol)
        return parser

    def for_operation(self, model: OperationModel) -> Callable[..., Any] | None:
        service = model.service_model
        key = (service.service_name, service.api_version, model.name)
        if key not in self.ops:
            self.ops[key] = converter(model, self.parser(service.resolved_protocol))
        return self.ops[key]


def converter(model: OperationModel, parser: Any) -> Callable[..., Any] | None:
    """``convert(payload, status, headers)``: the dict botocore's ``parser`` makes of the
    simulator's HTTP encoding of a successful answer ``payload`` of ``model`` (rest-json:
    the JSON body; ec2: :func:`~drsorch.sim.shapes.encode_xml`'s document), without the
    encoding; None for an operation it does not cover (its answers are parsed from the
    wire). Values of unexpected types fall back, per value, to botocore's parse of their
    encoding, so the result is botocore's whatever the payload holds."""
    protocol = model.service_model.resolved_protocol
    shape = model.output_shape
    if protocol == "rest-json":
        if shape is not None and (
            "payload" in shape.serialization
            or any("location" in m.serialization for m in shape.members.values())
        ):
            return None
        top = _compile(shape, parser, _json_node, {}) if shape is not None else None

        def rest_json(payload: dict[str, Any], status: int, headers: dict[str, str]) -> Any:
            parsed: dict[str, Any] = {"ResponseMetadata": {}}
            if top is not None:
                parsed.update(top(payload))
            parsed["ResponseMetadata"] = _metadata(status, headers, headers["x-amzn-RequestId"])
            return parsed

        return rest_json
    if protocol == "ec2":
        if shape is not None and any(
            _xml_name(m, name) == "requestId" for name, m in shape.members.items()
        ):
            return None
        top = _compile(shape, parser, _xml_node, {}) if shape is not None else None

        def ec2(payload: dict[str, Any], status: int, headers: dict[str, str]) -> Any:
            parsed: dict[str, Any] = {} if top is None else top(payload)
            parsed["ResponseMetadata"] = _metadata(status, headers, headers["x-amzn-RequestId"])
            return parsed

        return ec2
    return None


# A node compiler: (shape, parser, compile-a-child) -> converter of a value of that shape.
_NodeCompiler = Callable[[Any, Any, Callable[[Any], Convert]], Convert]


def _compile(shape: Shape, parser: Any, node: _NodeCompiler, memo: dict[str, Convert]) -> Convert:
    """A converter of ``shape``'s values; recursive shapes are compiled once (by name)."""
    if shape.name in memo:
        return memo[shape.name]
    cell: list[Convert] = []
    memo[shape.name] = lambda value: cell[0](value)
    compiled = node(shape, parser, lambda child: _compile(child, parser, node, memo))
    cell.append(compiled)
    memo[shape.name] = compiled
    return compiled


class _Never:
    """No value is of this type: members whose values are never kept as they are."""


#: The values a converter keeps as they are, by shape type: a JSON or XML round trip and
#: botocore's parse give back an equal value of the same exact type. Structures inline
#: this test rather than call the member's converter (most members are such scalars).
_KEPT_JSON = {"string": str, "integer": int, "long": int, "boolean": bool, "float": float}
_KEPT_JSON["double"] = float
_KEPT_XML = {"integer": int, "long": int, "boolean": bool, "float": float, "double": float}


def _kept(shape: Any, kept: dict[str, type]) -> type:
    return kept.get(shape.type_name, _Never)


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value, separators=_COMPACT))


def _json_node(shape: Any, parser: Any, child: Callable[[Any], Convert]) -> Convert:
    """rest-json: botocore's parse of ``json.loads(json.dumps(value))``."""

    def reference(value: Any) -> Any:
        return parser._parse_shape(shape, _json_roundtrip(value))

    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type or shape.is_tagged_union:
            return reference
        members = [
            (name, m.serialization.get("name", name), _kept(m, _KEPT_JSON), child(m))
            for name, m in shape.members.items()
        ]

        def structure(value: Any) -> Any:
            if type(value) is not dict:
                return reference(value)
            out = {}
            get = value.get
            for name, wire_name, kept, convert in members:
                raw = get(wire_name)
                if raw is not None:
                    out[name] = raw if type(raw) is kept else convert(raw)
            return out

        return structure
    if kind == "list":
        item, kept = child(shape.member), _kept(shape.member, _KEPT_JSON)

        def items(value: Any) -> Any:
            of = type(value)  # participatingServers is Encoded (drsorch.sim.jsonbody)
            if of is not list and of is not tuple and of is not Encoded:
                return reference(value)
            return [v if type(v) is kept else None if v is None else item(v) for v in value]

        return items
    if kind == "map":
        key, val = child(shape.key), child(shape.value)

        def entries(value: Any) -> Any:
            if type(value) is not dict or any(type(k) is not str for k in value):
                return reference(value)
            return {key(k): val(v) for k, v in value.items()}

        return entries
    if kind == "string":
        return lambda value: value if type(value) is str else reference(value)
    if kind in ("integer", "long"):
        return lambda value: value if type(value) is int else reference(value)
    if kind == "boolean":
        return lambda value: value if type(value) is bool else reference(value)
    if kind in ("float", "double"):

        def number(value: Any) -> Any:
            if type(value) is float:
                return value
            return float(value) if type(value) is int else reference(value)

        return number
    if kind == "timestamp":
        handle = parser._handle_timestamp

        def timestamp(value: Any) -> Any:
            if type(value) is str or type(value) is int or type(value) is float:
                return handle(shape, value)
            return reference(value)

        return timestamp
    return reference


def _xml_name(member: Any, name: str) -> str:
    return str(member.serialization.get("name", name))


#: Strings an XML round trip changes: characters XML cannot carry (the encoder replaces
#: them) and carriage returns (XML parsers turn them into line feeds).
_XML_CHANGES = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_node(shape: Any, parser: Any, child: Callable[[Any], Convert]) -> Convert:
    """ec2: botocore's parse of the element :func:`~drsorch.sim.shapes.encode_xml` writes."""

    def reference(value: Any) -> Any:
        document = f"<x>{_xml_value(shape, value)}</x>".encode()
        element = parser._parse_xml_string_to_dom(document)
        return parser._parse_shape(shape, element)

    kind = shape.type_name
    if kind == "structure":
        members = [(name, _kept(m, _KEPT_XML), child(m)) for name, m in shape.members.items()]
        names = [_xml_name(m, name) for name, m in shape.members.items()]
        special = (
            shape.is_tagged_union
            or shape.metadata.get("exception", False)
            or len(set(names)) != len(names)
            or any(
                m.serialization.get("xmlAttribute")
                or m.serialization.get("flattened")
                or m.serialization.get("location")
                for m in shape.members.values()
            )
        )
        if special:
            return reference

        def structure(value: Any) -> Any:
            if type(value) is not dict:
                return reference(value)
            out = {}
            seen = 0
            get = value.get
            for name, kept, convert in members:
                raw = get(name, _MISSING)
                if raw is _MISSING:
                    continue
                seen += 1
                if raw is not None:
                    out[name] = raw if type(raw) is kept else convert(raw)
            if seen != len(value):  # a member the model lacks: as the encoder takes it
                return reference(value)
            return out

        return structure
    if kind == "list":
        if shape.serialization.get("flattened"):
            return reference
        item = child(shape.member)

        def items(value: Any) -> Any:
            if type(value) is not list and type(value) is not tuple:
                return reference(value)
            if any(v is None for v in value):
                return reference(value)
            return [item(v) for v in value]

        return items
    if kind == "string":

        def string(value: Any) -> Any:
            if type(value) is str and not _XML_CHANGES.search(value):
                return value
            return reference(value)

        return string
    if kind in ("integer", "long"):
        return lambda value: value if type(value) is int else reference(value)
    if kind == "boolean":
        return lambda value: bool(value)
    if kind in ("float", "double"):

        def number(value: Any) -> Any:
            if type(value) is float or type(value) is int:
                return float(value)
            return reference(value)

        return number
    if kind == "timestamp":
        handle = parser._handle_timestamp

        def timestamp(value: Any) -> Any:
            return handle(shape, iso_z(float(value)))

        return timestamp
    return reference


# --- types-exact comparison ---------------------------------------------------------------


def same(a: Any, b: Any, path: str = "") -> str | None:
    """Where ``a`` and ``b`` differ in value or type (``1 == True == 1.0`` and datetimes in
    different zones compare equal with ``==``), or None when they do not."""
    if type(a) is not type(b):
        return f"{path or '.'}: {type(a).__name__} {a!r} != {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path or '.'}: keys {list(a)} != {list(b)}"
        for key in a:
            found = same(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path or '.'}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = same(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, datetime) and (
        a != b or a.tzinfo != b.tzinfo or a.utcoffset() != b.utcoffset()
    ):
        return f"{path or '.'}: {a!r} != {b!r}"
    if a != b and not (isinstance(a, float) and a != a and b != b):  # NaN is itself
        return f"{path or '.'}: {a!r} != {b!r}"
    return None


# --- attaching --------------------------------------------------------------------------


def _before_call(
    region: SimRegion,
    client: Any,
    converters: _Converters,
    verify: bool,
    model: OperationModel,
    params: dict[str, Any],
    request_signer: Any,
    context: dict[str, Any],
    **_: Any,
) -> tuple[Any, dict[str, Any]]:
    """Botocore's ``Endpoint._send_request`` with the simulator for HTTP: attempts until
    the client's ``needs-retry`` handlers (its retry mode; drsorch's clients make one
    attempt) are done, ``RetryAttempts``, then the answer or the exception. The attempt
    bookkeeping and retry decision are the endpoint's own methods."""
    endpoint = client._endpoint
    try:
        attempts = 1
        endpoint._update_retries_context(context, attempts)
        success, exception = _attempt(region, converters, verify, model, params, request_signer)
        while endpoint._needs_retry(attempts, model, params, success, exception):
            attempts += 1
            endpoint._update_retries_context(context, attempts, success)
            success, exception = _attempt(region, converters, verify, model, params, request_signer)
        if success is not None and "ResponseMetadata" in success[1]:
            success[1]["ResponseMetadata"]["RetryAttempts"] = attempts - 1
        if exception is not None:
            raise exception
    except Exception as exc:  # as botocore's BaseClient._make_request tells of it
        service_id = model.service_model.service_id.hyphenize()
        client.meta.events.emit(
            f"after-call-error.{service_id}.{model.name}", exception=exc, context=context
        )
        raise
    assert success is not None
    return success


def _attempt(
    region: SimRegion,
    converters: _Converters,
    verify: bool,
    model: OperationModel,
    params: dict[str, Any],
    request_signer: Any,
) -> tuple[tuple[Any, dict[str, Any]] | None, Exception | None]:
    """One request: ``((http_response, parsed), None)`` or ``(None, exception)``, as
    botocore's ``Endpoint._do_get_response`` returns them."""
    from botocore.exceptions import (
        ConnectionClosedError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    key, token = _signer(request_signer, params["context"])  # raises as the signer would
    url = params["url"]
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    convert = converters.for_operation(model)

    def to_parsed(
        service: str,
        operation: str,
        payload: dict[str, Any],
        status: int,
        headers: dict[str, str],
        wire: Callable[[], WireResponse],
    ) -> Any:
        if convert is None:
            return None
        parsed = convert(payload, status, headers)
        if verify:
            reference = parse_wire(
                _http(url, status, headers, lambda: wire().body), model, converters.factory
            )
            problem = same(parsed, reference)
            if problem:
                raise DirectMismatch(f"{service} {operation}: direct != wire at {problem}")
        return parsed

    body = _wire_body(params["body"])
    result = answer(region, params["method"], path, body, key, token, to_parsed)
    if isinstance(result, Dropped):
        if result.kind == FaultKind.READ_TIMEOUT.value:
            return None, ReadTimeoutError(endpoint_url=url)
        if result.kind == FaultKind.ENDPOINT_UNREACHABLE.value:
            return None, EndpointConnectionError(endpoint_url=url)
        return None, ConnectionClosedError(endpoint_url=url)
    if isinstance(result, DirectAnswer) and result.parsed is not None:
        wire = result.wire
        return (_http(url, result.status, result.headers, lambda: wire().body), result.parsed), None
    response = result.wire() if isinstance(result, DirectAnswer) else result
    http = _http(url, response.status, response.headers, lambda: response.body)
    return (http, parse_wire(http, model, converters.factory)), None


#: Compiled converters per response parser factory (clients of one botocore session share
#: one), kept for the life of the process: a plan's runs attach new regions to the same
#: clients, and compiling EC2's output shapes again each time cost more than converting.
_CONVERTERS: dict[int, tuple[Any, _Converters]] = {}


def _converters(client: Any) -> _Converters:
    endpoint = getattr(client, "_endpoint", None)  # the factory the client parses with
    factory = getattr(endpoint, "_response_parser_factory", None)
    if factory is None:
        from botocore.parsers import ResponseParserFactory

        factory = ResponseParserFactory()
    kept = _CONVERTERS.get(id(factory))
    if kept is None or kept[0] is not factory:
        kept = _CONVERTERS[id(factory)] = (factory, _Converters(factory))
    return kept[1]


def attach_direct(client: Any, region: SimRegion, *, verify: bool = False) -> None:
    """Answer ``client``'s DRS, EC2 and STS calls from ``region`` at ``before-call`` (see the
    module docstring); ``verify`` checks every answer against the wire's. Its
    ``before-send`` hook (:func:`~drsorch.sim.wire.attach`) is pointed at ``region`` too.
    Attaching again replaces the region."""
    from drsorch.sim.wire import attach

    attach(client, region)
    events = _emitter(client)
    converters = _converters(client)

    def handler(**kwargs: Any) -> Any:
        return _before_call(region, client, converters, verify, **kwargs)

    for service in SERVICES:
        unique = _UNIQUE.format(service)
        events.unregister(f"before-call.{service}", unique_id=unique)
        events.register(f"before-call.{service}", handler, unique_id=unique)


def detach_direct(client: Any) -> None:
    """Undo :func:`attach_direct`'s ``before-call`` hook (calls then go over the wire hook,
    if attached, or to AWS)."""
    events = _emitter(client)
    for service in SERVICES:
        events.unregister(f"before-call.{service}", unique_id=_UNIQUE.format(service))
