"""Scripted faults of the simulated region (issue 3, point 6).

A :class:`Fault` says *what* goes wrong and *when*. Two families:

- request faults (``throttle``, ``internal_error``, ``connection_reset``, ``read_timeout``,
  ``endpoint_unreachable``, ``expired_credentials``, ``access_denied``) act on one API call
  (DRS, EC2 or STS), before or after the simulator processes it;
- model faults (``launch_failure``, ``stuck_pending``, ``impaired``, ``unknown_job_status``)
  change what happens to a server or a job; they are decided when a job is created.

Targeting: ``service``, ``operation``, ``account`` (the account whose credentials signed the
call, or whose server launches), ``server_id`` (a request naming that server, or that
server's launch), a window of simulated seconds since the region started (``after`` /
``before``), the ``nth`` matching call or launch, at most ``times`` firings, a
``probability`` drawn from a seeded stream, and for throttling a token-bucket ``rate``.
:class:`FaultBook` holds the faults of a region and decides which one fires.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drsorch.sim.timing import stable_rng


class FaultKind(StrEnum):
    THROTTLE = "throttle"  # 429 ThrottlingException (EC2: 503 RequestLimitExceeded)
    INTERNAL_ERROR = "internal_error"  # 500 InternalServerException (EC2: InternalError)
    CONNECTION_RESET = "connection_reset"  # the connection drops; no response
    READ_TIMEOUT = "read_timeout"  # no response in time (over HTTP: a dropped connection)
    ENDPOINT_UNREACHABLE = "endpoint_unreachable"  # no connection at all (HTTP: dropped)
    EXPIRED_CREDENTIALS = "expired_credentials"  # 403 ExpiredTokenException (EC2: RequestExpired)
    ACCESS_DENIED = "access_denied"  # 403 AccessDeniedException (EC2: UnauthorizedOperation)
    LAUNCH_FAILURE = "launch_failure"  # the server's launch ends FAILED with a rawError
    STUCK_PENDING = "stuck_pending"  # the recovery EC2 instance never leaves `pending`
    IMPAIRED = "impaired"  # the instance runs but its status checks end `impaired`
    UNKNOWN_JOB_STATUS = "unknown_job_status"  # DescribeJobs shows a status DRS never documented


REQUEST_FAULTS = frozenset(
    {
        FaultKind.THROTTLE,
        FaultKind.INTERNAL_ERROR,
        FaultKind.CONNECTION_RESET,
        FaultKind.READ_TIMEOUT,
        FaultKind.ENDPOINT_UNREACHABLE,
        FaultKind.EXPIRED_CREDENTIALS,
        FaultKind.ACCESS_DENIED,
    }
)
SERVER_FAULTS = frozenset({FaultKind.LAUNCH_FAILURE, FaultKind.STUCK_PENDING, FaultKind.IMPAIRED})

#: The kinds as plain strings, so ``Fault(kind="throttle")`` type-checks too.
FaultKindName = Literal[
    "throttle",
    "internal_error",
    "connection_reset",
    "read_timeout",
    "endpoint_unreachable",
    "expired_credentials",
    "access_denied",
    "launch_failure",
    "stuck_pending",
    "impaired",
    "unknown_job_status",
]


class Fault(BaseModel):
    """One scripted fault. Unset targeting fields match everything."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind | FaultKindName  # always a FaultKind once validated
    service: Literal["drs", "ec2", "sts"] | None = None
    operation: str | None = None  # e.g. "StartRecovery", "DescribeInstanceStatus", "AssumeRole"
    account: str | None = Field(default=None, pattern=r"^[0-9]{12}$")  # whose call or launch
    server_id: str | None = None  # source server id (model faults) or any id in the request
    after: float | None = Field(default=None, ge=0)  # window start, seconds since region start
    before: float | None = Field(default=None, ge=0)  # window end (exclusive)
    nth: int | None = Field(default=None, ge=1)  # only the n-th matching call / launch
    times: int | None = Field(default=None, ge=1)  # fire at most this many times
    probability: float = Field(default=1.0, ge=0, le=1)
    # request faults
    phase: Literal["before", "after"] = "before"  # after = processed, then the answer is lost
    rate: float | None = Field(default=None, gt=0)  # throttle: token-bucket refill per second
    burst: float = Field(default=1.0, ge=1)  # throttle: bucket size
    retry_after: int | None = Field(default=None, ge=0)  # Retry-After header, seconds
    message: str | None = None
    # model faults
    raw_error: str = "Failed to launch recovery instance: simulated launch failure"
    checks: Literal["instance", "system", "both"] = "instance"  # impaired: which checks fail
    status: str = "SUSPENDED"  # unknown_job_status: the value DescribeJobs shows
    sticky: bool = False  # unknown_job_status: keep showing it after the job completed

    @field_validator("kind")
    @classmethod
    def _as_enum(cls, value: str) -> FaultKind:
        return FaultKind(value)

    @field_validator("account", mode="before")
    @classmethod
    def _quoted_account(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError('write account ids as 12-digit strings in quotes, e.g. "111111111111"')
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Fault:
        if self.after is not None and self.before is not None and self.before <= self.after:
            raise ValueError("before must be later than after")
        if self.rate is not None and self.kind != FaultKind.THROTTLE:
            raise ValueError("rate applies only to throttle faults")
        if self.phase == "after" and self.kind not in (
            FaultKind.CONNECTION_RESET,
            FaultKind.READ_TIMEOUT,
            FaultKind.INTERNAL_ERROR,
        ):
            raise ValueError(
                "phase 'after' applies to connection_reset, read_timeout, internal_error"
            )
        return self

    @property
    def is_request_fault(self) -> bool:
        return self.kind in REQUEST_FAULTS


@dataclass
class _FaultState:
    """Counters of one fault: matching calls seen, firings, token bucket."""

    fault: Fault
    index: int
    seen: int = 0
    fired: int = 0
    tokens: float = 0.0
    refilled_at: float | None = None
    matched_ids: set[str] = field(default_factory=set)


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a request's parameters (to match ``server_id``)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


class FaultBook:
    """The faults of one region, with the counters that make ``nth``/``times``/``rate`` work.

    Decisions are deterministic: probabilities of request faults come from one seeded
    stream consumed in call order; those of model faults from a stream per (fault, server,
    launch number), so one server's fate never depends on another's.
    """

    def __init__(self, seed: int = 0, start: float = 0.0, faults: Iterable[Fault] = ()) -> None:
        self._seed = seed
        self._start = start
        self._states: list[_FaultState] = []
        self._rng = stable_rng(seed, "request-faults")
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> Fault:
        """Script one more fault; returns it (pass it to :meth:`remove` to lift it)."""
        state = _FaultState(fault=fault, index=len(self._states), tokens=fault.burst)
        self._states.append(state)
        return fault

    def remove(self, fault: Fault) -> None:
        self._states = [s for s in self._states if s.fault is not fault]

    def clear(self) -> None:
        self._states.clear()

    def __iter__(self) -> Iterator[Fault]:
        return iter([s.fault for s in self._states])

    def __len__(self) -> int:
        return len(self._states)

    def fired(self, fault: Fault) -> int:
        """How many times ``fault`` has fired."""
        return next((s.fired for s in self._states if s.fault is fault), 0)

    def _in_window(self, fault: Fault, now: float) -> bool:
        elapsed = now - self._start
        if fault.after is not None and elapsed < fault.after:
            return False
        return not (fault.before is not None and elapsed >= fault.before)

    def _admit(self, state: _FaultState, draw: float) -> bool:
        """Apply nth/times/probability to a call or launch that matched the targeting."""
        fault = state.fault
        state.seen += 1
        if fault.nth is not None and state.seen != fault.nth:
            return False
        if fault.times is not None and state.fired >= fault.times:
            return False
        return draw < fault.probability

    def _bucket_empty(self, state: _FaultState, now: float) -> bool:
        fault = state.fault
        assert fault.rate is not None
        if state.refilled_at is not None:
            state.tokens = min(fault.burst, state.tokens + (now - state.refilled_at) * fault.rate)
        state.refilled_at = now
        if state.tokens >= 1.0:
            state.tokens -= 1.0
            return False
        return True

    def for_request(
        self,
        service: str,
        operation: str,
        params: dict[str, Any],
        now: float,
        phase: str,
        account: str | None = None,
    ) -> Fault | None:
        """The request fault that fires for this call in ``phase``, if any (``account``:
        the account whose credentials signed it)."""
        ids: set[str] | None = None
        winner: Fault | None = None
        for state in self._states:
            fault = state.fault
            if not fault.is_request_fault or fault.phase != phase:
                continue
            if fault.service is not None and fault.service != service:
                continue
            if fault.operation is not None and fault.operation != operation:
                continue
            if fault.account is not None and fault.account != account:
                continue
            if not self._in_window(fault, now):
                continue
            if fault.server_id is not None:
                if ids is None:
                    ids = set(_strings(params))
                if fault.server_id not in ids:
                    continue
            # with a rate, only an empty bucket throttles; nth/times/probability narrow it down
            if fault.rate is not None and not self._bucket_empty(state, now):
                continue
            draw = self._rng.random() if fault.probability < 1.0 else 0.0
            # every matching fault counts the call (so nth means the n-th call it matched),
            # and the first one that fires wins
            if self._admit(state, draw) and winner is None:
                state.fired += 1
                winner = fault
        return winner

    def for_launch(
        self, server_id: str, launch_number: int, now: float, account: str | None = None
    ) -> list[Fault]:
        """The model faults that fire for this server's launch (at most one per kind)."""
        fired: list[Fault] = []
        kinds: set[FaultKind] = set()
        for state in self._states:
            fault = state.fault
            if fault.kind not in SERVER_FAULTS or fault.kind in kinds:
                continue
            if fault.account is not None and fault.account != account:
                continue
            if fault.server_id is not None and fault.server_id != server_id:
                continue
            if not self._in_window(fault, now):
                continue
            rng = stable_rng(self._seed, "fault", state.index, server_id, launch_number)
            if self._admit(state, rng.random()):
                state.fired += 1
                kinds.add(FaultKind(fault.kind))
                fired.append(fault)
        return fired

    def for_job(
        self, job_id: str, server_ids: Iterable[str], now: float, account: str | None = None
    ) -> Fault | None:
        """The ``unknown_job_status`` fault for a new launch job, if one fires."""
        members: set[str] | None = None
        for state in self._states:
            fault = state.fault
            if fault.kind != FaultKind.UNKNOWN_JOB_STATUS:
                continue
            if fault.account is not None and fault.account != account:
                continue
            if fault.server_id is not None:
                if members is None:
                    members = set(server_ids)
                if fault.server_id not in members:
                    continue
            if not self._in_window(fault, now):
                continue
            rng = stable_rng(self._seed, "fault", state.index, job_id)
            if self._admit(state, rng.random()):
                state.fired += 1
                return fault
        return None
