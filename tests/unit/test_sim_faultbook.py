"""FaultBook decisions: targeting, nth, times, windows, token bucket, probability."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drsorch.sim.faults import Fault, FaultBook, FaultKind

pytestmark = pytest.mark.unit


def _fires(book: FaultBook, op: str = "DescribeJobs", now: float = 0.0, **params: object) -> bool:
    return book.for_request("drs", op, dict(params), now, "before") is not None


def test_operation_service_and_server_targeting() -> None:
    book = FaultBook(faults=[Fault(kind="throttle", operation="StartRecovery", service="drs")])
    assert _fires(book, "StartRecovery")
    assert not _fires(book, "DescribeJobs")
    assert book.for_request("ec2", "StartRecovery", {}, 0.0, "before") is None

    book = FaultBook(faults=[Fault(kind="internal_error", server_id="s-1")])
    assert _fires(book, filters={"sourceServerIDs": ["s-2", "s-1"]})
    assert not _fires(book, filters={"sourceServerIDs": ["s-2"]})


def test_nth_and_times() -> None:
    book = FaultBook(faults=[Fault(kind="throttle", nth=3)])
    assert [_fires(book) for _ in range(5)] == [False, False, True, False, False]
    book = FaultBook(faults=[Fault(kind="throttle", times=2)])
    assert [_fires(book) for _ in range(4)] == [True, True, False, False]
    fault = next(iter(book))
    assert book.fired(fault) == 2


def test_window_is_relative_to_the_region_start() -> None:
    book = FaultBook(start=1000.0, faults=[Fault(kind="throttle", after=60, before=120)])
    assert [_fires(book, now=t) for t in (1000, 1059, 1060, 1119, 1120)] == [
        False,
        False,
        True,
        True,
        False,
    ]


def test_token_bucket_refills_with_time() -> None:
    book = FaultBook(faults=[Fault(kind="throttle", rate=2.0, burst=3)])
    assert [_fires(book, now=0.0) for _ in range(4)] == [False, False, False, True]
    assert not _fires(book, now=0.5)  # one token back
    assert _fires(book, now=0.5)


def test_probability_is_seeded() -> None:
    def run(seed: int) -> list[bool]:
        book = FaultBook(seed=seed, faults=[Fault(kind="throttle", probability=0.3)])
        return [_fires(book) for _ in range(200)]

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert 20 < sum(run(1)) < 100


def test_phase_after_only_fires_after() -> None:
    book = FaultBook(faults=[Fault(kind="read_timeout", phase="after")])
    assert book.for_request("drs", "StartRecovery", {}, 0, "before") is None
    assert book.for_request("drs", "StartRecovery", {}, 0, "after") is not None


def test_model_faults_per_launch_and_per_job() -> None:
    book = FaultBook(
        faults=[
            Fault(kind="launch_failure", server_id="s-a"),
            Fault(kind="impaired", nth=2),
            Fault(kind="unknown_job_status", server_id="s-b"),
        ]
    )
    assert [f.kind for f in book.for_launch("s-a", 1, 0)] == [FaultKind.LAUNCH_FAILURE]
    assert [f.kind for f in book.for_launch("s-b", 1, 0)] == [FaultKind.IMPAIRED]
    assert book.for_launch("s-c", 1, 0) == []
    assert book.for_job("drsjob-1", ["s-a"], 0) is None
    assert book.for_job("drsjob-2", ["s-a", "s-b"], 0) is not None
    # request faults never fire on launches and vice versa
    assert book.for_request("drs", "DescribeJobs", {}, 0, "before") is None


def test_add_remove_clear() -> None:
    book = FaultBook()
    fault = book.add(Fault(kind="throttle"))
    assert len(book) == 1 and _fires(book)
    book.remove(fault)
    assert not _fires(book)
    book.add(Fault(kind="throttle"))
    book.clear()
    assert len(book) == 0


def test_inconsistent_faults_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Fault(kind="internal_error", rate=1.0)
    with pytest.raises(ValidationError):
        Fault(kind="throttle", phase="after")
    with pytest.raises(ValidationError):
        Fault(kind="throttle", after=10, before=5)
    with pytest.raises(ValidationError):
        Fault(kind="melted")  # type: ignore[arg-type]
