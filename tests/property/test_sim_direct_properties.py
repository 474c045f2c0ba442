"""The direct transport's answers are botocore's parse of the wire's (issue 12, item 3).

For every DRS and EC2 operation the simulator answers, random payloads drawn from the
operation's output shape (every member optional, empty and one-item lists, odd types now
and then: numbers where strings are modelled, strings with carriage returns and characters
XML cannot carry, None values) are turned into a parsed response twice: by
:func:`drsorch.sim.direct.converter`, and by encoding them as the simulator's wire does
(JSON, or :func:`~drsorch.sim.shapes.encode_xml`) and parsing that with botocore's own
parser (:func:`~drsorch.sim.direct.parse_wire`). Both must be identical, value and type,
or both raise the same exception.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.model import Shape
from botocore.parsers import ResponseParserFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drsorch.sim import drs_api, ec2_api
from drsorch.sim.direct import _http, converter, parse_wire, same
from drsorch.sim.shapes import encode_xml, service_model

pytestmark = pytest.mark.timeout(300)

OPERATIONS = [("drs", op) for op in sorted(drs_api.HANDLERS)] + [
    ("ec2", op) for op in sorted(ec2_api.HANDLERS)
]
REQUEST_ID = "8f1b0a52-37a4-4f4c-9b1e-0c1d2e3f4a5b"
FACTORY = ResponseParserFactory()

_TEXT = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=4),
        st.sampled_from(["\r", "\r\n", "\x00", "\x1f", "\ufffe", "&", "<", "]]>", " "]),
    ),
    max_size=4,
).map("".join)


def _odd(shape: Shape) -> st.SearchStrategy[Any]:
    """A value of another type than the model says (the converter must fall back)."""
    return st.one_of(st.integers(-5, 5), st.booleans(), st.floats(-10, 10), _TEXT, st.none())


def _scalar(shape: Shape) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "string":
        if shape.enum:
            return st.sampled_from(shape.enum)
        return _TEXT
    if kind in ("integer", "long"):
        return st.integers(-(2**40), 2**40)
    if kind == "boolean":
        return st.booleans()
    if kind in ("float", "double"):
        return st.one_of(st.floats(-1e9, 1e9), st.integers(-1000, 1000))
    if kind == "timestamp":
        return st.one_of(
            st.floats(0, 4e9), st.integers(0, 4_000_000_000), st.just("2025-11-25T11:26:40Z")
        )
    return st.binary(max_size=8)


def values(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Payload values of ``shape``, nested at most 4 deep."""
    kind = shape.type_name
    if kind == "structure":
        if depth >= 4:
            return st.just({})
        members = list(shape.members.items())
        return st.lists(st.sampled_from(members), max_size=6, unique_by=lambda m: m[0]).flatmap(
            lambda chosen: st.fixed_dictionaries(
                {name: values(member, depth + 1) for name, member in chosen}
            )
        )
    if kind == "list":
        if depth >= 4:
            return st.just([])
        return st.lists(values(shape.member, depth + 1), max_size=2)
    if kind == "map":
        if depth >= 4:
            return st.just({})
        return st.dictionaries(_TEXT, values(shape.value, depth + 1), max_size=2)
    return st.one_of(_scalar(shape), _scalar(shape), _scalar(shape), _odd(shape))


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:  # the same failure on both sides is agreement too
        return "raised", type(exc).__name__


def _wire(service: str, operation: str, payload: dict[str, Any]) -> tuple[int, dict, bytes]:
    model = service_model(service).operation_model(operation)
    if service == "drs":
        status = int(model.http.get("responseCode", 200))
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": REQUEST_ID}
        return status, headers, json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "text/xml;charset=UTF-8", "x-amzn-RequestId": REQUEST_ID}
    body = encode_xml(model.output_shape, payload, f"{operation}Response", REQUEST_ID)
    return 200, headers, body


@pytest.mark.parametrize(("service", "operation"), OPERATIONS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_direct_answers_are_botocores_parse_of_the_wire(
    service: str, operation: str, data: st.DataObject
) -> None:
    model = service_model(service).operation_model(operation)
    parser = FACTORY.create_parser(model.service_model.resolved_protocol)
    convert = converter(model, parser)
    assert convert is not None, f"{service} {operation} is not converted directly"
    shape = model.output_shape
    payload = data.draw(values(shape) if shape is not None else st.just({}), label="payload")

    def reference() -> Any:
        status, headers, body = _wire(service, operation, payload)
        return parse_wire(_http("https://sim", status, headers, lambda: body), model, FACTORY)

    def direct() -> Any:
        status, headers, _ = _wire(service, operation, {})
        return convert(payload, status, headers)

    wire, fast = _outcome(reference), _outcome(direct)
    if wire[0] == "raised" or fast[0] == "raised":
        assert fast == wire
        return
    problem = same(fast[1], wire[1])
    assert problem is None, problem


def test_same_tells_types_apart() -> None:
    assert same({"a": [1, "x"]}, {"a": [1, "x"]}) is None
    assert same({"a": 1}, {"a": True}) is not None
    assert same({"a": 1}, {"a": 1.0}) is not None
    assert same({"a": 1, "b": 2}, {"b": 2, "a": 1}) is not None  # key order, as parsed
    assert same([1], [1, 2]) is not None
